"""`stgcn train CONFIG` / `tools/train.py CONFIG`: every flag of mmaction2 0.x's tools/train.py, the 1.x
ones (--resume [auto|CKPT], --no-validate, --auto-scale-lr, --diff-rank-seed), plus --load-from, --device
and --amp. 1.x configs validate every `train_cfg.val_interval` epochs unless --no-validate.
Writes work_dir/{epoch_N,latest,best_top1_acc_epoch_N}.pth, the
{timestamp}.log and .log.json logs and the resolved config.

--resume-from continues the weights, optimizer, epoch, seed (unless --seed is given) and best score, so
the work dir ends as an uninterrupted run's would. While a training writes into a work dir, a second one
there is refused (the lock file .stgcn.lock holds the owner's pid; a dead owner's lock is taken over).
Errors are one line (exit 2); Ctrl-C stops with one line (exit 130)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from stgcn.engine.config import load_config, parse_cfg_options
from stgcn.engine.config_1x import translated_from
from stgcn.engine.dist import LAUNCHERS
from stgcn.errors import StgcnError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="train config file path")
    parser.add_argument("--work-dir", help="the dir to save logs and models (default: the config's "
                                           "work_dir, else ./work_dirs/<config name>); its checkpoints are "
                                           "replaced as training reaches them, and a second training in "
                                           "the same dir is refused while the first runs")
    parser.add_argument("--resume-from", help="checkpoint to resume from (weights, optimizer, epoch)")
    parser.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                        help="1.x: resume from CKPT, or (no value) from the work dir's latest checkpoint")
    parser.add_argument("--no-validate", action="store_true",
                        help="1.x configs: do not validate during training (they validate by default)")
    parser.add_argument("--auto-scale-lr", action="store_true",
                        help="1.x configs: lr x (batch_size x world size) / auto_scale_lr.base_batch_size")
    parser.add_argument("--load-from", help="initial weights (fine-tuning); a classifier of another class "
                                            "count is re-initialised")
    parser.add_argument("--validate", action="store_true",
                        help="evaluate on data.val every evaluation.interval epochs and keep the best")
    parser.add_argument("--test-last", action="store_true",
                        help="test the final model on data.test after training (last_pred.pkl)")
    parser.add_argument("--test-best", action="store_true",
                        help="test the best checkpoint on data.test after training (best_pred.pkl)")
    gpus = parser.add_mutually_exclusive_group()
    gpus.add_argument("--gpus", type=int, help="deprecated, accepted for compatibility: one process "
                                               "trains on one device (use tools/dist_train.sh for more)")
    gpus.add_argument("--gpu-ids", type=int, nargs="+", help="deprecated, accepted for compatibility "
                                                             "(pick a GPU with CUDA_VISIBLE_DEVICES)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: the config's seed, else random)")
    parser.add_argument("--diff-seed", "--diff-rank-seed", dest="diff_seed", action="store_true",
                        help="use a different seed on each rank")
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic algorithms (cuDNN deterministic, no benchmark)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", default=None,
                        help="override config values, e.g. total_epochs=10 data.videos_per_gpu=8 "
                             "lr_config.step=[5,8]")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="none", help="job launcher")
    parser.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int, default=0,
                        help=argparse.SUPPRESS)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="device (default: cuda when available)")
    parser.add_argument("--amp", nargs="?", const="auto", choices=("auto", "bf16", "fp16"), default=None,
                        help="mixed precision (default when given: fp16 on CUDA, bf16 on CPU)")


def resolve_work_dir(cli: str | None, cfg: dict, config_path: str) -> str:
    """CLI > config `work_dir` > ./work_dirs/<config name without .py>."""
    if cli:
        return cli
    if cfg.get("work_dir"):
        return str(cfg["work_dir"])
    return str(Path("work_dirs") / Path(config_path).stem)


def latest_checkpoint(work_dir: Path) -> str | None:
    """`--resume` without a path: the work dir's latest.pth, else its highest epoch_N.pth, else None."""
    if (work_dir / "latest.pth").is_file():
        return str(work_dir / "latest.pth")
    epochs = [(int(p.stem.split("_")[1]), p) for p in work_dir.glob("epoch_*.pth") if p.stem[6:].isdigit()]
    return str(max(epochs)[1]) if epochs else None


def run(args: argparse.Namespace) -> int:
    from stgcn.engine.train import TrainOptions, train

    if args.launcher != "none":
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    if args.gpus is not None or args.gpu_ids is not None:
        warnings.warn("--gpus/--gpu-ids are deprecated and ignored: one process trains on one device; pick "
                      "it with --device and CUDA_VISIBLE_DEVICES, or use tools/dist_train.sh", stacklevel=2)
    options = parse_cfg_options(args.cfg_options)
    cfg = load_config(args.config, options)
    kind = translated_from(cfg)
    if args.auto_scale_lr:
        if kind != "1.x":
            raise StgcnError(f"{args.config}: --auto-scale-lr needs an mmaction2 1.x config with "
                             "auto_scale_lr; scale optimizer.lr by hand for this config")
        cfg = load_config(args.config, {**options, "auto_scale_lr.enable": True})
    # the one route of the flags that are config keys: into the config, which the engine reads
    cfg["work_dir"] = resolve_work_dir(args.work_dir, cfg, args.config)
    for key in ("resume_from", "load_from", "seed"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.resume is not None and args.resume_from is None:
        cfg["resume_from"] = args.resume
    if cfg.get("resume_from") == "auto":  # 1.x `--resume` (or resume=True) without a checkpoint path
        cfg["resume_from"] = latest_checkpoint(Path(cfg["work_dir"]))
        if cfg["resume_from"] is None:
            print(f"warning: --resume: no checkpoint in {cfg['work_dir']} (latest.pth or epoch_N.pth); "
                  "training starts from scratch", file=sys.stderr)
    validate = args.validate or (kind == "1.x" and "val" in cfg["data"] and not args.no_validate)
    opts = TrainOptions(config_path=args.config, diff_seed=args.diff_seed, deterministic=args.deterministic,
                        validate=validate, test_last=args.test_last, test_best=args.test_best,
                        launcher=args.launcher, device=args.device, amp=args.amp)
    train(cfg, opts)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of tools/train.py (the same error handling as `stgcn train`)."""
    from stgcn.cli import run_command

    return run_command("train", argv, prog="tools/train.py")
