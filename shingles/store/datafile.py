"""The store's LMDB file checked before it is mapped, and LMDB's errors in the store's words.

LMDB maps ``data.mdb`` into memory; a page past the end of a file that was cut
short (a partial copy, a full disk) is not an error but a SIGBUS that kills the
process. So the two meta pages at the head of the file are read first, with
plain reads: the newer one says how many pages the last commit uses, and a
file shorter than that is refused before anything maps it. A file without
LMDB's magic number (foreign, garbage, zero-filled) is refused the same way.

Meta page (LMDB 0.9 and 1.0, 64-bit): a 16-byte page header, then
``MDB_meta``: u32 magic, u32 format version, the map address and size, two
48-byte database records (the first one's u32 pad holds the page size), the
last page number and the transaction id.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator

import lmdb

from shingles.errors import StoreFormatError, StoreFullError

__all__ = ["DataFile", "check", "translated"]

MAGIC = 0xBEEFC0DE
_HEAD = 16
_META = struct.Struct("<IIQQ")  # magic, version, address, map size
_PSIZE_AT = _HEAD + 24  # the free database's md_pad: the page size
_LAST_AT = _HEAD + 24 + 2 * 48  # mm_last_pg, then mm_txnid
_TAIL = struct.Struct("<QQ")
_PAGE_SIZES = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
_FIX = ("restore it from a backup ('shingles store backup'), or move it away and "
        "start a new store")


class DataFile:
    """What the newer meta page of a data.mdb says.

    Attributes:
        page_size: Bytes per page.
        last_page: The last page the newest commit uses.
        txn_id: The newest commit's transaction id.
        map_size: The map size the file was last written with.
        version: LMDB's file format version.
    """

    def __init__(self, page_size: int, last_page: int, txn_id: int, map_size: int,
                 version: int) -> None:
        self.page_size = page_size
        self.last_page = last_page
        self.txn_id = txn_id
        self.map_size = map_size
        self.version = version

    @property
    def needed(self) -> int:
        """Return the bytes the newest commit needs the file to have."""
        return (self.last_page + 1) * self.page_size


def _meta(head: bytes, offset: int) -> tuple[int, int, int, int, int] | None:
    """Return (page size, last page, txn id, map size, version) of the meta page at offset."""
    if len(head) < offset + _LAST_AT + _TAIL.size:
        return None
    magic, version, _, map_size = _META.unpack_from(head, offset + _HEAD)
    if magic != MAGIC:
        return None
    (page_size,) = struct.unpack_from("<I", head, offset + _PSIZE_AT)
    last_page, txn_id = _TAIL.unpack_from(head, offset + _LAST_AT)
    return page_size, last_page, txn_id, map_size, version


def check(path: str) -> DataFile:
    """Return what the meta pages of the store at path say; raise StoreFormatError when
    its data.mdb is no LMDB file or is shorter than its newest commit needs."""
    data = os.path.join(path, "data.mdb")
    try:
        with open(data, "rb") as f:
            head = f.read(2 * 65536)
            size = os.fstat(f.fileno()).st_size
    except PermissionError:
        raise PermissionError(f"{data} cannot be read (permission denied); run as the "
                              "store's owner or fix its permissions") from None
    first = _meta(head, 0)
    if first is None:
        what = ("is empty" if size == 0 else "is all zeros" if not head.strip(b"\0")
                else "is not an LMDB file (no LMDB magic number)")
        raise StoreFormatError(f"{data} {what}; it is no shingles store, or it is damaged: "
                               f"{_FIX}")
    page_size = first[0]
    if page_size not in _PAGE_SIZES:
        raise StoreFormatError(f"{data} has an impossible page size ({page_size}); it is "
                               f"damaged: {_FIX}")
    second = _meta(head, page_size)
    newest = max((m for m in (first, second) if m is not None), key=lambda m: m[2])
    found = DataFile(*newest)
    if size < found.needed:
        raise StoreFormatError(f"{data} is cut short: {size} bytes where its last commit "
                               f"needs {found.needed} (a partial copy or a full disk?); "
                               f"{_FIX}")
    return found


_FULL = ("{path}: no space left on the device; committed batches are kept: free "
         "some space and run the same command again")
#: Less free space than this after a failed write means the disk is full: LMDB
#: reports a short write as EIO, not ENOSPC.
_NEARLY_FULL = 1 << 20


def _disk_full(path: str, exc: Exception) -> bool:
    """Return whether a failed LMDB write was the disk filling up."""
    text = str(exc)
    if "No space" in text or "ENOSPC" in text:
        return True
    if "Input/output error" not in text:
        return False
    try:
        fs = os.statvfs(path)
    except OSError:
        return False
    return fs.f_bavail * fs.f_frsize < _NEARLY_FULL


@contextlib.contextmanager
def translated(path: str) -> Iterator[None]:
    """Turn LMDB's errors inside the block into the store's, each with what to do."""
    try:
        yield
    except lmdb.MapFullError:
        raise  # the writer grows the map and replays; never seen by callers
    except lmdb.DiskError as exc:
        if _disk_full(path, exc):
            raise StoreFullError(_FULL.format(path=path)) from None
        raise StoreFormatError(f"{path}: the disk failed ({exc}); {_FIX}") from None
    except (lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.InvalidError,
            lmdb.VersionMismatchError, lmdb.IncompatibleError, lmdb.BadValsizeError) as exc:
        raise StoreFormatError(f"{path} is damaged or no shingles store ({exc}); {_FIX}"
                               ) from None
    except lmdb.ReadonlyError:
        raise PermissionError(f"{path} is read-only; commands that only read it (mailings, "
                              "explain, store info) still work; or fix its permissions") from None
    except lmdb.Error as exc:
        text = str(exc)
        if "Permission denied" in text or "Read-only file system" in text:
            raise PermissionError(f"{path} cannot be written ({text.rpartition(': ')[2]}); "
                                  "commands that only read it still work; or fix its permissions"
                                  ) from None
        if _disk_full(path, exc):
            raise StoreFullError(_FULL.format(path=path)) from None
        raise StoreFormatError(f"{path} is damaged or unreadable (LMDB: {text}); {_FIX}"
                               ) from None
