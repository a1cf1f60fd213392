"""Every compiled piece and its plain-Python twin, run on the same corpus and boundary inputs.

One fixture, `twin`, goes over the pairs (shingles._core, shingles._mime,
shingles._store against their Python twins; the store's run on a scratch LMDB
database). For each pair the boundary examples
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
import hashlib
import struct
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import shingles
from shingles import fingerprint
from shingles._lean import lean, store_loops
from shingles.config import DEFAULT_CONFIG
from shingles.mail import headers, htmlscan, quoting, senders
from shingles.mail.parse import _std_tree, parse
from shingles.mail.read import read_raw
from shingles.mail.records import MailError
from shingles.store.keyfilter import KeyFilterPy
from shingles.store.layout import pack_index
from shingles.store.retention import walk_py
from shingles.store.writer import probe_py, sorted_items_py

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


_SCRATCH: list[Any] = []  # one LMDB environment and database for every store twin


def _on_scratch(entries: tuple[tuple[bytes, bytes], ...], run: Callable[[Any, Any], Any]) -> Any:
    """Return run(txn, db) on a scratch database holding entries; nothing is kept."""
    import lmdb

    if not _SCRATCH:
        env = lmdb.open(tempfile.mkdtemp(prefix="shingles-twins-"), max_dbs=2, map_size=1 << 26)
        _SCRATCH.extend((env, env.open_db(b"d")))
    env, db = _SCRATCH
    txn = env.begin(write=True)
    try:
        for key, value in entries:
            txn.put(key, value, db=db)
        return run(txn, db)
    finally:
        txn.abort()


def _walker(walk: Callable[..., Any] | None) -> Callable[[Any], Any] | None:
    """Return a twin taking (entries, where to start, budget, hour offset, cutoff) and giving
    (deleted entries, keys left, where the cursor stops)."""
    if walk is None:
        return None

    def run(case: tuple[Any, ...]) -> Any:
        entries, start, budget, hour_at, cutoff = case

        def on(txn: Any, db: Any) -> Any:
            cursor = txn.cursor(db=db)
            if entries:
                cursor.set_range(sorted(entries)[start % len(entries)][0])
            deleted = walk(cursor, budget, hour_at, cutoff)
            return deleted, [key for key, _ in txn.cursor(db=db)], cursor.key()
        return _on_scratch(entries, on)
    return run


def _prober(probe: Callable[..., Any] | None,
            make_filter: Callable[[int], Any]) -> Callable[[Any], Any] | None:
    """Return a twin taking (entries, pending writes, keys, floor, keys a filter holds or
    None for no filter) and giving (olds, hours, keys the filter took, whether it holds
    each key after), or the error's class name."""
    if probe is None:
        return None

    def run(case: tuple[Any, ...]) -> Any:
        entries, pending, keys, floor, filtered = case
        held = None
        if filtered is not None:
            held = make_filter(len(filtered))
            held.update(filtered)
            took = held.added

        def on(txn: Any, db: Any) -> Any:
            olds: list[int] = []
            hours: list[int] = []
            try:
                probe(txn, db, dict(pending), held, keys, olds, hours, floor)
            except Exception as error:  # noqa: BLE001 - the twins must fail alike
                return type(error).__name__
            if held is None:
                return olds, hours, 0, None
            return olds, hours, held.added - took, [key in held for key in keys]
        return _on_scratch(entries, on)
    return run


def _filtering(make_filter: Callable[[int], Any] | None) -> Callable[[Any], Any] | None:
    """Return a twin taking (keys to add, keys to ask about) and giving (bits, keys added,
    whether the filter may hold each key asked about)."""
    if make_filter is None:
        return None

    def run(case: tuple[Any, ...]) -> Any:
        added, asked = case
        held = make_filter(len(added))
        held.update(added)
        return held.bits, held.added, [key in held for key in asked]
    return run


def _sorting(sort: Callable[[dict[bytes, bytes]], Any] | None) -> Callable[[Any], Any] | None:
    """Return a twin taking (key, value) pairs and giving the sort of their dict, or the
    error's class name."""
    if sort is None:
        return None

    def run(case: tuple[tuple[Any, bytes], ...]) -> Any:
        try:
            return sort(dict(case))
        except Exception as error:  # noqa: BLE001 - the twins must fail alike
            return type(error).__name__
    return run


def _index_cases(raws: list[bytes]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Return walk, probe, filter and batch-write cases over index entries made from corpus
    messages: the key a hash of the message, the mailing its size, the hour its size
    modulo two days; a batch's writes as index keys and member keys (a mailing id, then
    a message's key)."""
    entries = [(hashlib.blake2b(raw, digest_size=8).digest(), pack_index(len(raw), len(raw) % 48))
               for raw in raws]
    walks: list[Any] = []
    probes: list[Any] = []
    filters: list[Any] = []
    writes: list[Any] = []
    for i in range(0, len(entries), 40):
        chunk = tuple(entries[i:i + 40])
        walks.append((chunk, i, 10 + i % 70, 9, i % 50))
        stored, fresh = chunk[::2], chunk[1::2]
        pending = tuple((key, pack_index(i, 30)) for key, _ in fresh[::3])
        keys = tuple(key for key, _ in chunk)
        probes.append((stored, pending, keys, i % 48, None))
        # A filter holding the stored keys and a few others: the rest are never looked up.
        probes.append((stored, pending, keys, i % 48, tuple(k for k, _ in stored + fresh[::5])))
        filters.append((tuple(k for k, _ in stored), keys + tuple(k[:5] for k in keys)))
        members = tuple((ID_BYTES[j % 3] + key, b"") for j, (key, _) in enumerate(chunk))
        writes.append(chunk + members + tuple((key[:j % 9], value) for j, (key, value)
                                              in enumerate(chunk)))
    return walks, probes, filters, writes


_HOUR = struct.Struct("<I")
ID_BYTES = (bytes(8), b"\x00" * 7 + b"\x05", b"\xff" * 8)  # mailing ids, as members start
_ABC = tuple((bytes([c]), _HOUR.pack(h)) for c, h in zip(b"abcde", (50, 150, 50, 99, 100)))


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
    "walk": Twin(_walker(store_loops.walk if store_loops is not None else None),
                 _walker(walk_py), (  # type: ignore[arg-type]
        (((), 0, 5, 0, 100), ...),
        ((_ABC, 0, 5, 0, 100), ([(b"a", _HOUR.pack(50)), (b"c", _HOUR.pack(50)),
                                (b"d", _HOUR.pack(99))], [b"b", b"e"], b"b")),
        # From c, round past the end: d and a go too, and the walk stops on e.
        ((_ABC, 2, 5, 0, 100), ([(b"c", _HOUR.pack(50)), (b"d", _HOUR.pack(99)),
                                 (b"a", _HOUR.pack(50))], [b"b", b"e"], b"e")),
        ((((b"a", b"\x01"), (b"b", _HOUR.pack(1))), 0, 9, 0, 100),  # too short: kept
         ([(b"b", _HOUR.pack(1))], [b"a"], b"a")),
        ((_ABC, 1, 2, 0, 100), ([(b"c", _HOUR.pack(50))], [b"a", b"b", b"d", b"e"], b"d")),
    ), "walks"),
    "probe": Twin(_prober(store_loops.probe if store_loops is not None else None,
                          store_loops.KeyFilter if store_loops is not None else KeyFilterPy),
                  _prober(probe_py, KeyFilterPy), (  # type: ignore[arg-type]
        # (stored entries, pending writes, keys, floor, filter): pending first, then the
        # database, but only for keys the filter may hold.
        ((((b"k1", pack_index(5, 100)), (b"k4", pack_index(6, 90))),
          ((b"k2", pack_index(7, 96)), (b"k1", pack_index(8, 101))),
          (b"k1", b"k2", b"k3", b"k4"), 95, None), ([8, 7, 0, 0], [101, 96, 0, 0], 0, None)),
        ((((b"k1", pack_index(5, 100)),), (), (b"k1",), -1, None), ([5], [100], 0, None)),
        ((((b"k1", b"\x01short"),), (), (b"k1",), 0, None), "StoreFormatError"),
        (((), (), (), 0, None), ([], [], 0, None)),
        # k5 is stored but the filter never held it: not looked up (the writer never
        # lets that happen), and taken now; k6 is held and looked up; k7, pending, is
        # neither looked up nor taken (its first probe in the batch took it).
        ((((b"k5", pack_index(5, 100)), (b"k6", pack_index(6, 100))),
          ((b"k7", pack_index(7, 100)),), (b"k5", b"k6", b"k7"), 0, (b"k6",)),
         ([0, 6, 7], [0, 100, 100], 1, [True, True, False])),
    ), "probes"),
    "sorted_items": Twin(_sorting(store_loops.sorted_items if store_loops is not None else None),
                         _sorting(sorted_items_py), (  # type: ignore[arg-type]
        ((), []),
        # Keys alike in their first 8 bytes, shorter than 8, or a prefix of another.
        (((b"\x00" * 8 + b"b", b"1"), (b"", b"2"), (b"\x00" * 8 + b"a", b"3"), (b"\x00", b"4"),
          (b"\x00" * 8, b"5"), (b"a", b"6"), (b"\xff" * 9, b"7")),
         [(b"", b"2"), (b"\x00", b"4"), (b"\x00" * 8, b"5"), (b"\x00" * 8 + b"a", b"3"),
          (b"\x00" * 8 + b"b", b"1"), (b"a", b"6"), (b"\xff" * 9, b"7")]),
        (((b"a", b"1"), ("b", b"2")), "TypeError"),
    ), "writes"),
    "key_filter": Twin(_filtering(store_loops.KeyFilter if store_loops is not None else None),
                       _filtering(KeyFilterPy), (  # type: ignore[arg-type]
        (((), (b"a",)), (512, 0, [False])),
        (((b"a", b"bc", b"\x00" * 9), (b"a", b"bc", b"\x00" * 9)), (512, 3, [True, True, True])),
        (((b"x" * 8,) * 100, (b"x" * 8, b"y" * 8)), ...),
    ), "filters"),
}


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
                                                  "dates", "received")}
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
    out["walks"], out["probes"], out["filters"], out["writes"] = _index_cases(out["raw"])
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


def test_retention_keeps_the_entry_of_the_cutoff_hour(tmp_path: Any) -> None:
    # Retention drops entries whose hour is *before* the cutoff: the cutoff hour stays,
    # and a value too short to hold an hour is kept.
    import lmdb

    from shingles.store.retention import sweep_step

    hour = struct.Struct("<I")
    with lmdb.open(str(tmp_path), max_dbs=4) as env, env.begin(write=True) as txn:
        db = env.open_db(b"d", txn=txn)
        meta = env.open_db(b"meta", txn=txn)
        for key, h in ((b"a", 99), (b"b", 100), (b"c", 101)):
            txn.put(key, hour.pack(h), db=db)
        deleted = sweep_step(txn, db, meta, b"sweep", 10, 0, 100)
        assert [key for key, _ in deleted] == [b"a"]
        assert [k for k, _ in txn.cursor(db=db)] == [b"b", b"c"]
        txn.put(b"d", b"\x01", db=db)
        txn.put(b"e", hour.pack(5), db=db)
        assert [key for key, _ in sweep_step(txn, db, meta, b"sweep", 10, 0, 100)] == [b"e"]


def test_retention_walk_laps_the_database_slice_by_slice(tmp_path: Any) -> None:
    # Each step walks its budget from where the last one stopped, going round past
    # the end; an expired entry at the end of the database is no stopping point.
    import lmdb

    from shingles.store.retention import sweep_step

    hour = struct.Struct("<I")
    keys = [bytes([c]) for c in b"abcdefg"]
    with lmdb.open(str(tmp_path), max_dbs=4) as env, env.begin(write=True) as txn:
        db = env.open_db(b"d", txn=txn)
        meta = env.open_db(b"meta", txn=txn)
        for i, key in enumerate(keys):  # a, c, e, g expired
            txn.put(key, hour.pack(50 if i % 2 == 0 else 150), db=db)
        steps = [[key for key, _ in sweep_step(txn, db, meta, b"sweep", 3, 0, 100)]
                 for _ in range(3)]
        assert steps == [[b"a", b"c"], [b"e"], [b"g"]]
        assert [k for k, _ in txn.cursor(db=db)] == [b"b", b"d", b"f"]
        # The third step deleted the last entry, went round and stopped before f.
        assert txn.get(b"sweep", db=meta) == b"\x01f"  # version byte, key
        for key in keys[::2]:
            txn.put(key, hour.pack(10), db=db)
        assert [key for key, _ in sweep_step(txn, db, meta, b"sweep", 100, 0, 100)] == \
            [b"g", b"a", b"c", b"e"]
        assert [k for k, _ in txn.cursor(db=db)] == [b"b", b"d", b"f"]
