"""The sending software's header trace, and the recall mode's lower bar for a shared trace."""

from __future__ import annotations

import pathlib
import random

import pytest

from shingles.config import StoreSettings
from shingles.fingerprint import fingerprint
from shingles.mail.parse import parse
from shingles.mail.records import Mail
from shingles.mail.trace import header_trace, id_shape, trace_text
from shingles.store.reader import RECALL_SCHEME, Store

WORDS = [f"w{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(400)]
_RND = random.Random(3)
BASE = [_RND.choice(WORDS) for _ in range(150)]


def _mail(words: list[str], *, mailer: str = "Mailer 1.2", id_form: str = "{h}@x.example",
          order: tuple[str, ...] = ("From", "To", "Subject", "Message-ID"), seed: int = 0,
          relayed: bool = False) -> Mail:
    rnd = random.Random(seed)
    values = {"From": "a@x.example", "To": f"u{rnd.randrange(999)}@y.example",
              "Subject": "news", "Message-ID": "<" + id_form.format(
                  h=f"{rnd.getrandbits(64):016x}", n=rnd.randrange(10**6, 10**7)) + ">"}
    head = [f"{name}: {values[name]}" for name in order] + [f"X-Mailer: {mailer}"]
    if relayed:  # transit fields the relays add: not the software's
        head[:0] = ["Received: from a ([24.1.2.3]) by mx", "Received: from b ([24.1.2.4]) by a",
                    "Authentication-Results: mx; spf=pass"]
    return parse(("\n".join(head) + "\n\n" + " ".join(words) + "\n").encode(),
                 f"test:{seed}")


def _mutated(rate: float, seed: int) -> list[str]:
    rnd = random.Random(seed)
    words = list(BASE)
    for i in rnd.sample(range(len(words)), int(rate * len(words))):
        words[i] = rnd.choice(WORDS)
    return words


def test_shapes_fold_values_and_keep_form() -> None:
    assert id_shape("3f9a0b2c1d4e5f60.1772442000") == id_shape("a0b1c2d3e4f5a6b7.1772449999")
    assert id_shape("3f9a0b2c1d4e5f60.1772442000") != id_shape("3f9a0b2c1d4e5f60-1772442000")
    assert id_shape("ABCDEF12-0042") == id_shape("abcdef12-9f3a")  # hex, whatever its case
    assert id_shape("JavaMail.app") != id_shape("javamail.app")  # other letters keep case


def test_copies_of_one_program_share_a_trace_and_other_programs_do_not() -> None:
    one = {_mail(BASE, seed=s).trace for s in range(20)}
    assert len(one) == 1
    assert _mail(BASE, seed=1, relayed=True).trace in one  # relays' fields are left out
    assert _mail(BASE, mailer="Mailer 7.9").trace in one  # version digits fold
    others = [_mail(BASE, mailer="Other Mail 1.0"),
              _mail(BASE, id_form="{n}.JavaMail.app@x.example"),
              _mail(BASE, id_form="{h}@mailer.other.example"),
              _mail(BASE, order=("Message-ID", "From", "To", "Subject"))]
    assert all(m.trace not in one for m in others)
    assert len({m.trace for m in others}) == len(others)


def test_trace_text_reads_the_boundary_and_where_the_domain_sits() -> None:
    text = trace_text(["from", "message-id", "content-type"], "<1a2b3c4d5e6f7a8b@x.example>",
                      None, 'multipart/alternative; boundary="----=_Part_12_3456.789"', "x.example")
    assert "@from" in text and "----=_" in text
    assert header_trace(["from"], "<a@b>", None, None, None) == header_trace(
        ["from"], "<c@d>", None, None, None)


def _store(path: pathlib.Path, trace_threshold: float | None) -> Store:
    return Store(path, scheme=RECALL_SCHEME,
                 settings=StoreSettings(mode="recall", trace_threshold=trace_threshold))


@pytest.mark.parametrize("rate", [0.25, 0.3])
def test_a_shared_trace_lowers_the_bar_for_candidates_and_never_matches_alone(
        tmp_path: pathlib.Path, rate: float) -> None:
    base = _mail(BASE)
    copies = [_mutated(rate, seed) for seed in range(30)]
    found: dict[str, int] = {}
    for name, threshold in (("off", None), ("on", 0.25)):
        with _store(tmp_path / name, threshold) as store:
            mailing = store.add(base, fingerprint(base.text, RECALL_SCHEME))
            fps = [fingerprint(" ".join(c), RECALL_SCHEME) for c in copies]
            same = [store.lookup(fp, base.trace) == mailing for fp in fps]
            other = [store.lookup(fp, _mail(BASE, mailer="Other 1").trace) == mailing
                     for fp in fps]
            found[name + "/same"], found[name + "/other"] = sum(same), sum(other)
            assert all(s or not o for s, o in zip(same, other))  # the trace only adds
            unrelated = [random.Random(9).choice(WORDS[200:]) for _ in range(150)]
            assert store.lookup(fingerprint(" ".join(unrelated), RECALL_SCHEME),
                                base.trace) is None  # no text candidate: no match
    assert found["off/same"] == found["off/other"] == found["on/other"]
    assert found["on/same"] > found["on/other"], found


def test_filing_keeps_traces_and_the_setting_survives_reopening(tmp_path: pathlib.Path) -> None:
    base = _mail(BASE)
    with _store(tmp_path / "s", 0.25) as store:
        first = store.add(base, fingerprint(base.text, RECALL_SCHEME))
        joined = 0
        for seed in range(30):
            copy = _mail(_mutated(0.3, seed), seed=seed + 1)
            joined += store.add(copy, fingerprint(copy.text, RECALL_SCHEME)) == first
        assert joined > 0
        assert first is not None
        # One program wrote every copy: the mailing keeps its one trace, once.
        assert store.record("traces", first.to_bytes(8, "big")) == b"\x01" + bytes.fromhex(
            base.trace or "")
    assert Store.stored_settings(tmp_path / "s") == StoreSettings(mode="recall",
                                                                  trace_threshold=0.25)
    with pytest.raises(ValueError, match="trace_threshold"):
        StoreSettings(mode="recall", trace_threshold=0.6)


class _Txn:
    """The get/put/delete of an LMDB transaction, over a dict (one database)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes, db: object = None) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes, db: object = None) -> None:
        self.data[key] = value

    def delete(self, key: bytes, db: object = None) -> None:
        self.data.pop(key, None)


def test_merged_mailings_keep_both_programs_traces() -> None:
    from shingles.store import traces

    settings = StoreSettings(mode="recall", trace_threshold=0.3)
    txn, db = _Txn(), object()  # the one database; None would mean "no traces database"
    a, b, c = (bytes([n]) * 8 for n in (1, 2, 3))
    traces.keep_trace(txn, db, 1, a, settings)
    traces.keep_trace(txn, db, 2, b, settings)
    traces.keep_trace(txn, db, 2, a, settings)
    traces.merge(txn, db, 2, 1)
    assert traces.threshold_for(txn, db, 1, b, settings) == 0.3
    assert traces.threshold_for(txn, db, 1, c, settings) == settings.threshold
    assert txn.get((2).to_bytes(8, "big")) is None  # the loser's record is gone
    assert len(txn.data[(1).to_bytes(8, "big")]) == 1 + 16  # a once, b once
