"""Store record layouts: round trips, merges, and version-1 bytes that must keep loading."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from shingles.errors import StoreFormatError
from shingles.store.layout import (
    EXACT_CAP,
    HOUR_AT,
    DistinctCounter,
    IpCounters,
    Stats,
    pack_index,
    pack_member,
    pack_message,
    unpack_index,
    unpack_message,
)

# Written by the first release (record version 1); a later layout must still read them.
LEGACY_STATS = bytes.fromhex(
    "0101000000000000000000000000f153650000000000f15365000000009e340700010000000000000000"
    "000000000000000100000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000010000000000000001"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000010000"
    "000000000000000000000107000000000000000001080000000000000000010900000000000000010665"
    "782e636f6d01000000000000000453616c65053c3140783e")
LEGACY_INDEX = bytes.fromhex("0105000000000000009e340700")
LEGACY_MESSAGE = bytes.fromhex("0105000000000000009e340700053c3140783e05626f783a33")
LEGACY_IP = bytes.fromhex("01030000000100000002000000c03307009e340700")


def test_version_1_records_still_load() -> None:
    stats = Stats.unpack(LEGACY_STATS)
    assert (stats.size, stats.first_seen, stats.touched) == (1, 1_700_000_000, 472_222)
    assert stats.spf[0] == 1 and stats.dmarc[1] == 1 and stats.bulk[2] == 1
    assert stats.ips.exact == {7} and stats.nets.exact == {8} and stats.rcpts.exact == {9}
    assert stats.domains == {"ex.com": 1} and stats.subject == "Sale"
    assert stats.message_id == "<1@x>"
    assert stats.auth_nets.count() == stats.anon_nets.count() == 0  # not kept in version 1
    # Written back as version 2: the version-1 layout, then the per-identity networks.
    repacked = stats.pack()
    assert repacked[0] == 2 and repacked[1:len(LEGACY_STATS)] == LEGACY_STATS[1:]
    assert Stats.unpack(repacked).pack() == repacked
    assert unpack_index(LEGACY_INDEX) == (5, 472_222)
    assert unpack_message(LEGACY_MESSAGE) == (5, 472_222, "<1@x>", "box:3")
    assert IpCounters.unpack(LEGACY_IP) == IpCounters(3, 1, 2, 472_000, 472_222)


def test_retention_reads_each_records_hour_where_it_is() -> None:
    def hour(name: str, data: bytes) -> int:
        return int(struct.unpack_from("<I", data, HOUR_AT[name])[0])

    assert hour("stats", LEGACY_STATS) == 472_222
    assert hour("mega", LEGACY_INDEX) == hour("parent", LEGACY_INDEX) == 472_222
    assert hour("messages", LEGACY_MESSAGE) == 472_222
    assert hour("ips", LEGACY_IP) == 472_222
    assert hour("members", pack_member(472_222)) == 472_222


def test_an_unknown_record_version_is_a_clear_error() -> None:
    with pytest.raises(StoreFormatError, match="version 2"):
        unpack_index(b"\x02" + LEGACY_INDEX[1:])
    with pytest.raises(StoreFormatError, match="version 9"):
        Stats.unpack(b"\x09" + LEGACY_STATS[1:])


@given(st.text(max_size=300), st.text(max_size=300))
def test_strings_are_cut_at_a_character_boundary(message_id: str, source: str) -> None:
    _, _, got_id, got_source = unpack_message(pack_message(1, 2, message_id, source))
    assert message_id.encode("utf-8", "replace").startswith((got_id or "").encode())
    assert len(got_source.encode()) <= 255
    assert pack_index(1, 2) == pack_message(1, 2, None, "")[:13]


facts = st.fixed_dictionaries({
    "seen": st.integers(0, 2**40), "hour": st.integers(0, 2**32 - 1),
    "ip": st.none() | st.integers(0, 2**64 - 1), "net": st.none() | st.integers(0, 2**64 - 1),
    "domain": st.none() | st.sampled_from([f"d{i}.example" for i in range(12)]),
    "recipients": st.lists(st.integers(0, 2**64 - 1), max_size=3),
    "spf": st.none() | st.sampled_from(["pass", "fail", "bogus"]),
    "dkim": st.none() | st.just("pass"), "dmarc": st.none() | st.just("fail"),
    "bulk_signs": st.sets(st.sampled_from(["list-id", "feedback-id", "x-other"])),
})


@given(st.lists(facts, min_size=1, max_size=60), st.integers(1, 59))
def test_stats_round_trip_and_merging_equals_counting_together(
        messages: list[dict[str, Any]], split: int) -> None:
    together, first, second = Stats("s"), Stats("s"), Stats("t")
    for i, fact in enumerate(messages):
        together.count_message(**fact)
        (first if i < split else second).count_message(**fact)
    again = Stats.unpack(together.pack())
    assert again.pack() == together.pack()
    if second.size:
        first.merge(second)
    assert (first.size, first.recipients, first.spf, first.dkim, first.bulk) == (
        together.size, together.recipients, together.spf, together.dkim, together.bulk)
    assert first.ips.count() == together.ips.count() or together.ips.estimated
    assert sum(first.domains.values()) + first.other_domains == sum(
        1 for m in messages if m["domain"])


def test_distinct_counter_is_exact_to_the_cap_and_merges_sketches() -> None:
    a, b = DistinctCounter(), DistinctCounter()
    for value in range(EXACT_CAP):
        a.add(xxhash.xxh3_64_intdigest(str(value).encode()))
    assert a.count() == EXACT_CAP and not a.estimated
    for value in range(5000):
        b.add(xxhash.xxh3_64_intdigest(str(value + 10**6).encode()))
    b2, _ = DistinctCounter.unpack(b.pack(), 0)
    assert b2.count() == b.count() and b.estimated
    assert abs(b.count() - 5000) < 0.2 * 5000
    a.merge(b)
    assert abs(a.count() - 5032) < 0.2 * 5032


def test_merging_keeps_every_counter_and_the_domain_overflow() -> None:
    # Each side counts ten domains (two past the top 8 go to the overflow); the merge
    # must keep complaints, traps and every domain message, ranked or overflowed.
    first, second = Stats("s"), Stats("t")
    for stats, prefix in ((first, "a"), (second, "b")):
        for i in range(10):
            for _ in range(10 - i):
                stats.count_message(seen=1000, hour=1, ip=None, net=None,
                                    domain=f"{prefix}{i}.example", recipients=[], spf=None,
                                    dkim=None, dmarc=None, bulk_signs=[])
    first.complaints, first.traps = 3, 5
    second.complaints, second.traps = 7, 11
    assert first.other_domains == second.other_domains == 2 + 1
    first.merge(second)
    assert (first.complaints, first.traps) == (10, 16)
    assert first.size == 2 * 55
    assert sum(first.domains.values()) + first.other_domains == 2 * 55
    # The 8 kept are the most frequent of both sides: a0..a3 and b0..b3 (10, 9, 8, 7 each).
    assert sorted(first.domains) == sorted(f"{p}{i}.example" for p in "ab" for i in range(4))
    again = Stats.unpack(first.pack())
    assert (again.complaints, again.traps, again.other_domains) == (10, 16, first.other_domains)


@given(st.lists(st.integers(0, 84), min_size=1, max_size=5),
       st.sampled_from([0.5, 0.6, 0.75, 1.0]), st.randoms(use_true_random=False))
def test_resembles_when_one_representative_agrees_in_threshold_of_the_places(
        agreements: list[int], threshold: float, rnd: Any) -> None:
    from shingles.store.keys import resembles

    mine = [rnd.getrandbits(64) for _ in range(84)]
    reps = b"\x01"
    for agree in agreements:  # the first `agree` places equal, the others new values
        reps += struct.pack("<84Q", *(m if i < agree else m ^ (1 + rnd.getrandbits(63))
                                      for i, m in enumerate(mine)))
    wanted = max(agreements) >= threshold * 84
    assert resembles(reps, struct.pack("<84Q", *mine), threshold) is wanted
    assert not resembles(b"", struct.pack("<84Q", *mine), threshold)
