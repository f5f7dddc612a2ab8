"""What one training run carries between the loop's functions: the command-line options that are not config
keys (`TrainOptions`) and the run's state (`Run`), plus the checkpoint meta it writes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from stgcn.engine import dist as dist_utils
from stgcn.engine import optim
from stgcn.engine.logger import RunLog


@dataclass
class TrainOptions:
    """The command-line flags that are not config keys (`work_dir`, `seed`, `resume_from` and
    `load_from` travel in the config)."""

    config_path: str
    diff_seed: bool = False
    deterministic: bool = False
    validate: bool = False
    test_last: bool = False
    test_best: bool = False
    launcher: str = "none"
    device: str = "auto"
    amp: str | None = None


@dataclass
class Run:
    """Everything one training run carries between the functions below."""

    cfg: dict
    opts: TrainOptions
    info: dist_utils.DistInfo
    device: torch.device
    work_dir: Path
    logger: logging.Logger
    log: RunLog
    model: nn.Module  # the module the step calls (DDP-wrapped when distributed)
    raw_model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: optim.LrSchedule
    grad_clip: dict | None
    amp: torch.dtype | None
    scaler: torch.amp.GradScaler | None
    meta: dict
    max_epochs: int
    log_interval: int
    epoch: int = 0  # completed epochs
    global_iter: int = 0  # completed iterations
    train_start: float = 0.0
    iters_at_start: int = 0


def checkpoint_meta(run: Run) -> dict:
    """The meta dict an epoch or best checkpoint records (epoch, iteration, best score, AMP scaler)."""
    meta = dict(run.meta, epoch=run.epoch, iter=run.global_iter, time=time.asctime())
    meta["hook_msgs"] = dict(run.meta["hook_msgs"])
    if run.scaler is not None:
        meta["amp_scaler"] = run.scaler.state_dict()
    return meta
