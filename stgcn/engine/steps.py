"""The training iterations: one optimizer step (AMP, gradient clipping, a finite-loss check) and one
epoch of them with the interval log lines. The run's first step is announced in the log (when its batch
is ready and when it is done), so the start-up time of a run can be read from the log."""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict

import torch
from torch.utils.data import DataLoader

from stgcn.engine import dist as dist_utils
from stgcn.engine import optim
from stgcn.engine.loader import derive_seed, set_random_seed
from stgcn.engine.logger import LogBuffer
from stgcn.engine.run import Run
from stgcn.engine.runtime import autocast
from stgcn.errors import StgcnError


def train_step(run: Run, batch: dict) -> tuple[dict[str, float], int]:
    """One optimizer step; returns the log vars (batch means) and the batch size."""
    x = batch["keypoint"].to(run.device, non_blocking=True)
    y = batch["label"].to(run.device, non_blocking=True).view(-1)
    with autocast(run.device, run.amp):
        logits = run.model(x)
    losses = run.raw_model.loss(logits.float(), y)
    loss = sum(v for k, v in losses.items() if "loss" in k)
    run.optimizer.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.unscale_(run.optimizer)
    else:
        loss.backward()
    grad_norm = optim.clip_grads(run.raw_model, run.grad_clip)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    log_vars = OrderedDict((k, float(v.detach()) if torch.is_tensor(v) else float(v))
                           for k, v in losses.items())
    log_vars["loss"] = float(loss.detach())
    if not math.isfinite(log_vars["loss"]):
        raise StgcnError(f"loss is {log_vars['loss']} at epoch {run.epoch + 1}, "
                         f"iteration {run.global_iter + 1}; "
                         "check the data for NaN/inf keypoints (stgcn validate) or lower optimizer.lr")
    if grad_norm is not None:
        log_vars["grad_norm"] = grad_norm
    return log_vars, len(x)


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None where that cannot be read."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])  # field 22: starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc, no os.sysconf (Windows)
        return None


def _announce_first_step(run: Run, waited: float, done: float | None = None) -> None:
    """The log lines that mark the run's first step: its batch ready (before) and its end (after)."""
    age = process_age()
    since = f" {age:.2f} s after the process started" if age is not None else ""
    cpu = f"{time.process_time():.2f} s of CPU"
    if done is None:
        run.logger.info(f"First training step starts{since} ({cpu}; its batch took {waited:.2f} s)")
    else:
        run.logger.info(f"First training step done{since} (the step took {done:.2f} s)")


def train_one_epoch(run: Run, loader: DataLoader) -> None:
    run.model.train()
    loader.sampler.set_epoch(run.epoch)
    set_random_seed(derive_seed(run.meta["seed"], run.epoch))  # resumable: the epoch alone fixes the RNGs
    values, times = LogBuffer(), LogBuffer()
    tick = time.perf_counter()
    for inner, batch in enumerate(loader, start=1):
        ready = time.perf_counter()
        times.update({"data_time": ready - tick})
        first = run.global_iter == run.iters_at_start
        if first:
            _announce_first_step(run, ready - tick)
        lr = optim.set_lr(run.optimizer, run.schedule, run.epoch, run.global_iter)
        log_vars, n = train_step(run, batch)
        values.update(log_vars, n)
        times.update({"time": time.perf_counter() - tick})
        if first:
            _announce_first_step(run, ready - tick, time.perf_counter() - ready)
        tick = time.perf_counter()
        run.global_iter += 1
        if inner % run.log_interval == 0:
            _log_interval(run, inner, len(loader), lr, values, times)
    run.epoch += 1


def _log_interval(run: Run, inner: int, iters_per_epoch: int, lr: float, values: LogBuffer,
                  times: LogBuffer) -> None:
    """The `Epoch [e][i/n]` line: the interval's means (over all processes) and the ETA."""
    counts = {f"#{k}": c for k, c in values.counts.items()}
    sums = dist_utils.all_reduce_sums({**values.sums, **counts}, run.device)
    means = OrderedDict((k, sums[k] / sums[f"#{k}"]) for k in values.sums)
    timing = times.average()
    record = OrderedDict(data_time=timing["data_time"], **means, time=timing["time"])
    done = run.global_iter - run.iters_at_start
    max_iters = run.max_epochs * iters_per_epoch
    eta = (time.perf_counter() - run.train_start) / max(done, 1) * (max_iters - run.global_iter)
    memory = None
    if run.device.type == "cuda":
        memory = int(torch.cuda.max_memory_allocated(run.device) // (1024 * 1024))
    run.log.train(run.epoch + 1, inner, iters_per_epoch, run.global_iter, lr, record, eta, memory)
    values.clear()
    times.clear()
