"""The engine configurations the harness compares, and the one loop that files mail into a store.

An Engine is a fingerprint scheme, an optional I-Match lexicon and store
settings; every run (recall, false merges, effectiveness, speed) files its
messages through `Engine.file` into a throw-away store, so all of them measure
the same path: parsed Mail -> fingerprint -> Store.add.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from shingles import Lexicon, LexiconSettings, Scheme, fingerprint
from shingles.fingerprint import Fingerprint
from shingles.mail.records import Mail
from shingles.scheme import DEFAULT_SCHEME
from shingles.store.reader import RECALL_SCHEME, Store
from shingles.config import StoreSettings

__all__ = ["Engine", "ENGINES", "TUNING", "corpus_lexicon", "scratch_dir"]

#: Throw-away stores go to memory when it can: fsync there costs nothing, so the
#: recall and false-merge runs measure matching, not the disk.
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None


@contextlib.contextmanager
def scratch_dir(prefix: str = "shingles-bench.") -> Iterator[str]:
    """Yield a temporary folder (in memory when possible), removed afterwards."""
    path = tempfile.mkdtemp(prefix=prefix, dir=SCRATCH)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@functools.lru_cache(maxsize=4)
def corpus_lexicon(sub_lexicons: int = 10, scheme: Scheme = DEFAULT_SCHEME) -> Lexicon:
    """Return an I-Match lexicon built from every corpus message (sender domain as source)."""
    from bench.generator import corpus_mails

    docs = [(mail.text, mail.from_domain) for _, mail in corpus_mails()]
    return Lexicon.build(docs, scheme, LexiconSettings(sub_lexicons=sub_lexicons))


@dataclasses.dataclass(frozen=True)
class Engine:
    """One configuration under test.

    Attributes:
        name: How tables and plots call it.
        settings: Store matching mode and parameters.
        imatch: Whether fingerprints carry I-Match signatures (lexicon of the corpus, K = 10).
        scheme: Fingerprint scheme.
    """

    name: str
    settings: StoreSettings = StoreSettings()
    imatch: bool = False
    scheme: Scheme = DEFAULT_SCHEME

    @property
    def lexicon(self) -> Lexicon | None:
        """Return the lexicon the engine's fingerprints use, or None."""
        return corpus_lexicon(10, self.scheme) if self.imatch else None

    def describe(self) -> str:
        """Return the settings that decide matching, in one line."""
        return (f"{self.settings.matching}; w={self.scheme.window}; "
                f"I-Match {'K=10' if self.imatch else 'off'}")

    def fingerprints(self, texts: Iterable[str]) -> list[Fingerprint]:
        """Return the fingerprints of texts under this engine's scheme and lexicon."""
        lexicon = self.lexicon
        return [fingerprint(t, self.scheme, lexicon) for t in texts]

    def open(self, path: str) -> Store:
        """Return a new store at path with this engine's settings (retention off)."""
        settings = dataclasses.replace(self.settings, retention_days=0)
        return Store(path, scheme=self.scheme, lexicon=self.lexicon, settings=settings)

    def file(self, store: Store, mails: list[Mail], fps: list[Fingerprint] | None = None
             ) -> list[int | None]:
        """Return the final mailing (root id) of each message after filing them all in order."""
        fps = fps if fps is not None else self.fingerprints(m.text for m in mails)
        with store.session() as session:
            for mail, fp in zip(mails, fps):
                session.add(mail, fp)
        # Roots move as mailings merge: ask for each message's mailing only at the end.
        return [store.mailing_of(mail) for mail in mails]


ENGINES = (
    Engine("paper"),
    Engine("paper+imatch", imatch=True),
    # The recall mode as a new store makes it: 2-word shingles (store.RECALL_SCHEME).
    Engine("recall", StoreSettings(mode="recall"), scheme=RECALL_SCHEME),
    Engine("recall w=4", StoreSettings(mode="recall")),
    # The tried setting closest to every recall target (see TUNING): what it costs
    # in false merges shows beside the default.
    Engine("recall 28x3 t=0.45", StoreSettings(mode="recall", bands=28, rows=3, threshold=0.45),
           scheme=RECALL_SCHEME),
)

#: Recall-mode settings tried against the targets (the "tune" part): (window, bands,
#: rows, threshold, representatives).
TUNING = tuple(
    Engine(f"recall w={w} {b}x{r} t={t}" + (f" reps={k}" if k != 3 else ""),
           StoreSettings(mode="recall", bands=b, rows=r, threshold=t, representatives=k),
           scheme=Scheme(window=w))
    for w, b, r, t, k in ((4, 21, 4, 0.5, 3), (4, 21, 4, 0.4, 3), (4, 28, 3, 0.3, 3),
                          (4, 42, 2, 0.3, 3), (4, 42, 2, 0.27, 3), (4, 42, 2, 0.25, 3),
                          (4, 42, 2, 0.25, 1), (4, 42, 2, 0.2, 3),
                          (3, 21, 4, 0.4, 3), (2, 21, 4, 0.5, 3), (2, 21, 4, 0.45, 3),
                          (2, 21, 4, 0.42, 3), (2, 28, 3, 0.45, 3), (2, 28, 3, 0.4, 3),
                          (2, 42, 2, 0.45, 3))
)
