"""Release check: does a new configuration or lexicon move legitimate mail's scores?

A new I-Match lexicon, scheme parameter or threshold can change many verdicts at
once, and an attacker who poisoned the data a lexicon was built from wants
exactly that: legitimate mail whose I-Match signatures collide with spam is filed
into spam mailings and judged with them. Before the new one goes live, the same
stream is replayed through the old and the new one (each into a fresh temporary
store), and the two score distributions on legitimate mail are compared by their
Wasserstein (earth mover's) distance. How far is too far is measured, not
guessed: the old scores are resampled (bootstrap) and the distances between pairs
of resamples say how much two looks at the same mail differ by chance alone.

Legitimate mail is what a labels file says is not spam, or without labels what
the old configuration did not judge spam (bulk-spam, suspicious-source).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

import numpy
from scipy.stats import wasserstein_distance

from shingles.config import Config, ReleaseSettings, StoreSettings
from shingles.lexicon import Lexicon
from shingles.mail.read import RawMessage, parse_record
from shingles.mail.records import MailError
from shingles.scheme import DEFAULT_SCHEME, Scheme
from shingles.store.reader import RECALL_SCHEME, Store, keyed
from shingles.verdicts.engine import Engine, Verdict

__all__ = ["Changed", "ReleaseReport", "Side", "SPAM_VERDICTS", "plot", "read_labels",
           "release_check", "replay"]

#: Verdicts that count as "judged spam" when no labels are given.
SPAM_VERDICTS = frozenset({"bulk-spam", "suspicious-source"})
#: Labels (in a labels file) that mark spam; every other label is legitimate mail.
SPAM_LABELS = frozenset({"spam", "bulk-spam"})


@dataclasses.dataclass(frozen=True)
class Side:
    """One configuration under test.

    Attributes:
        config: Its settings (thresholds, trusted zone ...).
        lexicon: Its I-Match lexicon, or None.
        scheme: Its fingerprint scheme; None: the one release_check is given.
        store_settings: Its matching mode and parameters; None: release_check's.
    """

    config: Config
    lexicon: Lexicon | None = None
    scheme: Scheme | None = None
    store_settings: StoreSettings | None = None


@dataclasses.dataclass(frozen=True)
class Changed:
    """A message whose verdict differs between the old and the new configuration."""

    source: str
    message_id: str | None
    legitimate: bool
    old: str
    new: str
    old_score: float
    new_score: float

    def to_json(self) -> dict[str, Any]:
        """Return the change as JSON-ready data."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ReleaseReport:
    """What a release check found.

    Attributes:
        passed: Whether the new configuration may go live.
        distance: Wasserstein distance between old and new scores of legitimate mail.
        limit: The most distance that passes: the bootstrap quantile or the
            tolerance, whichever is larger.
        bootstrap_median: Median old-vs-old distance over the resamples.
        bootstrap_quantile: The settings' quantile of those distances.
        messages: Messages judged by both configurations.
        legitimate: Of these, legitimate mail (the scores compared).
        labelled: Whether legitimacy came from a labels file.
        old_scores: Old scores of legitimate mail, in stream order.
        new_scores: New scores of the same messages.
        changed: Every message whose verdict changed, in stream order.
    """

    passed: bool
    distance: float
    limit: float
    bootstrap_median: float
    bootstrap_quantile: float
    messages: int
    legitimate: int
    labelled: bool
    old_scores: tuple[float, ...]
    new_scores: tuple[float, ...]
    changed: tuple[Changed, ...]

    def summary(self) -> dict[str, Any]:
        """Return the figures (everything but the per-message lists) as JSON-ready data."""
        legit_changed = sum(c.legitimate for c in self.changed)
        return {"passed": self.passed, "distance": round(self.distance, 6),
                "limit": round(self.limit, 6),
                "bootstrap_median": round(self.bootstrap_median, 6),
                "bootstrap_quantile": round(self.bootstrap_quantile, 6),
                "messages": self.messages, "legitimate": self.legitimate,
                "labelled": self.labelled, "changed": len(self.changed),
                "legitimate_changed": legit_changed}


def replay(raws: Sequence[RawMessage], side: Side, settings: StoreSettings,
           scheme: Scheme | None = None) -> list[Verdict | MailError]:
    """Return the verdict (or parse error) of each raw message, scanned into a fresh store.

    The store lives in a temporary folder removed afterwards, so a replay never
    touches the live store and two replays never see each other's mailings.
    """
    records = (parse_record(raw, side.config) for raw in raws)
    scheme = side.scheme or scheme
    settings = side.store_settings or settings
    with tempfile.TemporaryDirectory(prefix="shingles-release-") as folder:
        with Store(os.path.join(folder, "store"), scheme=scheme, lexicon=side.lexicon,
                   settings=settings) as store:
            engine = Engine(store, side.config, scheme=scheme, lexicon=side.lexicon)
            return list(engine.scan(records))  # type: ignore[arg-type]


def _bootstrap(scores: numpy.ndarray, settings: ReleaseSettings) -> numpy.ndarray:
    """Return old-vs-old distances: between pairs of resamples (with replacement) of scores."""
    rng = numpy.random.default_rng(settings.seed)
    n = len(scores)
    return numpy.array([wasserstein_distance(rng.choice(scores, n), rng.choice(scores, n))
                        for _ in range(settings.resamples)])


def release_check(raws: Sequence[RawMessage], old: Side, new: Side, *,
                  store_settings: StoreSettings = StoreSettings(),
                  scheme: Scheme | None = None, labels: dict[str, str] | None = None,
                  settings: ReleaseSettings = ReleaseSettings()) -> ReleaseReport:
    """Return the release check of new against old on the stream raws.

    Args:
        raws: The stream, replayed through each side in order.
        old: The configuration and lexicon live now.
        new: The candidate.
        store_settings: Matching mode of both temporary stores (the live store's).
        scheme: Fingerprint scheme of both (the live store's); None: the default.
        labels: Message-ID (as written, angle brackets or not) -> label; messages
            whose label is not "spam" are legitimate, unlabelled ones are left out.
            None: legitimate is what old did not judge spam.
        settings: Resamples, quantile and tolerance.

    Raises:
        ValueError: if the stream has no legitimate message to compare.
    """
    if scheme is None:
        # Both replays fingerprint with one seed (a new store would draw its own secret
        # seed, and two draws would make the sides differ by chance); a side's lexicon
        # still brings its own.
        seed = store_settings.seed if store_settings.seed is not None else secrets.randbits(64)
        base = RECALL_SCHEME if store_settings.mode == "recall" else DEFAULT_SCHEME
        old, new = (side if side.scheme else dataclasses.replace(
            side, scheme=keyed(base, seed, side.lexicon)) for side in (old, new))
    before = replay(raws, old, store_settings, scheme)
    after = replay(raws, new, store_settings, scheme)
    wanted = {_mid(k): v for k, v in labels.items()} if labels is not None else None
    old_scores, new_scores, changed = [], [], []
    judged = 0
    for a, b in zip(before, after):
        if not isinstance(a, Verdict) or not isinstance(b, Verdict):
            continue
        judged += 1
        if wanted is None:
            legitimate = a.verdict not in SPAM_VERDICTS
        else:
            label = wanted.get(_mid(a.message_id)) if a.message_id else None
            legitimate = label is not None and label.lower() not in SPAM_LABELS
        if legitimate:
            old_scores.append(a.score)
            new_scores.append(b.score)
        if a.verdict != b.verdict:
            changed.append(Changed(a.source, a.message_id, legitimate, a.verdict, b.verdict,
                                   a.score, b.score))
    if not old_scores:
        raise ValueError("no legitimate message in the stream to compare scores on")
    olds = numpy.array(old_scores)
    distance = float(wasserstein_distance(olds, numpy.array(new_scores)))
    chance = _bootstrap(olds, settings)
    quantile = float(numpy.quantile(chance, settings.quantile))
    limit = max(quantile, settings.tolerance)
    return ReleaseReport(
        passed=distance <= limit, distance=distance, limit=limit,
        bootstrap_median=float(numpy.median(chance)), bootstrap_quantile=quantile,
        messages=judged, legitimate=len(old_scores), labelled=labels is not None,
        old_scores=tuple(old_scores), new_scores=tuple(new_scores), changed=tuple(changed))


def _mid(message_id: str) -> str:
    return message_id.strip().strip("<>").lower()


def read_labels(lines: Iterable[str]) -> dict[str, str]:
    """Return Message-ID -> label from a labels file; raise ValueError on a bad line.

    Each line is either JSON (an object with "message_id" and "label", as the
    bench's labelled streams give) or "MESSAGE-ID LABEL" separated by white
    space; blank lines and lines starting with # are skipped.
    """
    out = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                record = json.loads(line)
                out[str(record["message_id"])] = str(record["label"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"labels line {number}: {exc}") from None
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"labels line {number}: want 'MESSAGE-ID LABEL', got {line!r}")
        out[parts[0]] = parts[1]
    return out


def plot(report: ReleaseReport, path: str) -> None:
    """Write a histogram of both score distributions to path (PNG, SVG, PDF by its suffix).

    Raises:
        ImportError: if matplotlib is not installed (pip install 'shingles[plot]').
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the release-check plot needs matplotlib: "
                          "pip install 'shingles[plot]'") from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    bins = [i / 20 for i in range(21)]
    axes.hist(report.old_scores, bins=bins, alpha=0.6, label="old")
    axes.hist(report.new_scores, bins=bins, alpha=0.6, label="new")
    axes.set_xlabel("score (0 wanted, 1 spam)")
    axes.set_ylabel(f"legitimate messages (of {report.legitimate})")
    verdict = "pass" if report.passed else "FAIL"
    axes.set_title(f"release check: {verdict}, distance {report.distance:.4f} "
                   f"(limit {report.limit:.4f})")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
