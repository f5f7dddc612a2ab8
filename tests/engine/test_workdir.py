"""Safe outputs: the work-dir lock, output-path checks, stale temp clean-up, disk-full writes, pruning."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from stgcn import fileio
from stgcn.engine.workdir import prune_epoch_checkpoints
from stgcn.errors import StgcnError
from stgcn.fileio import (
    LOCK_NAME,
    check_output_path,
    clean_stale_temps,
    work_dir_lock,
    write_atomic,
)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_lock_refuses_a_live_owner_takes_over_a_dead_one_and_is_released(tmp_path, live_pid):
    work = tmp_path / "w"
    work.mkdir()
    lock = work / LOCK_NAME
    lock.write_text(f"{live_pid}\n")
    with pytest.raises(StgcnError, match=f"another run \\(pid {live_pid}\\)"):
        with work_dir_lock(work):
            pass
    assert lock.read_text() == f"{live_pid}\n"  # the owner's lock is untouched
    lock.write_text(f"{dead_pid()}\n")
    with work_dir_lock(work):
        assert lock.read_text() == f"{os.getpid()}\n"
    assert not lock.exists()
    with pytest.raises(KeyboardInterrupt):
        with work_dir_lock(tmp_path / "new" / "dir"):
            raise KeyboardInterrupt
    assert not (tmp_path / "new" / "dir" / LOCK_NAME).exists()


def test_check_output_path_rules(tmp_path, monkeypatch):
    existing = tmp_path / "r.pkl"
    existing.write_bytes(b"keep")
    with pytest.raises(StgcnError, match="already exists; pass --overwrite"):
        check_output_path(existing, overwrite=False)
    assert check_output_path(existing, overwrite=True) == existing
    with pytest.raises(StgcnError, match="is a folder"):
        check_output_path(tmp_path, overwrite=True)
    with pytest.raises(StgcnError, match="is a file, not a folder"):
        check_output_path(existing / "x.pkl", overwrite=True)
    monkeypatch.setattr(fileio.os, "access", lambda path, mode: False)  # read-only (tests may run as root)
    with pytest.raises(StgcnError, match="is not writable"):
        check_output_path(tmp_path / "sub" / "new.pkl", overwrite=False)
    assert existing.read_bytes() == b"keep"


def test_stale_temps_of_dead_writers_are_removed(tmp_path, live_pid):
    dead = tmp_path / f".epoch_1.pth.{dead_pid()}.ab12.tmp"
    alive = tmp_path / f".epoch_2.pth.{live_pid}.cd34.tmp"
    other = tmp_path / ".hidden.tmp"  # not ours: no pid field
    for path in (dead, alive, other):
        path.write_bytes(b"partial")
    assert clean_stale_temps(tmp_path) == [dead]
    assert alive.exists() and other.exists() and not dead.exists()


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(StgcnError, match="No space left on device.*free disk space") as exc:
        write_atomic(tmp_path / "out.pkl", b"x" * 100)
    assert "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_pruning_counts_files_on_disk(tmp_path):
    for k in (1, 2, 3, 5):
        (tmp_path / f"epoch_{k}.pth").write_bytes(b"")
    (tmp_path / "best_top1_acc_epoch_1.pth").write_bytes(b"")
    assert prune_epoch_checkpoints(tmp_path, 3, max_keep=2) == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best_top1_acc_epoch_1.pth", "epoch_2.pth", "epoch_3.pth", "epoch_5.pth"]
    assert prune_epoch_checkpoints(tmp_path, 3, max_keep=-1) == []
