"""Content fingerprints of annotation pickles: what ties a packed directory to the file it was made from.

An mtime alone cannot: `mv`, `cp -p`, `rsync -a` and `tar x` put an older file in place with its old
mtime. `stgcn pack` records the pickle's size, mtime_ns, a SHA-1 of its first and last MiB and a SHA-1
of the whole file. A pickle matches its record when size and end blocks agree and either mtime_ns
agrees too (fast path: 2 MiB read whatever the file size) or the whole-file hash agrees (a copy with a
new mtime; the record's mtime is then refreshed so the next open takes the fast path again).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from stgcn.fileio import write_atomic

BLOCK = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    """What a pack records of its source pickle."""

    path: str
    size: int
    mtime_ns: int
    ends_sha1: str
    sha1: str


def _ends_sha1(f, size: int) -> str:
    digest = hashlib.sha1(f.read(BLOCK))
    if size > BLOCK:
        f.seek(max(BLOCK, size - BLOCK))
        digest.update(f.read(BLOCK))
    return digest.hexdigest()


def _full_sha1(f) -> str:
    f.seek(0)
    return hashlib.file_digest(f, "sha1").hexdigest()


def fingerprint(path: str | os.PathLike) -> Fingerprint:
    """Fingerprint of a file (reads all of it)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        return Fingerprint(str(path), st.st_size, st.st_mtime_ns, _ends_sha1(f, st.st_size), _full_sha1(f))


def save(record: Fingerprint, path: str | os.PathLike) -> None:
    write_atomic(path, json.dumps(asdict(record)).encode())


def load(path: str | os.PathLike) -> Fingerprint | None:
    """The record stored at `path`, or None when it is missing or unreadable."""
    try:
        return Fingerprint(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def mismatch(path: str | os.PathLike, record: Fingerprint, record_file: str | os.PathLike | None = None
             ) -> str | None:
    """Why the file at `path` is not the one `record` describes, or None when it is.

    After a whole-file match with a new mtime, `record_file` (if given) is rewritten with the new mtime
    (best effort: a read-only directory just keeps paying the full hash).
    """
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_size != record.size:
            return f"its size is {st.st_size} bytes, the packed source had {record.size}"
        if _ends_sha1(f, st.st_size) != record.ends_sha1:
            return "its content differs from the packed source"
        if st.st_mtime_ns == record.mtime_ns:
            return None
        if _full_sha1(f) != record.sha1:
            return "its content differs from the packed source"
    if record_file is not None:
        try:
            save(Fingerprint(record.path, record.size, st.st_mtime_ns, record.ends_sha1, record.sha1),
                 record_file)
        except OSError:
            pass
    return None
