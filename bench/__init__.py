"""The benchmark harness of shingles (outside the wheel and the tests).

Run it from the repository root: ``python -m bench --help``. The generator of
mailings and labelled streams is importable: ``from bench.generator import ...``.
"""

import importlib.machinery
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _prefer_installed_shingles() -> None:
    """Move the source tree to the end of sys.path when an installed shingles exists.

    ``python -m bench`` puts the repository root first on sys.path, where
    ./shingles has no compiled core unless it was built in place; the package
    installed by ``pip install '.[bench]'`` has it. The root stays on the path
    (last), so ``bench`` itself still imports, in child processes too. Without
    an installed package (a developer's in-place build) nothing changes.
    """
    if "shingles" in sys.modules:
        return
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _ROOT]
    if len(rest) < len(sys.path) and importlib.machinery.PathFinder.find_spec("shingles", rest):
        sys.path[:] = rest + [_ROOT]


_prefer_installed_shingles()
