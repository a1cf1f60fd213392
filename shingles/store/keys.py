"""Index keys and the matching rule: what a fingerprint is filed under, and when
a candidate mailing counts as the same.

Mode "paper" files a message under its mega-shingles (the paper's rule: one
shared mega-shingle means near-duplicates) and its I-Match signatures. Mode
"recall" files it under LSH band hashes of its min-hashes instead; a band key
only names a candidate, which must agree with one of the mailing's stored
representatives in ``threshold`` of its min-hash places (``resembles``).

``message_key`` is the key of the message itself, which makes filing idempotent,
and ``network`` the /24 (/48) an IP counts under.

The module imports neither numpy nor LMDB: the archive job (shingles.spark) runs
it on executors that need only the parser and the fingerprint core.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import struct
from typing import TYPE_CHECKING, NamedTuple

import xxhash

from shingles.config import StoreSettings
from shingles.fingerprint import Fingerprint
from shingles.scheme import NUM_PERM
from shingles.store.layout import unpack_reps

if TYPE_CHECKING:
    from shingles.store.views import MailLike

__all__ = ["IndexKeys", "bridges", "keys_of", "message_key", "network", "representative",
           "resembles"]

_SIG = struct.Struct("<Q")
_MINHASHES = struct.Struct(f"<{NUM_PERM}Q")


class IndexKeys(NamedTuple):
    """A fingerprint's index keys, by the database that holds them.

    Mega-shingle and I-Match keys match outright; LSH band keys name candidates
    that must be confirmed. Keys are the signatures' own little-endian bytes:
    they are hashes, so their order means nothing and slicing the packed
    arrays costs no conversion.
    """

    mega: tuple[bytes, ...]
    imatch: tuple[bytes, ...]
    band: tuple[bytes, ...]

    def groups(self) -> tuple[tuple[str, tuple[bytes, ...]], ...]:
        """Return (database, keys) of each database with keys, in field order."""
        return tuple((name, keys) for name, keys in zip(self._fields, self) if keys)


NO_KEYS = IndexKeys((), (), ())


@functools.lru_cache(maxsize=None)
def _words(n: int) -> struct.Struct:
    """Return a Struct cutting n 8-byte words apart (one C call for a message's keys)."""
    return struct.Struct("8s" * n)


def keys_of(fp: Fingerprint, settings: StoreSettings) -> IndexKeys:
    """Return a fingerprint's index keys under settings' matching mode."""
    imatch = tuple(_SIG.pack(sig) for sig in fp.imatch)
    if settings.mode == "paper":
        megas = fp.megashingle_bytes
        return IndexKeys(_words(len(megas) // 8).unpack(megas), imatch, ())
    bands: list[bytes] = []
    if fp.minhash_bytes:
        raw = fp.minhash_bytes
        width = 8 * settings.rows
        for band in range(settings.bands):
            digest = xxhash.xxh3_64_digest(raw[band * width:(band + 1) * width])
            bands.append(bytes((band,)) + digest)
    return IndexKeys((), imatch, tuple(bands))


def position(name: str, key: bytes) -> int:
    """Return which signature a key is: mega-shingle pair 0..14, I-Match lexicon, or band."""
    if name == "mega":
        return key[7] >> 4
    if name == "imatch":
        return key[7]
    return key[0]


def resembles(reps: bytes | None, minhashes: bytes, threshold: float) -> bool:
    """Return whether minhashes agree with one stored representative in threshold of places."""
    if not reps or not minhashes:
        return False
    need = threshold * NUM_PERM
    mine = _MINHASHES.unpack(minhashes)
    # A few representatives of 84 words each: a C-level map over unpacked tuples
    # is as quick as numpy here, and keeps numpy off the archive job's executors.
    return any(sum(map(operator.eq, _MINHASHES.unpack_from(reps, start), mine)) >= need
               for start in range(1, len(reps) - _MINHASHES.size + 1, _MINHASHES.size))


def representative(fp: Fingerprint, keys: IndexKeys, settings: StoreSettings) -> bytes:
    """Return what a mailing keeps of one of its first members to check bridges by.

    Recall mode keeps the min-hashes (``resembles`` compares them); paper mode keeps
    the member's mega-shingle and I-Match keys (u8 count, then the keys), since a
    shared one is the paper's whole rule.
    """
    if settings.mode == "recall":
        return fp.minhash_bytes
    if not (keys.mega or keys.imatch):
        return b""
    direct = keys.mega + keys.imatch
    return bytes((len(direct),)) + b"".join(direct)


def bridges(reps: bytes | None, fp: Fingerprint, keys: IndexKeys,
            settings: StoreSettings) -> bool:
    """Return whether a message resembles one of a mailing's representatives by the
    store's rule: recall mode by min-hash agreement, paper mode by a shared key."""
    if settings.mode == "recall":
        return resembles(reps, fp.minhash_bytes, settings.threshold)
    if not reps:
        return False
    mine = set(keys.mega) | set(keys.imatch)
    return any(entry[i:i + 8] in mine for entry in unpack_reps(reps)
               for i in range(1, len(entry), 8))


def message_key(mail: MailLike) -> bytes:
    """Return the 16-byte key that makes ingesting a message idempotent.

    It hashes the Message-ID with the body; without a Message-ID, also the
    Date, sender, recipients, subject and source IP, so identical copies of a
    mailing sent to different people stay different messages.
    """
    h = xxhash.xxh3_128()
    for part in (mail.message_id or "", mail.text, mail.quoted):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    if not mail.message_id:
        extra = (mail.date.isoformat() if mail.date else "", mail.envelope_sender or "",
                 mail.from_domain or "", "\x1f".join(mail.recipients), mail.subject,
                 mail.source_ip or "")
        for part in extra:
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
    return h.digest()


def network(ip: str) -> str | None:
    """Return the /24 (IPv4) or /48 (IPv6) network of ip as text, or None if not an IP."""
    head, dot, _ = ip.rpartition(".")
    if dot and ":" not in ip and head.count(".") == 2:
        return head
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
