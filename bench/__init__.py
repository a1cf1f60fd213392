"""The benchmark harness of shingles (outside the wheel and the tests).

Run it from the repository root: ``python -m bench --help``. The generator of
mailings and labelled streams is importable: ``from bench.generator import ...``.
"""
