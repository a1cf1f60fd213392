"""Every compiled piece and its plain-Python twin, run on the same corpus and boundary inputs.

One fixture, `twin`, goes over the pairs (shingles._core, shingles._mime,
shingles._store against their Python twins). For each pair the boundary examples
carry the answer they must give, so the Python twin is held to them even on a
pure-Python build; where the compiled twin is built it must give the same on
those and on inputs drawn from every corpus message. A compiled twin that may
decline (None: "not the common form, the Python twin decides") must still
answer most of the corpus, so a twin that declines everything fails.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import struct
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import shingles
from shingles import fingerprint
from shingles._lean import lean
from shingles.config import DEFAULT_CONFIG
from shingles.mail import headers, htmlscan, quoting, senders
from shingles.mail.parse import _std_tree, parse
from shingles.mail.read import read_raw
from shingles.mail.records import MailError
from shingles.store.layout import pack_index

from .conftest import corpus_dir  # type: ignore[import-not-found]  # tests is no package


@dataclasses.dataclass(frozen=True)
class Twin:
    """A compiled function, its Python twin, and inputs with the answers they must give.

    Attributes:
        compiled: The compiled function, or None on a pure-Python build.
        python: The plain-Python twin.
        boundary: (input, expected answer) pairs; Ellipsis: "equal to the twin" only.
        corpus: Which corpus inputs it takes (a key of the `corpus_inputs` fixture).
        declines: Whether the compiled twin may return None for the Python one to decide.
    """

    compiled: Callable[[Any], Any] | None
    python: Callable[[Any], Any]
    boundary: tuple[tuple[Any, Any], ...]
    corpus: str
    declines: bool = False


def _attr(name: str) -> Callable[[Any], Any] | None:
    return getattr(lean, name) if lean is not None else None


def _lean_split(raw: bytes) -> Any:
    assert lean is not None
    return lean.split(raw, DEFAULT_CONFIG.limits.max_depth)


def _fp_cython(text: str) -> Any:
    return fingerprint(text, backend="cython")


def _fp_python(text: str) -> Any:
    return fingerprint(text, backend="python")


ATTRIBUTED = ("Fine by me.\n\nOn Mon, 2 Mar 2026, Bob wrote:\n\n> Lunch at noon?\n> Bring it.\n"
              "\nSee you.\n-- \nAlice\n")
EDT = timezone(timedelta(hours=-4))

TWINS: dict[str, Twin] = {
    "fingerprint": Twin(
        _fp_cython if shingles.BACKEND == "cython" else None, _fp_python,
        (("", ...), ("word " * 40, ...), ("ﬁnance Straße пaypal ٤٥٦ " * 20, ...)), "texts"),
    "split_quoted": Twin(_attr("split_quoted"), quoting.split_quoted_py, (
        (ATTRIBUTED, ("Fine by me.\n\nSee you.",
                      "On Mon, 2 Mar 2026, Bob wrote:\n> Lunch at noon?\n> Bring it.\n-- \n"
                      "Alice")),
        ("Bob wrote:\n> hi\n", ("Bob wrote:\n> hi", "")),  # all quoted: kept as text
        ("> buy now\n> cheap\n", ("> buy now\n> cheap", "")),
        ("plain text\n", ("plain text", "")),
        ("", ("", "")),
    ), "texts"),
    "quote_marks": Twin(_attr("quote_marks"), quoting.quote_marks_py, (
        ("", []), ("no quote", []), (ATTRIBUTED, ...)), "texts"),
    "prepare_markup": Twin(_attr("prepare_markup"), htmlscan.prepare_markup_py, (
        ("", ...), ("<p>a<script>x</script>b</p>", ...),
        ('<a href="http://x.example/">l</a><img src="i.png">', ...)), "html"),
    "header_text": Twin(_attr("header_text"), headers.header_text, (
        (b" =?utf-8?q?Sp=C3=A9cial?= offer\r\n", "=?utf-8?q?Sp=C3=A9cial?= offer"),
        (b"", ""), (b"a\r\n b", "a b"), (b"\xe9t\xe9", "été")), "header_values"),
    "common_date": Twin(_attr("common_date"), headers.parse_date, (
        ("Thu, 22 Aug 2002 07:36:16 -0400 (EDT)", datetime(2002, 8, 22, 7, 36, 16, tzinfo=EDT)),
        ("22 Aug 2002 11:36:16 +0000", datetime(2002, 8, 22, 11, 36, 16, tzinfo=timezone.utc)),
    ), "dates", declines=True),
    "received_hop": Twin(_attr("received_hop"), senders.parse_received, (
        ("from mx.example.org (mx.example.org [192.0.2.7]) by mail.example.net with ESMTP "
         "id 1; Thu, 22 Aug 2002 07:36:16 -0400", ...),
        ("from [203.0.113.5] by x; Thu, 22 Aug 2002 07:36:16 -0400", ...),
    ), "received", declines=True),
    "split": Twin(
        _lean_split if lean is not None else None,
        lambda raw: _std_tree(raw, DEFAULT_CONFIG.limits), (
            (b"From: a@example.org\nSubject: x\n\nbody\n", ...),
            (b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n", ...),
        ), "raw", declines=True),
}


def _store_twin(kind: str) -> tuple[Callable[[Any], Any] | None, Callable[[Any], Any]] | None:
    """Return (compiled, python) runners of the store's index loops, or None without them.

    A case is (entries, keys, value): the runner fills a fresh database (of the LMDB
    binding the store uses) with entries, then either probes keys and refiles value
    under them ("index") or sweeps it with cutoff = value ("sweep"), and returns all
    it answered and what the database holds after.
    """
    import tempfile

    from shingles._lean import lmdb as binding
    from shingles._lean import store as compiled
    from shingles.store import writer

    names = {"index": ("_probe_py", "_refile_py"), "sweep": ("_sweep_py",)}[kind]
    python = [getattr(writer, n, None) for n in names]
    if None in python:
        return None

    def runner(fns: list[Any]) -> Callable[[Any], Any]:
        def run(case: Any) -> Any:
            entries, keys, value = case
            with tempfile.TemporaryDirectory() as folder:
                env = binding.open(folder, map_size=1 << 26, max_dbs=2)
                try:
                    with env.begin(write=True) as txn:
                        db = env.open_db(b"d", txn=txn)
                        meta = env.open_db(b"m", txn=txn)
                        for key, data in entries:
                            txn.put(key, data, db=db)
                        if kind == "index":
                            olds, hours = [7], [7]  # refile reads from an offset
                            fns[0](txn, db, keys, olds, hours)
                            answer = (olds, hours, fns[1](txn, db, keys, olds, hours, 1, value))
                        else:
                            answer = fns[0](txn, db, meta, b"mark", len(keys), 0, value, 1)
                        return answer, list(txn.cursor(db=db))
                finally:
                    env.close()
        return run

    made = None
    if compiled is not None:
        made = runner([getattr(compiled, {"_probe_py": "probe", "_refile_py": "refile",
                                          "_sweep_py": "sweep"}[n]) for n in names])
    return made, runner(python)


def _hour(h: int) -> bytes:
    return struct.pack("<I", h)


_INDEX_CASES: tuple[tuple[Any, Any], ...] = (
    ((((b"a", pack_index(5, 3)),), [b"a", b"b", b"a"], pack_index(5, 3)), ...),
    ((((b"a", pack_index(5, 3)),), [b"a"], pack_index(6, 3)), ...),
    (((), [], pack_index(1, 0)), ...),
)
_SWEEP_CASES: tuple[tuple[Any, Any], ...] = (
    # Entries of hours 99, 100, 101 swept at cutoff 100: only the one before it goes.
    ((((b"a", _hour(99)), (b"b", _hour(100)), (b"c", _hour(101))), [b""] * 10, 100),
     ([b"a"], [(b"b", _hour(100)), (b"c", _hour(101))])),
    ((((b"a", b"\x01"),), [b""], 5), ...),  # too short to hold an hour: kept
)
for _kind, _boundary in (("index", _INDEX_CASES), ("sweep", _SWEEP_CASES)):
    _pair = _store_twin(_kind)
    if _pair is not None:
        TWINS[f"store {_kind}"] = Twin(_pair[0], _pair[1], _boundary, f"store {_kind}")


@pytest.fixture(params=sorted(TWINS))
def twin(request: pytest.FixtureRequest) -> Twin:
    """Each compiled/Python pair in turn."""
    return TWINS[request.param]


def _headers(raw: bytes) -> Iterator[tuple[str, bytes]]:
    head = raw.split(b"\n\n", 1)[0]
    for line in email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            head).raw_items():
        yield line[0], line[1].encode("utf-8", "surrogateescape")


@pytest.fixture(scope="module")
def corpus_inputs() -> dict[str, list[Any]]:
    """Inputs drawn from every corpus message, by kind (skips when the corpus is absent)."""
    where = corpus_dir()
    if where is None:
        pytest.skip("the real corpus is absent")
    out: dict[str, list[Any]] = {k: [] for k in ("raw", "texts", "html", "header_values",
                                                  "dates", "received", "store index",
                                                  "store sweep")}
    for name in ("spam", "ham"):
        for record in read_raw(where / f"{name}.mbox.gz"):
            assert not isinstance(record, MailError)
            raw = record.data
            out["raw"].append(raw)
            mail = parse(raw, record.source)
            out["texts"].append(mail.text + ("\n" + mail.quoted if mail.quoted else ""))
            if b"<html" in raw.lower():
                body = raw.split(b"\n\n", 1)[-1].decode("latin-1")
                out["html"].append(body[:20000])
            for key, value in _headers(raw):
                out["header_values"].append(value)
                low = key.lower()
                text = value.decode("ascii", "replace").replace("\n", " ").strip()
                if low == "date":
                    out["dates"].append(text)
                elif low == "received":
                    out["received"].append(text)
    # The store's loops on the mega-shingle keys of the corpus texts, 300 texts a case:
    # the first half's keys filed (mailing n, hour n), all probed and refiled; the
    # same entries swept at the middle hour.
    keys = [fingerprint(t).megashingle_bytes for t in out["texts"]]
    for start in range(0, len(keys), 300):
        chunk = [[k[i:i + 8] for i in range(0, len(k), 8)] for k in keys[start:start + 300]]
        half = len(chunk) // 2
        entries = tuple((key, pack_index(n + 1, n)) for n, ks in enumerate(chunk[:half])
                        for key in ks)
        wanted = [key for ks in chunk for key in ks]
        out["store index"].append((entries, wanted, pack_index(10**6, half)))
        swept = tuple((key, _hour(n)) for n, ks in enumerate(chunk) for key in ks)
        out["store sweep"].append((swept, [b""] * (len(swept) // 2), half))
    return out


def test_python_twin_gives_the_boundary_answers(twin: Twin) -> None:
    for given, expected in twin.boundary:
        answer = twin.python(given)
        if expected is not ...:
            assert answer == expected, given
        if twin.compiled is not None:
            mine = twin.compiled(given)
            assert mine == answer or (twin.declines and mine is None), given


def test_compiled_twin_equals_the_python_twin_on_the_corpus(
        twin: Twin, request: pytest.FixtureRequest) -> None:
    if twin.compiled is None:
        pytest.skip("the compiled twin is not built")
    # Asked for only now: on a pure-Python build the inputs would take minutes to make.
    inputs = request.getfixturevalue("corpus_inputs")[twin.corpus]
    if twin.python is _fp_python:
        inputs = inputs[::20]  # the Python reference runs ~5 ms a text
    answered = 0
    for given in inputs:
        mine = twin.compiled(given)
        if mine is None and twin.declines:
            continue
        answered += 1
        assert mine == twin.python(given), given
    assert inputs and answered >= 0.5 * len(inputs)


def test_python_sweep_keeps_the_entry_of_the_cutoff_hour(tmp_path: Any) -> None:
    # Retention drops entries whose hour is *before* the cutoff: the cutoff hour stays.
    import lmdb

    from shingles.store import writer

    sweep = getattr(writer, "_sweep_py", None)
    if sweep is None:
        pytest.skip("the store has no Python sweep twin")
    hour = struct.Struct("<I")
    with lmdb.open(str(tmp_path), max_dbs=4) as env, env.begin(write=True) as txn:
        db = env.open_db(b"d", txn=txn)
        meta = env.open_db(b"meta", txn=txn)
        for key, h in ((b"a", 99), (b"b", 100), (b"c", 101)):
            txn.put(key, hour.pack(h), db=db)
        deleted = sweep(txn, db, meta, b"sweep", 10, 0, 100, 1)
        assert sorted(deleted) == [b"a"]
        assert [k for k, _ in txn.cursor(db=db)] == [b"b", b"c"]
