"""False merges: distinct real messages the engine glues into one mailing, and thread replies.

Every corpus message (ham and spam), exact duplicates removed (same word count
and the same 84 min-hashes, see generator.distinct_mails), is filed into one
store per engine in corpus order. Every pair of messages that ends in one
mailing is a glued pair; the share is over all pairs. Not every glued pair is
false: the corpus holds real mailings (spam re-sent with small changes, items of
one RSS-to-mail feed). So each glued pair is classed by the estimated
resemblance r of the two texts (share of equal min-hashes): r >= 0.5 is a
near-duplicate (as alike as copies with ~10% of words changed), 0.2 <= r < 0.5
a loose match (a template or a long shared part), r < 0.2 texts that share
little (glued through a chain of others, or by I-Match alone), and pairs with
a text too short for min-hashes (glued by I-Match alone). "False merges" in
the tables are the last two classes; pairs of a ham and a spam message are
counted apart (surely false). The lowest-r pairs are listed for inspection.

Threads: a ham message from a mailing list (List-Id, List-Unsubscribe or
Precedence: list/bulk) with an earlier message of its thread in the set
(threads from Message-ID, In-Reply-To and References) counts as glued when it
shares a mailing with any earlier message of its thread.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy

from bench.engines import Engine, scratch_dir
from bench.generator import distinct_mails
from shingles.mail.records import Mail

CLASSES = ("near-duplicate r>=0.5", "loose 0.2<=r<0.5", "little shared r<0.2", "no min-hashes")
LIST_SIGNS = frozenset(("list-id", "list-unsubscribe", "precedence-bulk"))


def _threads(mails: list[Mail]) -> list[int]:
    """Return a thread number per message (union of Message-ID, In-Reply-To, References)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keys = []
    for n, mail in enumerate(mails):
        own = mail.message_id or f"#{n}"
        keys.append(own)
        for other in (*mail.references, *([mail.in_reply_to] if mail.in_reply_to else [])):
            parent[find(other)] = find(own)
    roots: dict[str, int] = {}
    return [roots.setdefault(find(k), len(roots)) for k in keys]


def thread_figure(mails: list[Mail], ids: list[int | None]) -> dict[str, Any]:
    """Return how many list posts with an earlier post of their thread are glued to one."""
    threads = _threads(mails)
    earlier: dict[int, set[int]] = defaultdict(set)  # thread -> mailings of earlier posts
    eligible = glued = 0
    examples = []
    for n, mail in enumerate(mails):
        t = threads[n]
        is_post = bool(mail.bulk_signs & LIST_SIGNS) and (mail.in_reply_to or mail.references)
        if is_post and t in earlier:
            eligible += 1
            if ids[n] is not None and ids[n] in earlier[t]:
                glued += 1
                if len(examples) < 10:
                    examples.append(mail.subject[:70])
        if ids[n] is not None:
            earlier[t].add(ids[n])
        else:
            earlier.setdefault(t, set())
    # Any list post (thread or not) filed into a mailing an earlier message is in.
    seen: set[int] = set()
    posts = posts_glued = 0
    for n, mail in enumerate(mails):
        if mail.bulk_signs & LIST_SIGNS and (mail.in_reply_to or mail.references):
            posts += 1
            posts_glued += ids[n] is not None and ids[n] in seen
        if ids[n] is not None:
            seen.add(ids[n])  # type: ignore[arg-type]
    return {"posts_with_earlier_thread_post": eligible, "glued": glued,
            "share": glued / eligible if eligible else 0.0, "examples": examples,
            "list_posts": posts, "list_posts_glued_to_an_earlier_message": posts_glued,
            "list_posts_share": posts_glued / posts if posts else 0.0}


def _classify(r: float | None) -> str:
    if r is None:
        return CLASSES[3]
    return CLASSES[0] if r >= 0.5 else CLASSES[1] if r >= 0.2 else CLASSES[2]


def glued_pairs(ids: list[int | None], minhashes: list[bytes]) -> list[tuple[int, int, float | None]]:
    """Return (i, j, estimated resemblance or None) for every pair sharing a mailing."""
    clusters: dict[int, list[int]] = defaultdict(list)
    for n, mailing in enumerate(ids):
        if mailing is not None:
            clusters[mailing].append(n)
    out: list[tuple[int, int, float | None]] = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        signed = [m for m in members if minhashes[m]]
        if signed:
            matrix = numpy.stack([numpy.frombuffer(minhashes[m], "<u8") for m in signed])
            same = (matrix[:, None, :] == matrix[None, :, :]).mean(axis=2)
            position = {m: k for k, m in enumerate(signed)}
        for i, j in itertools.combinations(members, 2):
            both = minhashes[i] and minhashes[j]
            out.append((i, j, float(same[position[i], position[j]]) if both else None))
    return out


def run(engines: list[Engine], progress: Any = None, examples: int = 12) -> dict[str, Any]:
    """Return, per engine, glued pairs by class with examples, the largest mailings, threads."""
    found = distinct_mails()
    sources = [s for s, _, _ in found]
    mails = [m for _, m, _ in found]
    total = len(mails) * (len(mails) - 1) // 2
    out: dict[str, Any] = {"messages": len(mails), "pairs": total, "engines": {}}
    task = progress.add_task("false merges", total=len(engines)) if progress else None
    for engine in engines:
        fps = engine.fingerprints(m.text for m in mails)
        with scratch_dir() as folder, engine.open(folder) as store:
            ids = engine.file(store, mails, fps)
        pairs = glued_pairs(ids, [fp.minhash_bytes for fp in fps])
        counts = dict.fromkeys(CLASSES, 0)
        mixed = 0  # a ham message glued to a spam message: surely false
        for i, j, r in pairs:
            counts[_classify(r)] += 1
            mixed += sources[i][:4] != sources[j][:4]
        lowest = sorted(pairs, key=lambda p: (p[2] is not None, p[2] or 0.0))[:examples]
        sizes: dict[int, list[int]] = defaultdict(list)
        for n, mailing in enumerate(ids):
            if mailing is not None:
                sizes[mailing].append(n)
        largest = sorted((v for v in sizes.values() if len(v) > 1), key=len, reverse=True)[:8]
        glued_messages = sum(len(v) for v in sizes.values() if len(v) > 1)
        out["engines"][engine.name] = {
            "describe": engine.describe(),
            "glued_pairs": len(pairs), "share_of_pairs": len(pairs) / total,
            "messages_in_glued_mailings": glued_messages,
            "by_class": counts,
            "false_merges": counts[CLASSES[2]] + counts[CLASSES[3]],
            "ham_with_spam_pairs": mixed,
            "lowest_examples": [
                {"a": sources[i], "b": sources[j], "r": r, "class": _classify(r),
                 "subject_a": mails[i].subject[:60], "subject_b": mails[j].subject[:60]}
                for i, j, r in lowest],
            "largest_mailings": [
                {"size": len(v), "subject": mails[v[0]].subject[:60],
                 "sources": [sources[k] for k in v[:4]]} for v in largest],
            "threads": thread_figure(mails, ids),
        }
        if progress:
            progress.advance(task)
    return out
