"""The mailing store: clustering, statistics, idempotence, batches, locking, growth, modes."""

from __future__ import annotations

import dataclasses
import pathlib
import random
import struct
import subprocess
import sys
import textwrap
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import lmdb
import pytest

from shingles import DEFAULT_SCHEME, Fingerprint, Scheme, SchemeMismatchError, fingerprint
from shingles.errors import ShinglesError, StoreFullError, StoreLockedError
from shingles.store import keyfilter
from shingles.store.layout import unpack_index
from shingles.store.writer import MAX_ADVANCE
from shingles.store.reader import RECALL_SCHEME, Store
from shingles.config import StoreSettings
from shingles.scheme import DEFAULT_SEED

#: Unit tests fabricate fingerprints of the public default scheme: their stores use its
#: seed instead of a secret one (test_keyed_* check the secret default).
FIXED_SEED = StoreSettings(seed=DEFAULT_SEED)

WORDS = [a + b + c for a in "bdfgklmnprst" for b in "aeiou" for c in "lmnrst"]
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


@dataclasses.dataclass(frozen=True)
class FakeMail:
    """The fields of shingles.mail.records.Mail the store reads, with harmless defaults."""

    source: str = "test"
    message_id: str | None = None
    date: datetime | None = T0
    subject: str = ""
    from_addr: str | None = None
    from_domain: str | None = None
    envelope_sender: str | None = None
    recipients: tuple[str, ...] = ()
    source_ip: str | None = None
    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None
    bulk_signs: frozenset[str] = frozenset()
    text: str = ""
    quoted: str = ""


def words(seed: int, n: int = 150) -> list[str]:
    rnd = random.Random(seed)
    return [rnd.choice(WORDS) for _ in range(n)]


def mutate(base: list[str], share: float, seed: int) -> str:
    """Return base with a share of its words replaced by random ones."""
    rnd = random.Random(seed)
    out = list(base)
    for i in rnd.sample(range(len(out)), int(share * len(out))):
        out[i] = rnd.choice(WORDS) + rnd.choice(WORDS)
    return " ".join(out)


def mail(i: int, text: str, **fields: object) -> FakeMail:
    fields.setdefault("date", T0 + timedelta(seconds=i))
    return FakeMail(source=f"test:{i}", message_id=f"<{i}@test>", text=text, **fields)  # type: ignore[arg-type]


def fake_fp(megas: tuple[int, ...] = (), imatch: tuple[int, ...] = (),
            minhashes: tuple[int, ...] = (), scheme: Scheme = DEFAULT_SCHEME) -> Fingerprint:
    """Return a fingerprint with chosen keys, to steer clustering exactly."""
    return Fingerprint(scheme=scheme.id, tokens=100, shingles=100,
                       minhash_bytes=struct.pack(f"<{len(minhashes)}Q", *minhashes),
                       supershingle_bytes=b"",
                       megashingle_bytes=struct.pack(f"<{len(megas)}Q", *megas), imatch=imatch)


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Iterator[Store]:
    with Store(tmp_path / "store", settings=FIXED_SEED) as opened:
        yield opened


def filed(mailing: int | None) -> int:
    """Return the mailing id of a message that must have been filed in one."""
    assert mailing is not None
    return mailing


def add_all(store: Store, mails: list[FakeMail]) -> list[int | None]:
    scheme = Scheme.from_id(store.scheme_id)  # recall-mode stores fingerprint 2-word shingles
    with store.session() as session:
        return [session.add(m, fingerprint(m.text, scheme)) for m in mails]


# -- clustering ------------------------------------------------------------


def test_copies_of_one_mailing_share_an_id_and_other_texts_do_not(store: Store) -> None:
    base = words(1)
    copies = [mail(i, " ".join(["hello", f"name{i}", *base])) for i in range(20)]
    others = [mail(100 + i, " ".join(words(100 + i))) for i in range(5)]
    ids = add_all(store, copies + others)
    assert len(set(ids[:20])) == 1
    assert len(set(ids[20:])) == 5 and not set(ids[20:]) & set(ids[:20])
    assert store.mailing(ids[0]).size == 20  # type: ignore[arg-type]
    assert len(list(store.mailings())) == 6


def test_a_text_too_short_for_a_signature_joins_no_mailing(store: Store) -> None:
    ids = add_all(store, [mail(1, "Thanks!"), mail(2, "Thanks!")])
    assert ids == [None, None]
    assert list(store.mailings()) == []
    assert store.mailing_of(mail(1, "Thanks!")) is None


def test_a_message_matching_two_mailings_merges_them(store: Store) -> None:
    with store.session() as s:
        a = s.add(mail(1, "a"), fake_fp(megas=(1, 2)))
        b = s.add(mail(2, "b"), fake_fp(megas=(3, 4)))
        b2 = s.add(mail(3, "b2"), fake_fp(megas=(4, 5)))
        assert a is not None and b is not None and b == b2 and a != b
        bridge = s.add(mail(4, "bridge"), fake_fp(megas=(2, 5)))
    # The larger mailing survives; the other id still leads to it.
    assert bridge == b
    assert store.mailing(a).id == b
    merged = store.mailing(b)
    assert merged.size == 4 and merged.merged == 1
    # The bridge shares a key with a first member of each: the merge is recorded.
    assert [(m["mailing"], m["other"], m["merged"], m["message_id"]) for m in store.merges(a)
            ] == [(b, a, True, "<4@test>")]
    assert [m.id for m in store.mailings()] == [b]
    assert sorted(r.message_id or "" for r in store.messages(a)) == [
        "<1@test>", "<2@test>", "<3@test>", "<4@test>"]
    # A later copy of the first mailing lands in the merged one.
    assert store.add(mail(5, "a again"), fake_fp(megas=(1,))) == b


def test_i_match_signatures_cluster_like_mega_shingles(store: Store) -> None:
    with store.session() as s:
        first = s.add(mail(1, "x"), fake_fp(imatch=(0x0100_0000_0000_0007,)))
        second = s.add(mail(2, "y"), fake_fp(imatch=(0x0100_0000_0000_0007, 9)))
        third = s.add(mail(3, "z"), fake_fp(imatch=(0x0200_0000_0000_0007,)))
    assert first == second != third


def parents(path: str) -> dict[int, int]:
    """Return the union-find parent links of a closed store.

    It reads with py-lmdb whichever binding wrote: the store's own writes py-lmdb's format.
    """
    env = lmdb.open(path, readonly=True, max_dbs=16, lock=False)
    try:
        with env.begin() as txn:
            db = env.open_db(b"parent", txn=txn, create=False)
            return {int.from_bytes(k, "big"): unpack_index(v)[0] for k, v in txn.cursor(db=db)}
    finally:
        env.close()


def test_union_by_size_and_path_compression_keep_finds_short(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "s")
    # Merging equal halves (ties keep the lower id) builds the deepest tree
    # union by size allows: 8 mailings, depth 3.
    with Store(path, settings=FIXED_SEED) as store, store.session() as s:
        ids = [filed(s.add(mail(i, "x"), fake_fp(megas=(1000 + i,)))) for i in range(8)]
        for n, (a, b) in enumerate([(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (4, 6), (0, 4)]):
            s.add(mail(100 + n, "bridge"), fake_fp(megas=(1000 + a, 1000 + b)))
    links = parents(path)
    node, depth = ids[7], 0
    while node in links:
        node, depth = links[node], depth + 1
    assert node == ids[0] and depth == 3
    # Index keys are re-pointed at the root of the day, so key 1007 now names
    # ids[6], which sits two links below the root.
    assert links[ids[6]] == ids[4]
    with Store(path, settings=FIXED_SEED) as store:
        assert store.mailing(ids[7]).size == 15
        assert store.mailing(ids[7]).merged == 7
        # A writer's find re-points the whole path it walked at the root.
        assert store.add(mail(500, "x"), fake_fp(megas=(1007,))) == ids[0]
    links = parents(path)
    assert links[ids[6]] == ids[0]
    with Store(path, readonly=True) as store:
        assert store.mailing(ids[7]).id == ids[0]


# -- statistics ----------------------------------------------------------


def test_statistics_count_each_kind_of_fact(store: Store) -> None:
    base = words(7)
    mails = []
    for i in range(40):
        mails.append(mail(
            i, " ".join([f"dear{i % 3}", *base]),
            subject="Big sale" if i == 0 else f"Sale {i}", source_ip=f"198.51.{i % 2}.{i}",
            from_domain=f"d{i % 10}.example", recipients=(f"u{i}@x.example", "all@x.example"),
            spf=["pass", "fail", None, "weird"][i % 4], dkim="pass", dmarc=None,
            bulk_signs=frozenset({"list-id"} if i % 2 else {"list-id", "list-unsubscribe"})))
    ids = add_all(store, mails)
    assert len(set(ids)) == 1
    m = store.mailing(ids[0])  # type: ignore[arg-type]
    assert m.size == 40
    assert m.distinct_ips == 40 and m.ips_estimated  # past the exact cap of 32
    assert m.distinct_networks == 2 and not m.networks_estimated
    assert dict(m.spf) == {"pass": 10, "fail": 10, "missing": 10, "other": 10}
    assert dict(m.dkim) == {"pass": 40} and dict(m.dmarc) == {"missing": 40}
    assert dict(m.bulk_signs) == {"list-id": 40, "list-unsubscribe": 20}
    assert m.recipients == 80 and abs(m.distinct_recipients - 41) <= 4  # past the cap
    assert len(m.sender_domains) == 8 and m.other_domains == 8
    assert sum(n for _, n in m.sender_domains) + m.other_domains == 40
    assert m.subject == "Big sale" and m.message_id == "<0@test>"
    assert m.first_seen == T0 and m.last_seen == T0 + timedelta(seconds=39)
    assert store.ip("198.51.0.0") is not None and store.ip("198.51.0.0").messages == 1  # type: ignore[union-attr]
    assert m.to_json()["spf"]["pass"] == 10


def test_distinct_counts_are_exact_up_to_the_cap_then_close(store: Store) -> None:
    base = words(8)
    mails = [mail(i, " ".join([f"n{i}", *base]), source_ip=f"10.{i // 250}.{i % 250}.1")
             for i in range(2000)]
    ids = add_all(store, mails)
    m = store.mailing(ids[0])  # type: ignore[arg-type]
    assert m.size == 2000 and m.ips_estimated
    assert abs(m.distinct_ips - 2000) < 0.25 * 2000
    # Each IP is its own /24 here; HyperLogLog with 256 registers errs by ~6.5%.
    assert m.networks_estimated and abs(m.distinct_networks - 2000) < 0.25 * 2000


def test_complaint_and_trap_counters_are_bumped_through_the_api(store: Store) -> None:
    [mid] = add_all(store, [mail(1, " ".join(words(9)))])
    assert mid is not None
    store.bump(mid, complaints=2)
    store.bump(mid, traps=1, complaints=1)
    m = store.mailing(mid)
    assert (m.complaints, m.traps) == (3, 1)
    with pytest.raises(KeyError):
        store.bump(mid + 99, complaints=1)
    with pytest.raises(ValueError):
        store.bump(mid, complaints=-1)


# -- idempotence and transactions ------------------------------------------


def test_the_same_message_twice_counts_once_even_across_sessions(tmp_path: pathlib.Path) -> None:
    one = mail(1, " ".join(words(11)), source_ip="192.0.2.1")
    with Store(tmp_path / "s", settings=FIXED_SEED) as store:
        with store.session() as s:
            first = s.add(one, fingerprint(one.text))
            assert s.add(one, fingerprint(one.text)) == first
        assert s.summary.duplicates == 1 and s.summary.added == 1
    with Store(tmp_path / "s", settings=FIXED_SEED) as store:
        assert store.add(one, fingerprint(one.text)) == first
        assert store.mailing(first).size == 1  # type: ignore[arg-type]
        assert store.ip("192.0.2.1").messages == 1  # type: ignore[union-attr]
        # Same Message-ID, other body: another message.
        other = dataclasses.replace(one, text=one.text + " more words here now")
        store.add(other, fingerprint(other.text))
        assert store.mailing(first).size == 2  # type: ignore[arg-type]


def test_without_message_id_copies_to_different_recipients_stay_apart(store: Store) -> None:
    text = " ".join(words(12))
    a = FakeMail(text=text, recipients=("a@x.example",))
    b = FakeMail(text=text, recipients=("b@x.example",))
    with store.session() as s:
        mid = s.add(a, fingerprint(text))
        s.add(b, fingerprint(text))
        s.add(b, fingerprint(text))
    assert store.mailing(mid).size == 2  # type: ignore[arg-type]


def test_an_error_aborts_the_open_batch_and_keeps_committed_ones(tmp_path: pathlib.Path) -> None:
    settings = StoreSettings(seed=DEFAULT_SEED, batch_size=5)
    with Store(tmp_path / "s", settings=settings) as store:
        base = words(13)
        with pytest.raises(RuntimeError), store.session() as s:
            for i in range(8):
                s.add(mail(i, " ".join([f"x{i}", *base])), fingerprint(" ".join([f"x{i}", *base])))
            raise RuntimeError("boom")
        assert s.summary.batches == 1 and s.summary.added == 5
        assert [m.size for m in store.mailings()] == [5]


def test_a_session_collects_garbage_at_batch_ends_and_gives_gc_back(
        tmp_path: pathlib.Path) -> None:
    import gc

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    assert gc.isenabled()
    settings = StoreSettings(seed=DEFAULT_SEED, batch_size=2)
    with Store(tmp_path / "s", settings=settings) as store:
        with store.session() as s:
            assert not gc.isenabled()  # paused: collected at commits instead
            cycle = weakref.ref(Cycle())  # garbage only a cycle collection frees
            assert cycle() is not None
            base = words(14)
            for i in range(3):  # one batch: its commit (at the next add) collects
                s.add(mail(i, " ".join([f"x{i}", *base])), fingerprint(" ".join(base)))
            assert cycle() is None
        assert gc.isenabled()
        with pytest.raises(RuntimeError), store.session():
            raise RuntimeError("boom")
        assert gc.isenabled()
        gc.disable()
        try:
            with store.session():
                pass
            assert not gc.isenabled()  # a caller's choice stays
        finally:
            gc.enable()


def test_schema_scheme_and_mode_mismatches_are_clear_errors(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s"
    Store(path, settings=StoreSettings(seed=DEFAULT_SEED, mode="recall")).close()
    with pytest.raises(SchemeMismatchError, match="matches by 'recall"):
        Store(path, settings=StoreSettings(seed=DEFAULT_SEED, mode="paper"))
    with pytest.raises(SchemeMismatchError, match="scheme"):
        Store(path, scheme=Scheme(window=5))
    with Store(path) as adopted:  # no settings: the stored mode
        assert adopted.settings.mode == "recall"
        with pytest.raises(SchemeMismatchError):
            adopted.add(mail(1, "x"), fingerprint(" ".join(words(1)), Scheme(window=5)))
    with pytest.raises(FileNotFoundError):
        Store(tmp_path / "none", readonly=True)


# -- the map, writers and readers ------------------------------------------


def test_the_map_grows_instead_of_failing(tmp_path: pathlib.Path) -> None:
    settings = StoreSettings(seed=DEFAULT_SEED, map_size=1 << 16, batch_size=500)
    with Store(tmp_path / "s", settings=settings) as store:
        mails = [mail(i, " ".join(words(1000 + i))) for i in range(600)]
        ids = add_all(store, mails)
        assert len({i for i in ids if i}) == 600
        assert store._env.info()["map_size"] > 1 << 16
    # Replayed batches give the same ids as a store that never had to grow.
    with Store(tmp_path / "big", settings=FIXED_SEED) as store:
        assert add_all(store, mails) == ids


def test_a_map_at_its_limit_is_a_store_full_error_with_a_hint(tmp_path: pathlib.Path) -> None:
    settings = StoreSettings(seed=DEFAULT_SEED, map_size=1 << 16, max_map_size=1 << 17)
    with Store(tmp_path / "s", settings=settings) as store:
        with pytest.raises(StoreFullError, match="max_map_size") as info:
            add_all(store, [mail(i, " ".join(words(2000 + i))) for i in range(2000)])
        assert isinstance(info.value, OSError) and isinstance(info.value, ShinglesError)


def test_a_second_writer_gets_a_clear_error(tmp_path: pathlib.Path) -> None:
    with Store(tmp_path / "s", settings=FIXED_SEED), \
            pytest.raises(StoreLockedError, match="another process"):
        Store(tmp_path / "s", settings=FIXED_SEED)
    Store(tmp_path / "s", settings=FIXED_SEED).close()  # the lock goes with the writer


def test_readers_see_committed_batches_while_a_writer_works(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s"
    reader = textwrap.dedent(f"""
        from shingles.store.reader import Store
        with Store({str(path)!r}, readonly=True) as s:
            print(sum(m.size for m in s.mailings()))
    """)

    def read() -> int:
        done = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True,
                              check=True, timeout=60)
        return int(done.stdout)

    with Store(path, settings=StoreSettings(seed=DEFAULT_SEED, batch_size=10)) as store, \
            store.session() as s:
        for i in range(15):
            s.add(mail(i, " ".join(words(3000 + i))), fingerprint(" ".join(words(3000 + i))))
        assert read() == 10  # the open batch of 5 is not visible yet
    assert read() == 15


# -- time and retention ----------------------------------------------------


def test_a_bogus_date_far_ahead_moves_the_clock_by_one_step_only(store: Store) -> None:
    base = words(20)
    with store.session() as s:
        s.add(mail(1, " ".join(base)), fingerprint(" ".join(base)))
        s.add(mail(2, "y", date=datetime(2025, 12, 1, tzinfo=timezone.utc)), fake_fp(megas=(7,)))
        assert s._clock == int((T0 + timedelta(seconds=1)).timestamp()) + MAX_ADVANCE


def test_retention_expires_exactly_for_readers_before_the_sweep_comes(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shingles.store import retention

    monkeypatch.setattr(retention, "sweep", lambda *args, **kwargs: 0)  # nothing removed
    settings = StoreSettings(seed=DEFAULT_SEED, retention_days=1, batch_size=10)
    old = mail(0, "x", source_ip="192.0.2.1")
    with Store(tmp_path / "s", settings=settings) as store:
        with store.session() as s:
            first = s.add(old, fake_fp(megas=(1, 2)))
            s.add(mail(1, "y", source_ip="192.0.2.1"), fake_fp(megas=(1, 3)))
            for hour in range(1, 28):  # the clock walks an hour a message: 27 hours on
                s.add(mail(100 + hour, f"z{hour}", date=T0 + timedelta(hours=hour)),
                      fake_fp(megas=(1000 + hour,)))
        assert first is not None and store.counts()["stats"] == 28  # all still on disk
        # Expired the moment the window passed, whether swept or not.
        assert store.lookup(fake_fp(megas=(1,))) is None
        with pytest.raises(KeyError):
            store.mailing(first)
        with pytest.raises(KeyError):
            store.mailing_of(old)
        assert store.ip("192.0.2.1") is None
        assert first not in {m.id for m in store.mailings()}
        assert store.lookup(fake_fp(megas=(1027,))) is not None
        with store.session() as s:
            # A rerun within a window of the expiry finds the message seen, and files nothing.
            assert s.add(old, fake_fp(megas=(1, 2))) is None
            # Another copy of its text starts a new mailing: the old one is gone.
            assert s.add(mail(2, "x", source_ip="192.0.2.1"), fake_fp(megas=(1, 2))) \
                not in (None, first)
        assert s.summary.duplicates == 1 and s.summary.added == 1
        assert store.ip("192.0.2.1").messages == 1  # type: ignore[union-attr]
        with store.session() as s:
            for hour in range(28, 60):  # another window and more: the tombstone is over
                s.add(mail(100 + hour, f"z{hour}", date=T0 + timedelta(hours=hour)),
                      fake_fp(megas=(1000 + hour,)))
            assert s.add(old, fake_fp(megas=(1, 2))) is not None  # new to the store again
        assert s.summary.added == 33


def test_a_merge_that_has_left_the_window_leaves_a_sound_store(tmp_path: pathlib.Path) -> None:
    from shingles.store.check import check

    settings = StoreSettings(seed=DEFAULT_SEED, retention_days=1, batch_size=5)
    with Store(tmp_path / "s", settings=settings) as store:
        with store.session() as s:
            a = s.add(mail(1, "a"), fake_fp(megas=(1, 2)))
            b = s.add(mail(2, "b"), fake_fp(megas=(3, 4)))
            s.add(mail(3, "b2"), fake_fp(megas=(4, 5)))
            assert s.add(mail(4, "bridge"), fake_fp(megas=(2, 5))) == b
            for hour in range(1, 40):  # b lives on, an hour a copy; the merge grows old
                assert s.add(mail(100 + hour, f"b{hour}", date=T0 + timedelta(hours=hour)),
                             fake_fp(megas=(5,))) == b
        with store._read() as txn:  # the merge's link has gone; b still lists a as merged
            assert txn.get(a.to_bytes(8, "big"), db=store._dbs["parent"]) is None  # type: ignore[union-attr]
        assert store.mailing(b).merged == 1  # type: ignore[arg-type]
        with pytest.raises(KeyError):
            store.mailing(a)  # type: ignore[arg-type]
        assert list(check(store)) == []


def test_retention_keeps_the_store_bounded_on_an_endless_stream(tmp_path: pathlib.Path) -> None:
    settings = StoreSettings(seed=DEFAULT_SEED, retention_days=1, batch_size=200)
    entries = []
    with Store(tmp_path / "s", settings=settings) as store:
        for day in range(8):
            with store.session() as s:
                for i in range(400):  # 400 one-off messages a day, 20 apart
                    n = day * 400 + i
                    fp = fake_fp(megas=tuple(range(n * 15, n * 15 + 15)))
                    s.add(mail(n, f"m{n}", date=T0 + timedelta(days=day, seconds=216 * i),
                               source_ip=f"10.0.{n % 256}.{n // 256}"), fp)
            entries.append({**store.counts(), "stored": store.info()["messages"],
                            "tombstones": store.info()["forgotten_messages"]})
        # The newest day is kept whole; its copies still match.
        assert store.lookup(fake_fp(megas=(7 * 400 * 15,))) is not None
        assert store.lookup(fake_fp(megas=(0,))) is None
    # Without retention each day adds 6,000 mega-shingles; with it the store
    # holds the one-day window plus what the sweep has not reached yet, flat;
    # messages also keep one more day of tombstones (6 bytes each), then no more.
    for name, per_day in (("mega", 400 * 15), ("stored", 400), ("members", 400),
                          ("stats", 400), ("ips", 400), ("tombstones", 400),
                          ("messages", 2 * 400)):
        counts = [c[name] for c in entries]
        assert max(counts) <= 1.2 * per_day, (name, counts)
        assert counts[-1] <= 1.1 * counts[3], (name, counts)
    assert all(c["messages"] == c["stored"] + c["tombstones"] for c in entries)


def test_small_commits_carry_retentions_walk_to_a_later_commit(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server commits a group of a message or two every few milliseconds: each
    # database is walked once what was added since asks for MIN_WALK steps, and
    # the session's last commit walks whatever is still owed.
    from shingles.store import retention

    walks: list[tuple[str, int]] = []
    real_sweep = retention.sweep

    def counted(txn: object, dbs: dict[str, object], name: str, hour_at: int, cutoff: int,
                budget: int, hours: int = 0) -> int:
        walks.append((name, budget))
        return real_sweep(txn, dbs, name, hour_at, cutoff, budget, hours)

    monkeypatch.setattr(retention, "sweep", counted)
    settings = StoreSettings(seed=DEFAULT_SEED, retention_days=1, batch_size=2)
    with Store(tmp_path / "s", settings=settings) as store:
        with store.session() as s:
            for n in range(41):  # 20 commits of two messages, and one of one at the end
                s.add(mail(n, f"m{n}", date=T0 + timedelta(hours=n)),
                      fake_fp(megas=tuple(range(n * 15, n * 15 + 15))))
            assert s.summary.batches == 20
            assert not [w for w in walks if w[0] == "messages"]  # 40 added: 160 steps owed
            mega = [budget for name, budget in walks if name == "mega"]
            assert mega == [retention.SWEEP_FACTOR * 90 + 64] * 6  # every third commit
        assert [w for w in walks if w[0] == "messages"] == [
            ("messages", retention.SWEEP_FACTOR * 41 + 64)]
        assert [b for name, b in walks if name == "mega"][6:] == [retention.SWEEP_FACTOR * 75 + 64]
        # The hours ran 41 past the first message: the walks found the first 16 expired.
        assert store.info()["messages"] == 41 - 16


# -- matching modes --------------------------------------------------------


def test_recall_mode_glues_copies_the_paper_rule_splits(tmp_path: pathlib.Path) -> None:
    base = words(30, 200)
    copies = [mail(i, mutate(base, 0.03, seed=i)) for i in range(30)]
    distinct = [mail(100 + i, " ".join(words(400 + i, 200))) for i in range(30)]
    sizes = {}
    for mode in ("paper", "recall"):
        settings = StoreSettings(seed=DEFAULT_SEED, mode=mode)
        with Store(tmp_path / mode, settings=settings) as store:
            ids = add_all(store, copies + distinct)
            sizes[mode] = len(set(ids[:30]))
            assert len(set(ids[30:])) == 30 and not set(ids[30:]) & set(ids[:30])
    # 3% of the words changed in each copy: two copies resemble ~0.6, where the
    # pair rule fires with probability 1e-4 and 21 bands of 4 with 0.95.
    assert sizes["recall"] <= 2
    assert sizes["paper"] >= 20


def test_recall_lookup_confirms_by_resemblance(tmp_path: pathlib.Path) -> None:
    base = words(31, 200)
    settings = StoreSettings(seed=DEFAULT_SEED, mode="recall", threshold=0.5)
    with Store(tmp_path / "r", settings=settings) as store:
        [mid] = add_all(store, [mail(1, " ".join(base))])
        scheme = Scheme.from_id(store.scheme_id)
        near = fingerprint(mutate(base, 0.05, seed=2), scheme)
        far = fingerprint(mutate(base, 0.6, seed=3), scheme)
        assert store.lookup(near) == mid
        assert store.lookup(far) is None


def test_recall_finds_every_stored_message_by_its_own_fingerprint(tmp_path: pathlib.Path) -> None:
    # Each of 21 mailings shares one band of 4 min-hashes with the last message
    # and nothing else: all its bands lead to candidates it does not resemble.
    target = tuple(range(1, 85))
    with Store(tmp_path / "r", settings=StoreSettings(seed=DEFAULT_SEED, mode="recall")) as store:
        with store.session() as s:
            others = []
            for band in range(21):
                values = [10_000 * (band + 1) + i for i in range(84)]
                values[4 * band:4 * band + 4] = target[4 * band:4 * band + 4]
                others.append(s.add(mail(band, f"m{band}"),
                                    fake_fp(minhashes=tuple(values), scheme=RECALL_SCHEME)))
            last = s.add(mail(99, "last"), fake_fp(minhashes=target, scheme=RECALL_SCHEME))
        assert last is not None and last not in others and len(set(others)) == 21
        assert store.lookup(fake_fp(minhashes=target, scheme=RECALL_SCHEME)) == last


def test_a_reader_meeting_a_store_being_created_is_told_there_is_none_yet(
        tmp_path: pathlib.Path) -> None:
    # A writer creating a store makes data.mdb before its meta pages: readers that
    # poll for the first commit (a kill-and-resume watcher) see "no store yet".
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "data.mdb").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="has not committed yet"):
        Store(tmp_path / "new", readonly=True)


@pytest.mark.skipif(not keyfilter.AVAILABLE, reason="the key filter is used only compiled")
def test_key_filters_change_no_mailing_and_hold_every_stored_key(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Built after the first commit and rebuilt as they fill (room for twice what the index
    # held, no slack: after a batch or two),
    # the filters must give the mailings a store without them gives, and never lose a key.
    bases = [words(seed) for seed in range(25)]
    # Copies of 25 texts among new texts: keys found, and keys never held.
    mails = [mail(i, " ".join(bases[i % 25] if i % 2 else words(1000 + i))) for i in range(300)]
    settings = StoreSettings(seed=DEFAULT_SEED, batch_size=10)

    def run(path: pathlib.Path) -> tuple[list[int | None], dict[str, int]]:
        with Store(path, settings=settings) as opened:
            ids = add_all(opened, mails)
            filters = opened._key_filters
            counts = opened.counts()
            if keyfilter.AVAILABLE:
                assert filters is not None
                with opened._env.begin() as txn:
                    stored = [key for key, _ in txn.cursor(db=opened._dbs["mega"])]
                assert stored and all(key in filters["mega"] for key in stored)
        return ids, counts

    builds = []
    real_build = keyfilter.build

    def counted(txn: object, dbs: dict) -> dict:
        builds.append(1)
        return real_build(txn, dbs)

    monkeypatch.setattr(keyfilter, "BUILD_EVERY", 10 ** 9)
    monkeypatch.setattr(keyfilter, "ROOM", 2)
    monkeypatch.setattr(keyfilter, "SLACK", 0)
    monkeypatch.setattr(keyfilter, "build", counted)
    with_filters = run(tmp_path / "filtered")
    assert len(builds) > 2  # built once, then again as each filled up
    monkeypatch.setattr(keyfilter, "AVAILABLE", False)
    assert run(tmp_path / "plain") == with_filters
    assert len({filed(m) for m in with_filters[0]}) == 150 + 25  # the copies joined theirs


@pytest.mark.parametrize("kind", ["compiled", "python"])
def test_a_key_filter_holds_what_it_took_and_few_keys_it_never_did(kind: str) -> None:
    # The filter is sound only if it never misses a key, and worth keeping only if it
    # says "never held" for nearly every other key: ~1% at its capacity.
    compiled = keyfilter.store_loops
    if kind == "compiled" and compiled is None:
        pytest.skip("the compiled filter is not built")
    make = compiled.KeyFilter if compiled is not None and kind == "compiled" \
        else keyfilter.KeyFilterPy
    keys = [struct.pack("<Q", i * 0x9E3779B97F4A7C15 % (1 << 64)) for i in range(6000)]
    held = make(2000)
    held.update(keys[:2000])
    assert held.added == 2000 and all(key in held for key in keys[:2000])
    false = sum(key in held for key in keys[2000:]) / 4000
    assert false < 0.02
    assert sum(bytes([n % 256]) + key in held for n, key in enumerate(keys[:400])) < 10
