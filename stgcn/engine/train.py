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
work dir in use. The parts live beside this module: `run` (options and state), `steps` (the iterations),
`checkpointing` (save, resume), `train_eval` (validation, testing after training).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from stgcn.data.classes import resolve_class_names
from stgcn.engine import dist as dist_utils
from stgcn.engine import optim
from stgcn.engine.checkpointing import load_weights, resume_seed, save_epoch_checkpoint
from stgcn.engine.config import config_to_text, dump_config
from stgcn.engine.config_1x import translated_from
from stgcn.engine.loader import (
    build_data,
    build_train_loader,
    check_data_keys,
    check_model_sizes,
    loader_settings,
    set_random_seed,
)
from stgcn.engine.logger import (
    RunLog,
    collect_env,
    env_text,
    get_logger,
    parse_log_config,
    stgcn_version,
    timestamp,
)
from stgcn.engine.metrics import EvalSettings, parse_evaluation
from stgcn.engine.run import Run, TrainOptions
from stgcn.engine.runtime import configure_cpu_runtime, grad_scaler, resolve_amp
from stgcn.engine.steps import train_one_epoch
from stgcn.engine.train_eval import test_after_training, validate
from stgcn.engine.workdir import CheckpointSettings, parse_checkpoint_config
from stgcn.errors import StgcnError
from stgcn.fileio import clean_stale_temps, work_dir_lock

__all__ = ["Run", "TrainOptions", "check_runtime_keys", "train"]


def config_error(err: StgcnError, cfg: dict, source: str) -> StgcnError:
    """A model, data or optimizer build error with the config file and the key as the config names it
    (an error that already names a file, such as a bad sample's, is left as it is)."""
    msg = str(err)
    if not msg.startswith(("backbone", "cls_head", "model", "optimizer", "pipeline", "data.", "train_",
                           "val_", "test_")):
        return err
    if msg.startswith(("backbone", "cls_head")):
        msg = "model." + msg
    if msg.startswith("optimizer") and translated_from(cfg) == "1.x":
        msg = "optim_wrapper." + msg
    return StgcnError(f"{source}: {msg}")


def check_runtime_keys(cfg: dict, source: str) -> list[str]:
    """Reject what this runtime cannot honour; returns warnings for what it ignores."""
    if not isinstance(cfg.get("total_epochs"), int) or cfg["total_epochs"] < 1:
        if translated_from(cfg) == "1.x":
            raise StgcnError(f"{source}: train_cfg.max_epochs must be a positive int, got "
                             f"{cfg.get('total_epochs')!r}; e.g. train_cfg = dict(max_epochs=80)")
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

    try:
        raw_model = build_model(cfg["model"]).to(device)
        train_set = build_data(cfg, "train", test_mode=False)
        val_set = build_data(cfg, "val", test_mode=True) if opts.validate else None
    except StgcnError as err:
        raise config_error(err, cfg, opts.config_path) from None
    loader = build_train_loader(train_set, loader_settings(cfg["data"], "train"), info, seed, device)
    try:
        optimizer = optim.build_optimizer(raw_model, cfg["optimizer"])
    except StgcnError as err:
        raise config_error(err, cfg, opts.config_path) from None
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
        load_weights(run, cfg["resume_from"], resume=True)
    elif cfg.get("load_from"):
        load_weights(run, cfg["load_from"], resume=False)
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
    with dist_utils.process_group(opts.launcher, opts.device, backend) as info:
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
    spent = dict(training=0.0, validation=0.0, checkpoints=0.0)
    while run.epoch < run.max_epochs:
        with _clock(spent, "training"):
            train_one_epoch(run, loader)
        if val_set is not None and eval_settings.due(run.epoch):
            with _clock(spent, "validation"):
                validate(run, val_set, eval_settings)
        if ckpt_settings.due(run.epoch, run.max_epochs):
            with _clock(spent, "checkpoints"):
                save_epoch_checkpoint(run, ckpt_settings)
    _log_time_spent(run, spent)
    if run.opts.test_last:
        test_after_training(run, "last", eval_settings)
    if run.opts.test_best:
        test_after_training(run, "best", eval_settings)
    run.log.close()
    dist_utils.barrier()


@contextlib.contextmanager
def _clock(spent: dict[str, float], name: str):
    """Adds the wall time of the ``with`` body to ``spent[name]``."""
    tick = time.perf_counter()
    try:
        yield
    finally:
        spent[name] += time.perf_counter() - tick


def _log_time_spent(run: Run, spent: dict[str, float]) -> None:
    """The run's closing line: where its wall time went (what a time-to-accuracy figure reads)."""
    iters = run.global_iter - run.iters_at_start
    if iters == 0:
        return
    per_iter = spent["training"] / iters * 1000
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in spent.items() if seconds > 0)
    run.logger.info(f"Time spent: {parts} ({iters} iterations, {per_iter:.1f} ms each, data included)")
