"""Training logs in mmcv's shape, so mmaction2's `analyze_logs.py` reads them (SPEC 1.13).

* `{work_dir}/{YYYYMMDD_HHMMSS}.log`: Python logging, `'%(asctime)s - stgcn - %(levelname)s - %(message)s'`,
  also printed to the console;
* `{work_dir}/{YYYYMMDD_HHMMSS}.log.json`: one JSON object a line; the first is the run's meta dict, then
  `{"mode": "train", "epoch", "iter", "lr", ["memory",] "data_time", <log vars>, "time"}` and
  `{"mode": "val", "epoch", "iter", "lr", <metrics>}`, floats rounded to 5 decimals.

Only rank 0 writes files; other ranks log warnings and errors to the console.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

import stgcn
from stgcn.errors import StgcnError

LOG_FORMAT = "%(asctime)s - stgcn - %(levelname)s - %(message)s"


def timestamp() -> str:
    return time.strftime("%Y%m%d_%H%M%S", time.localtime())


def get_logger(log_file: str | os.PathLike | None = None, rank: int = 0,
               level: str = "INFO") -> logging.Logger:
    """The `stgcn` logger: console always, `log_file` on rank 0; ranks > 0 only report errors."""
    logger = logging.getLogger("stgcn")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    formatter = logging.Formatter(LOG_FORMAT)
    console = logging.StreamHandler()
    console.setFormatter(formatter)
    logger.addHandler(console)
    if rank == 0 and log_file is not None:
        file_handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    logger.setLevel(getattr(logging, str(level).upper(), logging.INFO) if rank == 0 else logging.ERROR)
    return logger


def git_hash(digits: int = 7) -> str:
    """The checkout's commit when stgcn runs from a git work tree, else ''."""
    root = Path(stgcn.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return ""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()[:digits]


def stgcn_version() -> str:
    sha = git_hash()
    return f"{stgcn.__version__}+{sha}" if sha else stgcn.__version__


def collect_env() -> OrderedDict:
    """Environment facts for the log header and the checkpoint meta."""
    env: OrderedDict[str, str] = OrderedDict()
    env["sys.platform"] = sys.platform
    env["Python"] = sys.version.replace("\n", "")
    env["Machine"] = platform.machine()
    env["CPU cores"] = str(os.cpu_count())
    env["CUDA available"] = str(torch.cuda.is_available())
    if torch.cuda.is_available():
        names: dict[str, list[str]] = {}
        for i in range(torch.cuda.device_count()):
            names.setdefault(torch.cuda.get_device_name(i), []).append(str(i))
        for name, ids in names.items():
            env[f"GPU {','.join(ids)}"] = name
        env["CUDA (torch build)"] = str(torch.version.cuda)
    env["PyTorch"] = torch.__version__
    env["NumPy"] = np.__version__
    env["stgcn"] = stgcn_version()
    return env


def env_text(env: OrderedDict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in env.items())


def parse_log_config(log_config: dict | None) -> tuple[int, bool, list[str]]:
    """(interval, TensorBoard wanted, unsupported hook types) from `log_config`."""
    log_config = log_config or {}
    interval = log_config.get("interval", 10)
    if not isinstance(interval, int) or interval < 1:
        raise StgcnError(f"log_config.interval must be a positive int, got {interval!r}")
    kinds = [h.get("type") for h in log_config.get("hooks", []) if isinstance(h, dict)]
    ignored = [k for k in kinds if k not in ("TextLoggerHook", "TensorboardLoggerHook")]
    return interval, "TensorboardLoggerHook" in kinds, ignored


def _round(value):
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return value


class LogBuffer:
    """Running values of the current logging interval; means weighted by sample counts (mmcv's buffer)."""

    def __init__(self) -> None:
        self.sums: OrderedDict[str, float] = OrderedDict()
        self.counts: OrderedDict[str, float] = OrderedDict()

    def update(self, values: dict[str, float], count: float = 1) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * count
            self.counts[key] = self.counts.get(key, 0.0) + count

    def average(self) -> OrderedDict:
        return OrderedDict((k, self.sums[k] / self.counts[k]) for k in self.sums if self.counts[k])

    def clear(self) -> None:
        self.sums.clear()
        self.counts.clear()


class RunLog:
    """The text log, the `.log.json` lines and optional TensorBoard scalars of one run (rank 0 writes)."""

    def __init__(self, logger: logging.Logger, json_path: str | os.PathLike | None, rank: int = 0,
                 tensorboard_dir: str | os.PathLike | None = None) -> None:
        self.logger = logger
        self.json_path = Path(json_path) if json_path is not None and rank == 0 else None
        self.rank = rank
        self.writer = None
        if rank == 0 and tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("TensorboardLoggerHook needs the 'tensorboard' package; skipping it")
            else:
                self.writer = SummaryWriter(str(tensorboard_dir))

    def _dump(self, record: dict) -> None:
        if self.json_path is None:
            return
        with open(self.json_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({k: _round(v) for k, v in record.items()}) + "\n")

    def meta(self, meta: dict) -> None:
        """The first `.log.json` line: the run's meta dict."""
        self._dump(meta)

    def train(self, epoch: int, inner_iter: int, iters_per_epoch: int, global_iter: int, lr: float,
              values: OrderedDict, eta_seconds: float, memory_mb: int | None = None) -> None:
        """`values` holds data_time, the log vars, then time (running means of the interval)."""
        record: OrderedDict = OrderedDict(mode="train", epoch=epoch, iter=inner_iter, lr=lr)
        if memory_mb is not None:
            record["memory"] = memory_mb
        record.update(values)
        eta = str(datetime.timedelta(seconds=int(eta_seconds)))
        text = (f"Epoch [{epoch}][{inner_iter}/{iters_per_epoch}]\tlr: {lr:.3e}, eta: {eta}, "
                f"time: {values.get('time', 0.0):.3f}, data_time: {values.get('data_time', 0.0):.3f}, ")
        if memory_mb is not None:
            text += f"memory: {memory_mb}, "
        text += ", ".join(f"{k}: {v:.4f}" for k, v in values.items() if k not in ("time", "data_time"))
        self.logger.info(text)
        self._dump(record)
        self._scalars("train", values, global_iter, lr)

    def val(self, epoch: int, num_iters: int, lr: float, metrics: OrderedDict, global_iter: int) -> None:
        """`Epoch(val) [epoch][len(val_loader)]\ttop1_acc: ..., top5_acc: ...`."""
        record: OrderedDict = OrderedDict(mode="val", epoch=epoch, iter=num_iters, lr=lr)
        record.update(metrics)
        text = ", ".join(f"{k}: {v:.4f}" for k, v in metrics.items())
        self.logger.info(f"Epoch(val) [{epoch}][{num_iters}]\t{text}")
        self._dump(record)
        self._scalars("val", metrics, global_iter, None)

    def _scalars(self, mode: str, values: dict, step: int, lr: float | None) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"{mode}/{key}", value, step)
        if lr is not None:
            self.writer.add_scalar("learning_rate", lr, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
