"""Evaluation inside a training run: `--validate` after an epoch (log line, best checkpoint) and
`--test-last` / `--test-best` after the last one."""

from __future__ import annotations

from pathlib import Path

from stgcn.engine import dist as dist_utils
from stgcn.engine.config_1x import average_clips
from stgcn.engine.loader import build_data, build_eval_loader, loader_settings
from stgcn.engine.metrics import EvalSettings, evaluate
from stgcn.engine.run import Run, checkpoint_meta
from stgcn.engine.test import dump_results, inference
from stgcn.engine.workdir import is_better


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
                save_checkpoint(run.work_dir / name, run.raw_model, run.optimizer, checkpoint_meta(run))
                run.logger.info(f"Now best checkpoint is saved as {name}.")
                run.logger.info(f"Best {key} is {metrics[key]:.4f} at {run.epoch} epoch.")
    run.meta["hook_msgs"] = dist_utils.broadcast_object(run.meta["hook_msgs"])
    run.model.train()


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
