"""Find and read the real corpora for the benches (never copied into the project).

The corpora live in ../shared/corpus beside the project, or in $SHINGLES_CORPUS.
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import re
import sys
from collections.abc import Iterator

HERE = pathlib.Path(__file__).resolve().parent


def corpus_dir() -> pathlib.Path | None:
    """Return the corpus folder, or None when it is absent."""
    env = os.environ.get("SHINGLES_CORPUS")
    for path in ([pathlib.Path(env)] if env else []) + [HERE.parent.parent / "shared" / "corpus"]:
        if (path / "ham.mbox.gz").exists():
            return path
    return None


def require_corpus() -> pathlib.Path:
    """Return the corpus folder, or exit saying why the bench cannot run."""
    path = corpus_dir()
    if path is None:
        sys.exit("bench: no corpus at ../shared/corpus and $SHINGLES_CORPUS is not set; "
                 "see ../shared/corpus/README.md")
    return path


_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)


def raw_messages(name: str) -> Iterator[bytes]:
    """Yield the raw bytes of each message of <corpus>/<name>.mbox.gz, in order."""
    data = gzip.decompress((require_corpus() / f"{name}.mbox.gz").read_bytes())
    starts = [m.start() for m in _FROM_LINE.finditer(data)]
    for begin, end in zip(starts, starts[1:] + [len(data)]):
        message = data[begin:end]
        yield message[message.index(b"\n") + 1:]  # drop the mbox separator line


def bodies(names: tuple[str, ...] = ("ham", "spam"), quoted: bool = True) -> list[str]:
    """Return the visible body text of every corpus message.

    With quoted=True the quoted replies and signatures that the parser sets apart
    are included (the whole body a recipient sees); with False only the new text,
    which is what the engine fingerprints.
    """
    from shingles.mail.parse import parse

    texts = []
    for name in names:
        for raw in raw_messages(name):
            mail = parse(raw)
            texts.append(f"{mail.text}\n{mail.quoted}" if quoted and mail.quoted else mail.text)
    return texts


def write_results(out: str | os.PathLike[str], results: dict) -> None:  # type: ignore[type-arg]
    """Write results to OUT/results.json (creating OUT) and say where."""
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {folder / 'results.json'}")
