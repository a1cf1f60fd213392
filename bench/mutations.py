"""Mutation check: break the code in ways that once went unnoticed; the tests must fail.

    python bench/mutations.py [--suite] [--only NAME] [--keep]

For each mutation below it copies the tree (compiled modules built in place
included, .git and .venv left out) to a temporary folder, changes one spot of
the copy, and runs the tests that guard it (`--suite`: the whole suite) with
the same interpreter. A mutation is "caught" when pytest fails. The unmutated
copy runs first: if its tests fail, the answers would mean nothing, so it stops.

Targets are found by a code pattern, not a line number (files move and grow):
each mutation names a regular expression, optionally within a function of a
given name, that must occur exactly once in the package. Prints one line per
mutation (caught / MISSED / NOT FOUND) and exits 1 unless every one is caught.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One deliberate bug.

    Attributes:
        name: What the bug does, as the report prints it.
        pattern: Regular expression of the code to change (must match once).
        replacement: What it becomes (re.sub syntax).
        tests: Test files (or node ids) that must catch it.
        function: Only look inside a function or method of this name.
    """

    name: str
    pattern: str
    replacement: str
    tests: tuple[str, ...]
    function: str | None = None


MUTATIONS = (
    Mutation("Stats.merge drops complaints", r"self\.complaints \+= other\.complaints",
             "self.complaints += 0", ("tests/test_store_records.py",), "merge"),
    Mutation("Stats.merge drops traps", r"self\.traps \+= other\.traps",
             "self.traps += 0", ("tests/test_store_records.py",), "merge"),
    Mutation("Stats.merge drops the domain overflow count",
             r"self\.other_domains \+= other\.other_domains \+ ", "self.other_domains += ",
             ("tests/test_store_records.py",), "merge"),
    Mutation("identity.aligned accepts a bare top-level domain", r' and "\." in short', "",
             ("tests/test_senders.py",), "aligned"),
    Mutation("Fingerprint.matches ignores I-Match", r"return [^\n]*self\.imatch[^\n]*",
             "return False", ("tests/test_fingerprint.py",), "matches"),
    Mutation("retention sweep: '<' cutoff becomes '<='", r"\[0\] < cutoff", "[0] <= cutoff",
             ("tests/test_twins.py",), "sweep_step"),
    Mutation("Python split_quoted keeps the attribution line", r"old\.append\(new\.pop\(j\)\)",
             "old.append(new[j])", ("tests/test_twins.py", "tests/test_parse.py"),
             "_split_runs"),
)


def _function_spans(source: str, name: str) -> list[tuple[int, int]]:
    """Return the (start, end) character spans of every function called name in source."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            assert node.end_lineno is not None
            spans.append((starts[node.lineno - 1], starts[node.end_lineno]))
    return spans


def locate(tree: pathlib.Path, mutation: Mutation) -> list[tuple[pathlib.Path, int, int]]:
    """Return every (file, start, end) where the mutation's pattern matches in the package."""
    found = []
    for path in sorted((tree / "shingles").rglob("*.py")):
        source = path.read_text()
        spans = (_function_spans(source, mutation.function) if mutation.function
                 else [(0, len(source))])
        for low, high in spans:
            for match in re.finditer(mutation.pattern, source[low:high]):
                found.append((path, low + match.start(), low + match.end()))
    return found


def copy_tree(into: pathlib.Path) -> pathlib.Path:
    """Copy the working tree (compiled modules included) into a fresh folder."""
    target = into / "tree"
    shutil.copytree(ROOT, target, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "out", "__pycache__", ".hypothesis", ".mypy_cache", "*.egg-info"))
    return target


def run_tests(tree: pathlib.Path, tests: tuple[str, ...]) -> tuple[bool, float, str]:
    """Return (passed, seconds, last lines of output) of pytest on tests in tree."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("HYPOTHESIS_PROFILE", "ci")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           *tests], cwd=tree, env=env, capture_output=True, text=True)
    lines = (done.stdout + done.stderr).strip().splitlines()
    failed = [line.split(" - ")[0] for line in lines if line.startswith(("FAILED", "ERROR"))]
    tail = failed[0] if failed else "\n".join(lines[-3:])
    return done.returncode == 0, time.perf_counter() - started, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="store_true", help="run the whole suite per mutation")
    parser.add_argument("--only", help="run the mutations whose name contains this")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or args.only.lower() in m.name.lower()]
    import shingles

    print(f"mutations of {ROOT.name} (shingles backend {shingles.BACKEND}; "
          f"{'whole suite' if args.suite else 'guarding tests'} per mutation)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="shingles-mutants.") as scratch:
        tree = copy_tree(pathlib.Path(scratch))
        every = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        ok, seconds, tail = run_tests(tree, ("tests",) if args.suite else every)
        if not ok:
            print(f"the unmutated tree fails its tests ({seconds:.0f} s):\n{tail}")
            return 2
        print(f"{'unmutated tree':55} passes     {seconds:5.1f} s")
        missed = 0
        for mutation in chosen:
            spots = locate(tree, mutation)
            if len(spots) != 1:
                print(f"{mutation.name:55} NOT FOUND  ({len(spots)} matches of "
                      f"{mutation.pattern!r})")
                missed += 1
                continue
            path, start, end = spots[0]
            original = path.read_text()
            changed = (original[:start]
                       + re.sub(mutation.pattern, mutation.replacement, original[start:end])
                       + original[end:])
            path.write_text(changed)
            try:
                ok, seconds, tail = run_tests(tree, ("tests",) if args.suite else mutation.tests)
            finally:
                path.write_text(original)
            where = path.relative_to(tree)
            print(f"{mutation.name:55} {'MISSED' if ok else 'caught':10} {seconds:5.1f} s  "
                  f"({where}){'' if ok else ' by ' + tail}")
            missed += ok
    print(f"{len(chosen) - missed} of {len(chosen)} mutations caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
