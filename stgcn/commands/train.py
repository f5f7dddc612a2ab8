"""`stgcn train CONFIG` / `tools/train.py CONFIG`: every flag of mmaction2 0.x's tools/train.py, plus
--load-from, --device and --amp. Writes work_dir/{epoch_N,latest,best_top1_acc_epoch_N}.pth, the
{timestamp}.log and .log.json logs and the resolved config."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

from stgcn.commands import tool_main
from stgcn.engine.config import load_config, parse_cfg_options
from stgcn.engine.dist import LAUNCHERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="train config file path")
    parser.add_argument("--work-dir", help="the dir to save logs and models (default: the config's "
                                           "work_dir, else ./work_dirs/<config name>)")
    parser.add_argument("--resume-from", help="checkpoint to resume from (weights, optimizer, epoch)")
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
    parser.add_argument("--diff-seed", action="store_true", help="use a different seed on each rank")
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


def run(args: argparse.Namespace) -> int:
    from stgcn.engine.train import TrainOptions, train

    if args.launcher != "none":
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    if args.gpus is not None or args.gpu_ids is not None:
        warnings.warn("--gpus/--gpu-ids are deprecated and ignored: one process trains on one device; pick "
                      "it with --device and CUDA_VISIBLE_DEVICES, or use tools/dist_train.sh", stacklevel=2)
    cfg = load_config(args.config, parse_cfg_options(args.cfg_options))
    # the one route of the flags that are config keys: into the config, which the engine reads
    cfg["work_dir"] = resolve_work_dir(args.work_dir, cfg, args.config)
    for key in ("resume_from", "load_from", "seed"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    opts = TrainOptions(config_path=args.config, diff_seed=args.diff_seed, deterministic=args.deterministic,
                        validate=args.validate, test_last=args.test_last, test_best=args.test_best,
                        launcher=args.launcher, device=args.device, amp=args.amp)
    train(cfg, opts)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of tools/train.py."""
    return tool_main("Train an ST-GCN skeleton action recognizer", add_arguments, run, argv)
