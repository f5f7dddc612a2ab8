"""The training loop, top to bottom: setup, data, model, optimizer, schedule, resume, then per epoch train,
checkpoint (`epoch % checkpoint_config.interval == 0` or the last epoch) and validate
(`--validate` and `epoch % evaluation.interval == 0`), as mmaction2 0.x's runner and hooks did (SPEC 1.8,
1.9, 1.12, 1.13).

Reproducibility: the train order is a permutation seeded by `seed + epoch` (DistributedSampler, also for
one process), the global RNGs are reseeded at every epoch start, and every sample's random transforms run
under a seed derived from (seed, epoch, sample index). So a run depends on its seed only, whatever the
number of loader workers, and a run resumed after epoch k continues exactly like the uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from stgcn.data.classes import resolve_class_names
from stgcn.engine import dist as dist_utils
from stgcn.engine import optim
from stgcn.engine.config import config_to_text, dump_config
from stgcn.engine.dist import (
    build_eval_loader,
    build_train_loader,
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
from stgcn.engine.runtime import configure_cpu_runtime
from stgcn.engine.test import autocast, build_data, dump_results, inference, resolve_amp
from stgcn.errors import StgcnError
from stgcn.fileio import copy_atomic


@dataclass
class TrainOptions:
    """The command-line side of a run (the config holds the rest)."""

    config_path: str
    work_dir: str
    seed: int | None = None
    diff_seed: bool = False
    deterministic: bool = False
    validate: bool = False
    test_last: bool = False
    test_best: bool = False
    resume_from: str | None = None
    load_from: str | None = None
    launcher: str = "none"
    device: str = "auto"
    amp: str | None = None


# config sections ------------------------------------------------------------------------------------------

@dataclass
class CheckpointSettings:
    interval: int = 1
    save_optimizer: bool = True
    max_keep_ckpts: int = -1
    save_last: bool = True
    create_symlink: bool = True


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
    return settings


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
    saved_epochs: list[int] = field(default_factory=list)
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


def _point_latest(work_dir: Path, target: str) -> None:
    """`latest.pth` -> `target`: a relative symlink, or a copy where links are unavailable; atomic."""
    tmp = work_dir / f".latest.pth.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, work_dir / "latest.pth")
    except OSError:
        tmp.unlink(missing_ok=True)
        copy_atomic(work_dir / target, work_dir / "latest.pth")


def save_epoch_checkpoint(run: Run, settings: CheckpointSettings) -> None:
    from stgcn.models.checkpoint import save_checkpoint

    name = f"epoch_{run.epoch}.pth"
    run.meta["hook_msgs"]["last_ckpt"] = str(run.work_dir / name)
    if run.info.is_main:
        run.logger.info(f"Saving checkpoint at {run.epoch} epochs")
        optimizer = run.optimizer if settings.save_optimizer else None
        save_checkpoint(run.work_dir / name, run.raw_model, optimizer, _meta(run))
        if settings.create_symlink:
            _point_latest(run.work_dir, name)
        run.saved_epochs.append(run.epoch)
        if settings.max_keep_ckpts > 0:
            for old in run.saved_epochs[:-settings.max_keep_ckpts]:
                (run.work_dir / f"epoch_{old}.pth").unlink(missing_ok=True)
            run.saved_epochs = run.saved_epochs[-settings.max_keep_ckpts:]
    dist_utils.barrier()


def validate(run: Run, dataset, settings: EvalSettings) -> None:
    """Evaluate on data.val, log `Epoch(val)`, keep `best_{key}_epoch_{N}.pth` (rank 0)."""
    from stgcn.models.checkpoint import save_checkpoint

    if run.info.distributed:
        dist_utils.broadcast_buffers(run.raw_model)  # BN statistics differ per rank without broadcast_buffers
    val_settings = loader_settings(run.cfg["data"], "val")
    loader, indices = build_eval_loader(dataset, val_settings, run.info, run.device)
    results = inference(run.raw_model, loader, indices, len(dataset), run.device, run.amp, desc="val",
                        show_progress=None if run.info.is_main else False)
    if run.info.is_main:
        metrics = evaluate(results, dataset.labels, settings.metrics, settings.topk, logger=run.logger)
        lr = run.optimizer.param_groups[0]["lr"]
        run.log.val(run.epoch, len(loader), lr, metrics, run.global_iter)
        key = next(iter(metrics)) if settings.save_best == "auto" else settings.save_best
        if key is not None:
            greater = settings.rule != "less" if settings.rule else "loss" not in key
            hook_msgs = run.meta["hook_msgs"]
            best = hook_msgs.get("best_score", -math.inf if greater else math.inf)
            if (metrics[key] > best) if greater else (metrics[key] < best):
                if hook_msgs.get("best_ckpt"):
                    Path(hook_msgs["best_ckpt"]).unlink(missing_ok=True)
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
    dataset = build_data(run.cfg, "test", run.raw_model, test_mode=True)
    settings = loader_settings(run.cfg["data"], "test")
    loader, indices = build_eval_loader(dataset, settings, run.info, run.device)
    results = inference(run.raw_model, loader, indices, len(dataset), run.device, run.amp,
                        desc=f"test {which}", show_progress=None if run.info.is_main else False)
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
    notes = []
    if cfg.get("workflow", [("train", 1)]) not in ([("train", 1)], [["train", 1]]):
        notes.append("workflow entries other than ('train', 1) are ignored; use --validate to evaluate")
    return notes


def _seeds(cfg: dict, opts: TrainOptions, info: dist_utils.DistInfo) -> tuple[int, int]:
    """(the run's seed, this rank's seed): --seed, else the config's, else random from rank 0."""
    seed = opts.seed if opts.seed is not None else cfg.get("seed")
    if seed is None:
        seed = dist_utils.broadcast_object(int(np.random.randint(2**31)))
    return seed, seed + info.rank if opts.diff_seed else seed


def _wrap(raw_model: nn.Module, info: dist_utils.DistInfo, device: torch.device, cfg: dict) -> nn.Module:
    if not info.distributed:
        return raw_model
    # 1x1 conv gradients come back channels-last: the same memory order as the parameter, only the
    # strides of the size-1 dims differ, so DDP's layout warning does not apply
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return nn.parallel.DistributedDataParallel(
        raw_model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False,
        find_unused_parameters=bool(cfg.get("find_unused_parameters", False)))


def _grad_scaler(amp: torch.dtype | None, fp16_cfg: dict | None) -> torch.amp.GradScaler | None:
    """fp16 needs loss scaling (dynamic, or starting from `fp16 = dict(loss_scale=512.)`); bf16 does not."""
    if amp != torch.float16:
        return None
    loss_scale = (fp16_cfg or {}).get("loss_scale", "dynamic")
    scale = float(loss_scale) if isinstance(loss_scale, (int, float)) else 2.0**16
    return torch.amp.GradScaler("cuda", init_scale=scale)


def train(cfg: dict, opts: TrainOptions) -> Run:
    """Train as `tools/train.py` does; returns the finished run (its model, epoch and best score)."""
    from stgcn import build_model

    notes = check_runtime_keys(cfg, opts.config_path)
    log_interval, tensorboard, ignored = parse_log_config(cfg.get("log_config"))
    eval_settings = parse_evaluation(cfg.get("evaluation"))
    ckpt_settings = parse_checkpoint_config(cfg.get("checkpoint_config"))
    notes += [f"log_config.hooks: {kind} is not supported; the text and JSON logs are always on"
              for kind in ignored]

    backend = (cfg.get("dist_params") or {}).get("backend")
    info = dist_utils.init_distributed(opts.launcher, opts.device, backend)
    device = dist_utils.resolve_device(opts.device, info.local_rank)
    dist_utils.configure_threads(info, device)
    if device.type == "cpu":
        configure_cpu_runtime()
    work_dir = Path(opts.work_dir)
    stamp = dist_utils.broadcast_object(timestamp())
    if info.is_main:
        work_dir.mkdir(parents=True, exist_ok=True)
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
    seed, rank_seed = _seeds(cfg, opts, info)
    logger.info(f"Set random seed to {rank_seed}, deterministic: {opts.deterministic}")
    set_random_seed(rank_seed, opts.deterministic)
    if cfg.get("cudnn_benchmark") and not opts.deterministic:
        torch.backends.cudnn.benchmark = True

    raw_model = build_model(cfg["model"]).to(device)
    train_set = build_data(cfg, "train", raw_model, test_mode=False)
    val_set = build_data(cfg, "val", raw_model, test_mode=True) if opts.validate else None
    loader = build_train_loader(train_set, loader_settings(cfg["data"], "train"), info, seed, device)
    optimizer = optim.build_optimizer(raw_model, cfg["optimizer"])
    max_epochs = cfg["total_epochs"]
    schedule = optim.build_lr_schedule(cfg.get("lr_config") or {"policy": "fixed"}, max_epochs, len(loader))
    amp = resolve_amp(opts.amp, cfg.get("fp16"), device, logger)
    meta = {"env_info": env, "seed": rank_seed, "config_name": Path(opts.config_path).name,
            "work_dir": work_dir.name, "hook_msgs": {}, "stgcn_version": stgcn_version(),
            "config": config_to_text(cfg), "config_dict": cfg}
    if cfg.get("class_names") is not None:  # so that a checkpoint alone names its classes
        meta["class_names"] = resolve_class_names(cfg["class_names"], raw_model.cls_head.num_classes,
                                                  f"{opts.config_path}: class_names")
    run_log = RunLog(logger, work_dir / f"{stamp}.log.json", info.rank,
                     work_dir / "tf_logs" if tensorboard else None)
    run = Run(cfg=cfg, opts=opts, info=info, device=device, work_dir=work_dir, logger=logger, log=run_log,
              model=_wrap(raw_model, info, device, cfg), raw_model=raw_model, optimizer=optimizer,
              schedule=schedule, grad_clip=optim.build_grad_clip(cfg.get("optimizer_config")), amp=amp,
              scaler=_grad_scaler(amp, cfg.get("fp16")), meta=meta, max_epochs=max_epochs,
              log_interval=log_interval)

    resume_from = opts.resume_from or cfg.get("resume_from")
    load_from = opts.load_from or cfg.get("load_from")
    if resume_from:
        _load_weights(run, resume_from, resume=True)
    elif load_from:
        _load_weights(run, load_from, resume=False)
    first_line = {k: meta[k] for k in ("env_info", "seed", "config_name", "work_dir")}
    if opts.validate:
        first_line["hook_msgs"] = {}
    run_log.meta(first_line)
    logger.info(f"Start running, work_dir: {work_dir.resolve()}")
    logger.info(f"workflow: [('train', 1)], max: {max_epochs} epochs")

    run.train_start, run.iters_at_start = time.perf_counter(), run.global_iter
    while run.epoch < max_epochs:
        train_one_epoch(run, loader)
        if run.epoch % ckpt_settings.interval == 0 or (ckpt_settings.save_last and run.epoch == max_epochs):
            save_epoch_checkpoint(run, ckpt_settings)
        if val_set is not None and eval_settings.due(run.epoch):
            validate(run, val_set, eval_settings)
    if opts.test_last:
        test_after_training(run, "last", eval_settings)
    if opts.test_best:
        test_after_training(run, "best", eval_settings)
    run_log.close()
    dist_utils.barrier()
    return run
