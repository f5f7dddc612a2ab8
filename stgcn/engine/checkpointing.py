"""Checkpoints of a training run: the epoch checkpoint (`checkpoint_config`), and the start from one
(`resume_from`: weights, optimizer, epoch, iteration, best score; `load_from`: weights only)."""

from __future__ import annotations

import warnings

from stgcn.engine import dist as dist_utils
from stgcn.engine.run import Run, checkpoint_meta
from stgcn.engine.workdir import CheckpointSettings, point_latest, prune_epoch_checkpoints


def save_epoch_checkpoint(run: Run, settings: CheckpointSettings) -> None:
    from stgcn.models.checkpoint import save_checkpoint

    name = f"epoch_{run.epoch}.pth"
    run.meta["hook_msgs"]["last_ckpt"] = str(run.work_dir / name)
    if run.info.is_main:
        run.logger.info(f"Saving checkpoint at {run.epoch} epochs")
        optimizer = run.optimizer if settings.save_optimizer else None
        save_checkpoint(run.work_dir / name, run.raw_model, optimizer, checkpoint_meta(run))
        if settings.create_symlink:
            point_latest(run.work_dir, name)
        prune_epoch_checkpoints(run.work_dir, run.epoch, settings.max_keep_ckpts)
    dist_utils.barrier()


def load_weights(run: Run, path: str, resume: bool) -> None:
    """`resume_from`: weights, optimizer, epoch, iteration and best score; `load_from`: weights only, a
    classifier of another class count re-initialised (fine-tuning)."""
    from stgcn.models.checkpoint import load_checkpoint

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ckpt = load_checkpoint(run.raw_model, path, map_location="cpu", strict=True, reinit_head=not resume)
    for warning in caught:
        run.logger.warning(str(warning.message))
    run.logger.info(f"load checkpoint from {path} (key names: {ckpt['remap']})")
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


def resume_seed(cfg: dict) -> None:
    """A resumed run without a seed of its own continues with the checkpoint's seed."""
    if cfg.get("seed") is not None or not cfg.get("resume_from"):
        return
    from stgcn.models.checkpoint import read_checkpoint

    seed = (read_checkpoint(cfg["resume_from"]).get("meta") or {}).get("seed")
    if isinstance(seed, int):
        cfg["seed"] = seed
