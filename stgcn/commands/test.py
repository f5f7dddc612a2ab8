"""`stgcn test CONFIG CHECKPOINT` / `tools/test.py`: mmaction2 0.x's tools/test.py flags, plus --device,
--amp, --batch-size, --per-class and --confusion-matrix. `--out result.pkl` holds one float32 logit array
per sample, in dataset order.

`tools/test.py CHECKPOINT --eval ...` (no config) rebuilds everything from the config saved in the
checkpoint by `tools/train.py`.

Output files (--out, --confusion-matrix CSV) are checked before the model runs and written atomically;
an existing file is replaced only with --overwrite. A checkpoint whose weights hold NaN/inf is tested
with a warning naming the tensor.

mmaction2 1.x / PYSKL configs need no --eval: their `test_evaluator` (or `evaluation.metrics`) decides;
`--dump result.pkl` writes 1.x's per-sample dicts (`pred_score`, `pred_label`, `gt_label`), and
`--work-dir DIR` keeps the metrics as `DIR/{timestamp}.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings

from stgcn.engine.config import check_plain, load_config, merge_cfg_options, parse_cfg_options
from stgcn.engine.dist import LAUNCHERS
from stgcn.engine.metrics import METRICS
from stgcn.errors import StgcnError
from stgcn.fileio import OVERWRITE_HELP, check_output_dir

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="test config file path (or the checkpoint alone, when it was "
                                       "written by tools/train.py)")
    parser.add_argument("checkpoint", nargs="?", help="checkpoint file")
    parser.add_argument("--out", help="output result file: .pkl/.pickle (list of float32 logit arrays in "
                                      "dataset order) or .json; an existing file needs --overwrite")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    parser.add_argument("--dump", help="1.x: per-sample results pickle (list of dicts with pred_score, "
                                       "pred_label, gt_label tensors), in dataset order")
    parser.add_argument("--work-dir", help="1.x: write the metrics to WORK_DIR/{timestamp}.json")
    parser.add_argument("--fuse-conv-bn", action="store_true",
                        help="fold BatchNorm into the convolutions (faster inference)")
    parser.add_argument("--eval", nargs="+", choices=METRICS, default=[],
                        help="metrics to compute, e.g. top_k_accuracy mean_class_accuracy")
    parser.add_argument("--gpu-collect", action="store_true", help="accepted for compatibility; no effect")
    parser.add_argument("--tmpdir", help="accepted for compatibility; no effect")
    parser.add_argument("--options", nargs="+", metavar="KEY=VALUE",
                        help="deprecated alias of --eval-options")
    parser.add_argument("--eval-options", nargs="+", metavar="KEY=VALUE",
                        help="evaluation options, e.g. topk=1,5")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override config values")
    parser.add_argument("--average-clips", choices=("score", "prob", "None"),
                        help="accepted for compatibility; no effect on skeleton models (raw logits)")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="none", help="job launcher")
    parser.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int, default=0,
                        help=argparse.SUPPRESS)
    parser.add_argument("--onnx", action="store_true", help="not supported for skeleton models")
    parser.add_argument("--tensorrt", action="store_true", help="not supported for skeleton models")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="device (default: cuda when available)")
    parser.add_argument("--amp", nargs="?", const="auto", choices=("auto", "bf16", "fp16"), default=None,
                        help="mixed precision inference (fp16 on CUDA, bf16 on CPU)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="samples per batch (default: data.test_dataloader.videos_per_gpu, else 1)")
    parser.add_argument("--confusion-matrix", nargs="?", const="-", metavar="CSV",
                        help="print the confusion matrix (rows = true class), write it to CSV, or draw it "
                             "(.png/.pdf/.svg); an existing file needs --overwrite")
    parser.add_argument("--per-class", action="store_true", help="print per-class accuracy")


def _config_and_checkpoint(args: argparse.Namespace) -> tuple[dict, str]:
    options = parse_cfg_options(args.cfg_options)
    if args.checkpoint is not None:
        return load_config(args.config, options), args.checkpoint
    if not args.config.endswith(CHECKPOINT_SUFFIXES):
        raise StgcnError(f"{args.config}: give CONFIG CHECKPOINT, or a checkpoint alone (.pth)")
    from stgcn.models.checkpoint import read_checkpoint

    meta = read_checkpoint(args.config).get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("config_dict"), dict):
        raise StgcnError(f"{args.config}: the checkpoint carries no config (not written by tools/train.py); "
                         "pass the config file first: test.py CONFIG CHECKPOINT")
    check_plain(meta["config_dict"], "meta.config_dict", args.config)
    return merge_cfg_options(meta["config_dict"], options, source=args.config), args.config


def run(args: argparse.Namespace) -> int:
    from stgcn.engine.logger import get_logger
    from stgcn.engine.test import TestOptions, run_test

    if args.onnx or args.tensorrt:
        raise StgcnError("--onnx/--tensorrt feed an exported engine 'imgs' inputs and do not work for "
                         "skeleton models (as in mmaction2 0.x); test the .pth checkpoint instead")
    if args.options and args.eval_options:
        raise StgcnError("--options and --eval-options cannot both be given; use --eval-options")
    if args.options:
        warnings.warn("--options is deprecated; use --eval-options", stacklevel=2)
    if args.average_clips is not None:
        warnings.warn("--average-clips has no effect: skeleton models output raw logits", stacklevel=2)
    if args.batch_size is not None and args.batch_size < 1:
        raise StgcnError(f"--batch-size must be positive, got {args.batch_size}")
    if args.launcher != "none":
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    if args.work_dir:
        check_output_dir(args.work_dir)  # before the model runs
    cfg, checkpoint = _config_and_checkpoint(args)
    eval_options = parse_cfg_options(args.eval_options or args.options)
    converted = cfg.get("converted_from") or {}
    metrics = list(args.eval) or (list(converted.get("test_metrics", [])) if not args.out else [])
    if converted and not args.eval:
        eval_options.setdefault("topk", tuple(converted.get("topk", (1, 5))))
    rank = int(os.environ.get("RANK", 0)) if args.launcher != "none" else 0
    logger = get_logger(None, rank, cfg.get("log_level", "INFO"))
    for note in converted.get("notes", []):  # 1.x keys accepted without effect, said once
        logger.info(note)
    opts = TestOptions(out=args.out, dump=args.dump, metrics=metrics, eval_options=eval_options,
                       fuse_conv_bn=args.fuse_conv_bn, launcher=args.launcher, device=args.device,
                       amp=args.amp,
                       batch_size=args.batch_size, confusion_matrix=args.confusion_matrix,
                       per_class=args.per_class, overwrite=args.overwrite)
    results = run_test(cfg, checkpoint, opts, logger)
    if args.work_dir and rank == 0:
        from stgcn.engine.logger import timestamp
        from stgcn.fileio import write_atomic

        path = os.path.join(args.work_dir, f"{timestamp()}.json")
        write_atomic(path, json.dumps({k: float(v) for k, v in results.items()}, indent=1).encode("utf-8"))
        print(f"metrics written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of tools/test.py (the same error handling as `stgcn test`)."""
    from stgcn.cli import run_command

    return run_command("test", argv, prog="tools/test.py")
