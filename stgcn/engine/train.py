"""The training loop, top to bottom: setup, data, model, optimizer, schedule, resume, then per epoch train,
validate (`--validate` and `epoch % evaluation.interval == 0`) and checkpoint
(`epoch % checkpoint_config.interval == 0` or the last epoch), with mmaction2 0.x's rules (SPEC 1.8, 1.9,
1.12, 1.13). Validation runs before the epoch's checkpoint is written, so `epoch_N.pth` knows the best
score up to epoch N and a run resumed from it keeps the same best file as the uninterrupted run.

Reproducibility: the train order is a permutation seeded by `seed + epoch` (DistributedSampler, also for
one process), the global RNGs are reseeded at every epoch start, and every sample's random transforms run
under a seed derived from (seed, epoch, sample index). So a run depends on its seed only, whatever the
number of loader workers, and a run resumed after epoch k continues exactly like the uninterrupted one
(a resume without a seed reuses the checkpoint's).

The command line resolves `work_dir`, `seed`, `resume_from` and `load_from` into the config;
`TrainOptions` holds only the flags that are not config keys. A lock file keeps a second run out of a
work dir in use.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from stgcn.data.classes import resolve_class_names
from stgcn.engine import dist as dist_utils
from stgcn.engine import optim
from stgcn.engine.config import config_to_text, dump_config
from stgcn.engine.config_1x import average_clips
from stgcn.engine.loader import (
    build_data,
    build_eval_loader,
    build_train_loader,
    check_data_keys,
    check_model_sizes,
    derive_seed,
    loader_settings,
    set_random_seed,
)
from stgcn.engine.logger import (
    LogBuffer,
    RunLog,
    collect_env,
    env_text,
    get_logger,
    parse_log_config,
    stgcn_version,
    timestamp,
)
from stgcn.engine.metrics import EvalSettings, evaluate, parse_evaluation
from stgcn.engine.runtime import autocast, configure_cpu_runtime, grad_scaler, resolve_amp
from stgcn.engine.test import dump_results, inference
from stgcn.engine.workdir import (
    CheckpointSettings,
    is_better,
    parse_checkpoint_config,
    point_latest,
    prune_epoch_checkpoints,
)
from stgcn.errors import StgcnError
from stgcn.fileio import clean_stale_temps, work_dir_lock


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


# the run --------------------------------------------------------------------------------------------------

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


def train_one_epoch(run: Run, loader: DataLoader) -> None:
    run.model.train()
    loader.sampler.set_epoch(run.epoch)
    set_random_seed(derive_seed(run.meta["seed"], run.epoch))  # resumable: the epoch alone fixes the RNGs
    iters_per_epoch, max_iters = len(loader), run.max_epochs * len(loader)
    values, times = LogBuffer(), LogBuffer()
    tick = time.perf_counter()
    for inner, batch in enumerate(loader, start=1):
        times.update({"data_time": time.perf_counter() - tick})
        lr = optim.set_lr(run.optimizer, run.schedule, run.epoch, run.global_iter)
        log_vars, n = train_step(run, batch)
        values.update(log_vars, n)
        times.update({"time": time.perf_counter() - tick})
        tick = time.perf_counter()
        run.global_iter += 1
        if inner % run.log_interval == 0:
            counts = {f"#{k}": c for k, c in values.counts.items()}
            sums = dist_utils.all_reduce_sums({**values.sums, **counts}, run.device)
            means = OrderedDict((k, sums[k] / sums[f"#{k}"]) for k in values.sums)
            timing = times.average()
            record = OrderedDict(data_time=timing["data_time"], **means, time=timing["time"])
            done = run.global_iter - run.iters_at_start
            eta = (time.perf_counter() - run.train_start) / max(done, 1) * (max_iters - run.global_iter)
            memory = None
            if run.device.type == "cuda":
                memory = int(torch.cuda.max_memory_allocated(run.device) // (1024 * 1024))
            run.log.train(run.epoch + 1, inner, iters_per_epoch, run.global_iter, lr, record, eta, memory)
            values.clear()
            times.clear()
    run.epoch += 1


def _meta(run: Run) -> dict:
    meta = dict(run.meta, epoch=run.epoch, iter=run.global_iter, time=time.asctime())
    meta["hook_msgs"] = dict(run.meta["hook_msgs"])
    if run.scaler is not None:
        meta["amp_scaler"] = run.scaler.state_dict()
    return meta


def save_epoch_checkpoint(run: Run, settings: CheckpointSettings) -> None:
    from stgcn.models.checkpoint import save_checkpoint

    name = f"epoch_{run.epoch}.pth"
    run.meta["hook_msgs"]["last_ckpt"] = str(run.work_dir / name)
    if run.info.is_main:
        run.logger.info(f"Saving checkpoint at {run.epoch} epochs")
        optimizer = run.optimizer if settings.save_optimizer else None
        save_checkpoint(run.work_dir / name, run.raw_model, optimizer, _meta(run))
        if settings.create_symlink:
            point_latest(run.work_dir, name)
        prune_epoch_checkpoints(run.work_dir, run.epoch, settings.max_keep_ckpts)
    dist_utils.barrier()


def validate(run: Run, dataset, settings: EvalSettings) -> None:
    """Evaluate on data.val, log `Epoch(val)`, keep `best_{key}_epoch_{N}.pth` (rank 0)."""
    from stgcn.models.checkpoint import save_checkpoint

    if run.info.distributed:
        dist_utils.broadcast_buffers(run.raw_model)  # BN statistics differ per rank without broadcast_buffers
    val_settings = loader_settings(run.cfg["data"], "val")
    loader, indices = build_eval_loader(dataset, val_settings, run.info, run.device)
    results = inference(run.raw_model, loader, indices, len(dataset), run.device, run.amp, desc="val",
                        show_progress=None if run.info.is_main else False,
                        average_clips=average_clips(run.cfg))
    if run.info.is_main:
        metrics = evaluate(results, dataset.labels, settings.metrics, settings.topk, logger=run.logger)
        lr = run.optimizer.param_groups[0]["lr"]
        run.log.val(run.epoch, len(loader), lr, metrics, run.global_iter)
        key = next(iter(metrics)) if settings.save_best == "auto" else settings.save_best
        if key is not None:
            greater = settings.rule != "less" if settings.rule else "loss" not in key
            hook_msgs = run.meta["hook_msgs"]
            if is_better(metrics[key], hook_msgs.get("best_score"), greater):
                old = Path(hook_msgs.get("best_ckpt") or "")
                if old.name and old.parent.resolve() == run.work_dir.resolve():  # never another run's file
                    old.unlink(missing_ok=True)
                name = f"best_{key}_epoch_{run.epoch}.pth"
                hook_msgs.update(best_score=float(metrics[key]), best_ckpt=str(run.work_dir / name))
                save_checkpoint(run.work_dir / name, run.raw_model, run.optimizer, _meta(run))
                run.logger.info(f"Now best checkpoint is saved as {name}.")
                run.logger.info(f"Best {key} is {metrics[key]:.4f} at {run.epoch} epoch.")
    run.meta["hook_msgs"] = dist_utils.broadcast_object(run.meta["hook_msgs"])
    run.model.train()


def _load_weights(run: Run, path: str, resume: bool) -> None:
    """`resume_from`: weights, optimizer, epoch, iteration and best score; `load_from`: weights only, a
    classifier of another class count re-initialised (fine-tuning)."""
    from stgcn.models.checkpoint import load_checkpoint

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ckpt = load_checkpoint(run.raw_model, path, map_location="cpu", strict=True, reinit_head=not resume)
    for warning in caught:
        run.logger.warning(str(warning.message))
    run.logger.info(f"load checkpoint from {path}")
    if not resume:
        return
    meta = ckpt.get("meta") or {}
    if "optimizer" in ckpt:
        run.optimizer.load_state_dict(ckpt["optimizer"])
    else:
        run.logger.warning(f"{path} has no optimizer state; momentum restarts from zero")
    if run.scaler is not None and "amp_scaler" in meta:
        run.scaler.load_state_dict(meta["amp_scaler"])
    run.epoch = int(meta.get("epoch", 0))
    run.global_iter = int(meta.get("iter", 0))
    expected = run.epoch * run.schedule.iters_per_epoch
    if run.global_iter != expected:  # another batch size or world size than the interrupted run
        run.logger.warning(f"{path}: {run.global_iter} iterations for {run.epoch} epochs, but this run has "
                           f"{run.schedule.iters_per_epoch} per epoch; continuing from iteration {expected}")
        run.global_iter = expected
    run.meta["hook_msgs"].update(meta.get("hook_msgs") or {})
    run.logger.info(f"resumed epoch {run.epoch}, iter {run.global_iter}")


def test_after_training(run: Run, which: str, eval_settings: EvalSettings) -> None:
    """`--test-last` / `--test-best`: data.test with the last or the best weights -> `{which}_pred.pkl`."""
    from stgcn.models.checkpoint import load_checkpoint

    if which == "best":
        best = run.meta["hook_msgs"].get("best_ckpt")
        if not best or not Path(best).is_file():
            run.logger.warning("--test-best: no best checkpoint was saved (use --validate); skipping")
            return
        load_checkpoint(run.raw_model, best, map_location="cpu", strict=True)
        run.raw_model.to(run.device)
    dataset = build_data(run.cfg, "test", test_mode=True)
    settings = loader_settings(run.cfg["data"], "test")
    loader, indices = build_eval_loader(dataset, settings, run.info, run.device)
    results = inference(run.raw_model, loader, indices, len(dataset), run.device, run.amp,
                        desc=f"test {which}", show_progress=None if run.info.is_main else False,
                        average_clips=average_clips(run.cfg))
    if run.info.is_main:
        out = run.work_dir / f"{which}_pred.pkl"
        run.logger.info(f"Testing results of the {which} checkpoint")
        dump_results(results, out)
        run.logger.info(f"Results dumped to {out}")
        metrics = evaluate(results, dataset.labels, eval_settings.metrics, eval_settings.topk)
        for name, value in metrics.items():
            run.logger.info(f"{name}: {value:.04f}")


def check_runtime_keys(cfg: dict, source: str) -> list[str]:
    """Reject what this runtime cannot honour; returns warnings for what it ignores."""
    if not isinstance(cfg.get("total_epochs"), int) or cfg["total_epochs"] < 1:
        raise StgcnError(f"{source}: total_epochs must be a positive int; add e.g. total_epochs = 80")
    for key in ("momentum_config", "precise_bn", "omnisource", "multigrid", "custom_hooks"):
        if cfg.get(key):
            raise StgcnError(f"{source}: '{key}' is not supported; remove it")
    for key in ("model", "data", "optimizer"):
        if not isinstance(cfg.get(key), dict):
            raise StgcnError(f"{source}: '{key}' is missing or not a dict; see the configs/ examples")
    if not isinstance(cfg.get("work_dir"), str) or not cfg["work_dir"]:
        raise StgcnError(f"{source}: work_dir is not set; pass --work-dir DIR")
    seed = cfg.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise StgcnError(f"{source}: seed must be a non-negative int, got {seed!r}")
    check_data_keys(cfg["data"], source)
    check_model_sizes(cfg["model"], source)
    optim.check_optimizer_config(cfg["optimizer"])
    optim.build_lr_schedule(cfg.get("lr_config") or {"policy": "fixed"}, cfg["total_epochs"], 1)
    optim.build_grad_clip(cfg.get("optimizer_config"))
    notes = []
    if cfg.get("workflow", [("train", 1)]) not in ([("train", 1)], [["train", 1]]):
        notes.append("workflow entries other than ('train', 1) are ignored; use --validate to evaluate")
    return notes


def resume_seed(cfg: dict) -> None:
    """A resumed run without a seed of its own continues with the checkpoint's seed."""
    if cfg.get("seed") is not None or not cfg.get("resume_from"):
        return
    from stgcn.models.checkpoint import read_checkpoint

    seed = (read_checkpoint(cfg["resume_from"]).get("meta") or {}).get("seed")
    if isinstance(seed, int):
        cfg["seed"] = seed


def _seeds(cfg: dict, opts: TrainOptions, info: dist_utils.DistInfo) -> tuple[int, int]:
    """(the run's seed, this rank's seed): the config's (--seed lands there), else random from rank 0."""
    seed = cfg.get("seed")
    if seed is None:
        seed = dist_utils.broadcast_object(int(np.random.randint(2**31)))
    return seed, seed + info.rank if opts.diff_seed else seed


def _start_logs(cfg: dict, opts: TrainOptions, info: dist_utils.DistInfo, notes: list[str]):
    """Resolved config, text log and the run's header lines; returns (logger, timestamp, env text)."""
    work_dir = Path(cfg["work_dir"])
    stamp = dist_utils.broadcast_object(timestamp())
    if info.is_main:
        clean_stale_temps(work_dir)
        dump_config(cfg, work_dir / Path(opts.config_path).name)
    dist_utils.barrier()
    logger = get_logger(work_dir / f"{stamp}.log", info.rank, cfg.get("log_level", "INFO"))
    env = env_text(collect_env())
    dash = "-" * 60
    logger.info(f"Environment info:\n{dash}\n{env}\n{dash}\n")
    logger.info(f"Distributed training: {info.distributed}")
    logger.info(f"Config:\n{config_to_text(cfg)}")
    for note in notes:
        logger.warning(note)
    return logger, stamp, env


def _build_run(cfg: dict, opts: TrainOptions, info: dist_utils.DistInfo, device: torch.device,
               notes: list[str], tensorboard: bool, log_interval: int) -> tuple[Run, DataLoader, object]:
    """Logs, seeds, data, model, optimizer and schedule; then the resume or the initial weights."""
    from stgcn import build_model

    logger, stamp, env = _start_logs(cfg, opts, info, notes)
    work_dir = Path(cfg["work_dir"])
    seed, rank_seed = _seeds(cfg, opts, info)
    logger.info(f"Set random seed to {rank_seed}, deterministic: {opts.deterministic}")
    set_random_seed(rank_seed, opts.deterministic)
    if cfg.get("cudnn_benchmark") and not opts.deterministic:
        torch.backends.cudnn.benchmark = True

    raw_model = build_model(cfg["model"]).to(device)
    train_set = build_data(cfg, "train", test_mode=False)
    val_set = build_data(cfg, "val", test_mode=True) if opts.validate else None
    loader = build_train_loader(train_set, loader_settings(cfg["data"], "train"), info, seed, device)
    optimizer = optim.build_optimizer(raw_model, cfg["optimizer"])
    schedule = optim.build_lr_schedule(cfg.get("lr_config") or {"policy": "fixed"}, cfg["total_epochs"],
                                       len(loader))
    amp = resolve_amp(opts.amp, cfg.get("fp16"), device, logger)
    meta = {"env_info": env, "seed": rank_seed, "config_name": Path(opts.config_path).name,
            "work_dir": work_dir.name, "hook_msgs": {}, "stgcn_version": stgcn_version(),
            "config": config_to_text(cfg), "config_dict": cfg}
    if cfg.get("class_names") is not None:  # so that a checkpoint alone names its classes
        meta["class_names"] = resolve_class_names(cfg["class_names"], raw_model.cls_head.num_classes,
                                                  f"{opts.config_path}: class_names")
    run_log = RunLog(logger, work_dir / f"{stamp}.log.json", info.rank,
                     work_dir / "tf_logs" if tensorboard else None)
    model = dist_utils.wrap_model(raw_model, info, device, cfg)
    run = Run(cfg=cfg, opts=opts, info=info, device=device, work_dir=work_dir, logger=logger, log=run_log,
              model=model, raw_model=raw_model, optimizer=optimizer,
              schedule=schedule, grad_clip=optim.build_grad_clip(cfg.get("optimizer_config")), amp=amp,
              scaler=grad_scaler(amp, cfg.get("fp16")), meta=meta, max_epochs=cfg["total_epochs"],
              log_interval=log_interval)
    if cfg.get("resume_from"):
        _load_weights(run, cfg["resume_from"], resume=True)
    elif cfg.get("load_from"):
        _load_weights(run, cfg["load_from"], resume=False)
    return run, loader, val_set


def train(cfg: dict, opts: TrainOptions) -> Run:
    """Train as `tools/train.py` does; returns the finished run (its model, epoch and best score)."""
    notes = check_runtime_keys(cfg, opts.config_path) + (cfg.get("converted_from") or {}).get("notes", [])
    log_interval, tensorboard, ignored = parse_log_config(cfg.get("log_config"))
    eval_settings = parse_evaluation(cfg.get("evaluation"))
    ckpt_settings = parse_checkpoint_config(cfg.get("checkpoint_config"))
    notes += [f"log_config.hooks: {kind} is not supported; the text and JSON logs are always on"
              for kind in ignored]
    resume_seed(cfg)

    backend = (cfg.get("dist_params") or {}).get("backend")
    info = dist_utils.init_distributed(opts.launcher, opts.device, backend)
    device = dist_utils.resolve_device(opts.device, info.local_rank)
    dist_utils.configure_threads(info, device)
    if device.type == "cpu":
        configure_cpu_runtime()
    lock = work_dir_lock(cfg["work_dir"]) if info.is_main else contextlib.nullcontext()
    with lock:
        run, loader, val_set = _build_run(cfg, opts, info, device, notes, tensorboard, log_interval)
        _loop(run, loader, val_set, eval_settings, ckpt_settings)
    return run


def _loop(run: Run, loader: DataLoader, val_set, eval_settings: EvalSettings,
          ckpt_settings: CheckpointSettings) -> None:
    """The epochs (train, validate, checkpoint), then `--test-last` / `--test-best`."""
    first_line = {k: run.meta[k] for k in ("env_info", "seed", "config_name", "work_dir")}
    if run.opts.validate:
        first_line["hook_msgs"] = {}
    run.log.meta(first_line)
    run.logger.info(f"Start running, work_dir: {run.work_dir.resolve()}")
    run.logger.info(f"workflow: [('train', 1)], max: {run.max_epochs} epochs")
    run.train_start, run.iters_at_start = time.perf_counter(), run.global_iter
    while run.epoch < run.max_epochs:
        train_one_epoch(run, loader)
        if val_set is not None and eval_settings.due(run.epoch):
            validate(run, val_set, eval_settings)
        if ckpt_settings.due(run.epoch, run.max_epochs):
            save_epoch_checkpoint(run, ckpt_settings)
    if run.opts.test_last:
        test_after_training(run, "last", eval_settings)
    if run.opts.test_best:
        test_after_training(run, "best", eval_settings)
    run.log.close()
    dist_utils.barrier()
