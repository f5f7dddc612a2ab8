"""Safe output files: atomic writes, output-path checks, stale temp clean-up and a work-dir lock.

A write goes to a temp file beside the target (flushed, fsynced, then ``os.replace``), so an
interrupted write never leaves a half-written checkpoint, result or annotation file behind, and the
finished file gets the usual permissions (``mkstemp`` would leave it at 0600). Temp names carry the
writer's pid (``.NAME.PID.XXXX.tmp``): :func:`clean_stale_temps` removes those of dead processes.
Disk-full and permission errors become one-line :class:`StgcnError` messages.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from stgcn.errors import StgcnError

OVERWRITE_HELP = "replace an existing output file (without it an existing file is never replaced)"
LOCK_NAME = ".stgcn.lock"
_TEMP = re.compile(r"^\..+\.(\d+)\.[^.]*\.tmp$")
_IO_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
              errno.EISDIR}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def io_error(path: str | os.PathLike, exc: OSError) -> StgcnError:
    """One-line message for an OSError met while writing ``path``."""
    reason = exc.strerror or type(exc).__name__
    fix = {errno.ENOSPC: "free disk space or write elsewhere", errno.EDQUOT: "free quota or write elsewhere",
           errno.EROFS: "the file system is read-only; write elsewhere"}.get(
        exc.errno, "check the folder's permissions or write elsewhere")
    return StgcnError(f"{path}: cannot write ({reason}); {fix}")


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """``with atomic_open(p) as f: f.write(...)``: ``p`` appears complete or not at all."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if exc.errno in _IO_ERRNOS or isinstance(exc, FileExistsError):
            raise io_error(path, exc) from None
        raise
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path) as f:
        f.write(data)
    return Path(path)


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dst`` atomically."""
    with open(src, "rb") as fin, atomic_open(dst) as fout:
        shutil.copyfileobj(fin, fout)
    return Path(dst)


def _writable_dir(directory: Path) -> Path | None:
    """The nearest existing ancestor of ``directory`` when it is a folder we cannot write into."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_dir() and not os.access(probe, os.W_OK | os.X_OK):
        return probe
    return None


def check_output_dir(directory: str | os.PathLike, flag: str = "--work-dir") -> Path:
    """Fail fast (before long work) when ``directory`` cannot be created or written to."""
    directory = Path(directory)
    for parent in [directory, *directory.parents]:
        if parent.exists() and not parent.is_dir():
            raise StgcnError(f"{flag} {directory}: {parent} is a file, not a folder; choose another path")
    blocked = _writable_dir(directory)
    if blocked is not None:
        raise StgcnError(f"{flag} {directory}: {blocked} is not writable; choose a writable folder")
    return directory


def check_output_path(path: str | os.PathLike, overwrite: bool, flag: str = "--out",
                      inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Fail fast on an output file that cannot be written: a folder, a parent that is a file, an
    unwritable folder, one of the command's ``inputs`` (never replaced, even with ``overwrite``), or an
    existing file without ``overwrite`` (the rule of every command)."""
    path = Path(path)
    if path.is_dir():
        raise StgcnError(f"{flag} {path}: is a folder; give a file name")
    for source in inputs:
        if path.exists() and Path(source).exists() and path.samefile(source):
            raise StgcnError(f"{flag} {path}: is the input file {source}; write the output to another path")
    check_output_dir(path.parent, flag=flag)
    if path.exists() and not overwrite:
        raise StgcnError(f"{flag} {path}: the file already exists; pass --overwrite to replace it")
    clean_stale_temps(path.parent, path.name)
    return path


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def clean_stale_temps(directory: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove temp files left in ``directory`` by interrupted atomic writes of dead processes (only
    those of target ``name`` when given); returns the removed paths."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    prefix = f".{name}." if name else "."
    for entry in directory.iterdir():
        match = _TEMP.match(entry.name)
        if match and entry.name.startswith(prefix) and not _pid_alive(int(match.group(1))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _read_pid(lock: Path) -> int:
    try:
        return int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


@contextmanager
def work_dir_lock(directory: str | os.PathLike, flag: str = "--work-dir") -> Iterator[Path]:
    """Hold ``directory/.stgcn.lock`` (holding this pid) while a run writes into ``directory``.

    A live owner means another run writes there: refuse. A lock of a dead pid is taken over.
    """
    directory = check_output_dir(directory, flag)
    lock = directory / LOCK_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                owner = _read_pid(lock)
                if owner != os.getpid() and _pid_alive(owner):
                    raise StgcnError(f"{flag} {directory}: another run (pid {owner}) is writing there; "
                                     f"wait for it, choose another {flag}, or delete {lock} if "
                                     "that process is not a training") from None
                lock.unlink(missing_ok=True)  # stale: its owner died
        else:
            raise StgcnError(f"{flag} {directory}: could not take {lock}; another run keeps creating it")
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as exc:
        raise io_error(directory, exc) from None
    try:
        yield lock
    finally:
        if _read_pid(lock) == os.getpid():
            lock.unlink(missing_ok=True)
