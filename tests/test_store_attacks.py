"""Attacks on the store's clustering: a crafted chain that glues two mailings, and
fingerprints computed offline (issue 13, item 5)."""

from __future__ import annotations

import pathlib
import random
from datetime import datetime, timedelta, timezone

import pytest

from shingles.config import Mode, StoreSettings, load_config
from shingles.fingerprint import fingerprint
from shingles.scheme import DEFAULT_SCHEME, DEFAULT_SEED, Scheme
from shingles.store.reader import Store
from shingles.store.writer import Session

from .test_store import FakeMail  # type: ignore[import-not-found]  # tests is no package

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
VOCABULARY = [a + b + c for a in "bdfgklmnprst" for b in "aeiou" for c in "lmnrstvz"]


def text_of(seed: int, n: int = 200) -> list[str]:
    rnd = random.Random(seed)
    return [rnd.choice(VOCABULARY) for _ in range(n)]


def chain(start: list[str], end: list[str], scheme: Scheme) -> list[str]:
    """Return texts that walk start into end a word at a time, each sharing a
    mega-shingle with the one before: what an attacker who can fingerprint
    offline (a public or leaked seed) crafts."""
    steps: list[str] = []
    current = list(start)
    previous = set(fingerprint(" ".join(current), scheme).megashingles)
    for _ in range(20):  # passes; the scheme's seed is fixed, so this always ends alike
        if current == end:
            return steps
        for i, word in enumerate(end):
            if current[i] == word:
                continue
            candidate = current[:i] + [word] + current[i + 1:]
            megas = set(fingerprint(" ".join(candidate), scheme).megashingles)
            if megas & previous:  # else leave this word for a later pass
                current, previous = candidate, megas
                steps.append(" ".join(current))
    raise AssertionError("no chain: some word cannot change without losing every mega-shingle")


@pytest.mark.parametrize("mode", ["paper", "recall"])
def test_a_crafted_chain_does_not_glue_a_newsletter_to_a_spam_run(
        tmp_path: pathlib.Path, mode: Mode) -> None:
    news, spam = text_of(1), text_of(2)
    # The attacker knows the seed here (a leaked or public one): the merge rule must
    # hold on its own.
    settings = StoreSettings(mode=mode, seed=DEFAULT_SEED)
    with Store(tmp_path / mode, settings=settings) as store:
        scheme = store.scheme
        links = chain(news, spam, scheme)
        assert len(links) >= 150

        def add(s: Session, n: int, text: str) -> int | None:
            msg = FakeMail(f"m:{n}", f"<{n}@x>", text=text, date=T0 + timedelta(seconds=n))
            return s.add(msg, fingerprint(text, scheme))

        with store.session() as s:
            (newsletter,) = {add(s, n, " ".join(news)) for n in range(5)}
            (run,) = {add(s, 100 + n, " ".join(spam)) for n in range(5)}
            joined = [add(s, 1000 + n, text) for n, text in enumerate(links)]
        assert newsletter is not None and run is not None
        assert store.mailing(newsletter).id != store.mailing(run).id
        if mode == "paper":
            # Every link met the one before, so the chain grew the newsletter's mailing
            # until its texts came close to the spam's and met the spam run too: each
            # bridge joined the run it resembles, and the merge was refused (the links
            # after it met the run alone).
            assert set(joined) == {newsletter, run} and joined[0] == newsletter
            bridges = [n for n, mailing in enumerate(joined) if mailing == run]
            refused = store.merges(run)
            assert bridges == list(range(bridges[0], len(links))) and len(refused) == 1
            assert (refused[0]["other"], refused[0]["merged"]) == (newsletter, False)
            assert refused[0]["message_id"] == f"<{1000 + bridges[0]}@x>"
        # A trap hit on the spam run stays with the spam run.
        store.bump(run, traps=1)
        assert store.mailing(newsletter).traps == 0 and store.mailing(run).traps == 1


def test_a_new_store_fingerprints_with_a_secret_seed_of_its_own(tmp_path: pathlib.Path) -> None:
    with Store(tmp_path / "one") as one, Store(tmp_path / "two") as two:
        seeds = {one.scheme.seed, two.scheme.seed}
    assert len(seeds) == 2 and DEFAULT_SEED not in seeds
    with Store(tmp_path / "one") as again:  # kept in the store
        assert again.scheme.seed in seeds
    # Fingerprints made offline with the public scheme do not fit it.
    from shingles.errors import SchemeMismatchError

    with Store(tmp_path / "one") as store, pytest.raises(SchemeMismatchError):
        store.add(FakeMail("m", "<m@x>", text="text"), fingerprint(" ".join(text_of(6)), DEFAULT_SCHEME))


def test_installations_that_share_signatures_set_the_seed_in_the_config(
        tmp_path: pathlib.Path) -> None:
    config = tmp_path / "shared.toml"
    config.write_text('[store]\nseed = "0x0123456789abcdef"\n')
    settings = load_config(str(config)).store
    assert settings.seed == 0x0123456789ABCDEF
    with Store(tmp_path / "a", settings=settings) as a, Store(tmp_path / "b", settings=settings) as b:
        assert a.scheme == b.scheme and a.scheme.seed == 0x0123456789ABCDEF
        text = " ".join(text_of(7))
        assert fingerprint(text, a.scheme).megashingles == fingerprint(text, b.scheme).megashingles
    config.write_text('[store]\nseed = "lots"\n')
    from shingles.errors import ConfigError

    with pytest.raises(ConfigError, match="seed"):
        load_config(str(config))
