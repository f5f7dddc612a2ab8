"""The checkpoint files of a training work dir: `epoch_N.pth`, `latest.pth`, `best_{key}_epoch_N.pth`.

mmaction2 0.x's CheckpointHook and EvalHook rules (SPEC 1.12, 1.13): save every `interval` epochs and
after the last one, keep the newest `max_keep_ckpts`, point `latest.pth` at the newest, keep one best
file. Pruning looks at the files on disk, so `max_keep_ckpts` holds across a resume.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from stgcn.errors import StgcnError
from stgcn.fileio import copy_atomic

_EPOCH_FILE = re.compile(r"^epoch_(\d+)\.pth$")


@dataclass
class CheckpointSettings:
    interval: int = 1
    save_optimizer: bool = True
    max_keep_ckpts: int = -1
    save_last: bool = True
    create_symlink: bool = True

    def due(self, epoch: int, max_epochs: int) -> bool:
        return epoch % self.interval == 0 or (self.save_last and epoch == max_epochs)


def parse_checkpoint_config(checkpoint_config: dict | None) -> CheckpointSettings:
    cfg = dict(checkpoint_config or {})
    if cfg.pop("by_epoch", True) is not True:
        raise StgcnError("checkpoint_config.by_epoch=False is not supported; save by epoch")
    cfg.pop("meta", None)
    valid = set(CheckpointSettings.__dataclass_fields__)
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise StgcnError(f"checkpoint_config: unknown keys {unknown}; "
                         f"valid: {', '.join(sorted(valid))}, by_epoch")
    settings = CheckpointSettings(**cfg)
    if not isinstance(settings.interval, int) or settings.interval < 1:
        raise StgcnError(f"checkpoint_config.interval must be a positive int, got {settings.interval!r}")
    if not isinstance(settings.max_keep_ckpts, int):
        raise StgcnError(f"checkpoint_config.max_keep_ckpts must be an int, got {settings.max_keep_ckpts!r}")
    return settings


def point_latest(work_dir: Path, target: str) -> None:
    """`latest.pth` -> `target`: a relative symlink, or a copy where links are unavailable; atomic."""
    tmp = work_dir / f".latest.pth.{os.getpid()}.link.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, work_dir / "latest.pth")
    except OSError:
        tmp.unlink(missing_ok=True)
        copy_atomic(work_dir / target, work_dir / "latest.pth")


def prune_epoch_checkpoints(work_dir: Path, epoch: int, max_keep: int) -> list[int]:
    """Delete `epoch_K.pth` files older than the newest `max_keep` up to `epoch`; returns the deleted K.

    Files of later epochs (left by an earlier, longer run in the same dir) are overwritten as the run
    reaches them, so they are left alone."""
    if max_keep <= 0:
        return []
    epochs = sorted(int(m.group(1)) for p in work_dir.iterdir()
                    if (m := _EPOCH_FILE.match(p.name)) and int(m.group(1)) <= epoch)
    old = epochs[:-max_keep]
    for k in old:
        (work_dir / f"epoch_{k}.pth").unlink(missing_ok=True)
    return old


def is_better(score: float, best: float | None, greater: bool) -> bool:
    """Strictly better than the best so far (a tie keeps the earlier best, as mmcv does)."""
    if best is None:
        return True
    return score > best if greater else score < best
