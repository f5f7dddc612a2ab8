"""`stgcn export CHECKPOINT OUT`: write a trained model for deployment (ONNX or TorchScript).

The model is BN-folded and takes its own input, keypoint (N, C, T, V, M) float32, returning logits
(N, num_classes); the batch N and frames T are dynamic, C, V and M come from the config. Feed it what
the config's test pipeline produces (`stgcn.Recognizer` shows how).

    stgcn export work_dirs/penn/latest.pth penn.onnx
    stgcn export latest.pth model.pt --format torchscript
    stgcn export latest.pth penn-int8.onnx --int8 --calib data/penn_action.pkl --calib-samples 64

--int8 quantizes statically with onnxruntime (int8 weights per channel, uint8 activations), calibrated
on --calib-samples samples spread evenly over the annotation file's training split (the config's
data.train.split; annotation files are often sorted by class) through the test pipeline. ONNX needs
`pip install "stgcn[onnx]"`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from stgcn.errors import StgcnError
from stgcn.inference.export import DEFAULT_OPSET, FORMATS

SUFFIX_FORMATS = {".onnx": "onnx", ".pt": "torchscript"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint written by tools/train.py (or any, with --config)")
    parser.add_argument("out", help="output file: .onnx (ONNX) or .pt (TorchScript)")
    parser.add_argument("--config", help="config file (default: the one stored in the checkpoint)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from OUT's suffix, .onnx -> onnx, .pt -> "
                             "torchscript)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset version (default {DEFAULT_OPSET})")
    parser.add_argument("--int8", action="store_true", help="ONNX only: static int8 quantization")
    parser.add_argument("--calib", metavar="ANN.pkl", help="annotation file whose samples calibrate --int8")
    parser.add_argument("--calib-samples", type=int, default=64, metavar="N",
                        help="calibration samples for --int8 (default 64)")
    parser.add_argument("--calib-split",
                        help="split of --calib to use (default: the config's data.train.split)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT when it exists")


def run(args: argparse.Namespace) -> int:
    from stgcn.inference.api import Recognizer
    from stgcn.inference.export import calibration_inputs, check_target, export, require_onnx

    fmt = args.format or SUFFIX_FORMATS.get(Path(args.out).suffix.lower())
    if fmt is None:
        raise StgcnError(f"OUT {args.out}: cannot tell the format from the suffix; name it .onnx (ONNX) or "
                         ".pt (TorchScript), or pass --format onnx|torchscript")
    if args.int8 and fmt != "onnx":
        raise StgcnError("--int8 needs --format onnx (onnxruntime quantization)")
    if args.int8 and not args.calib:
        raise StgcnError("--int8 needs --calib ANN.pkl: an annotation file whose samples calibrate the "
                         "int8 ranges (e.g. the training set)")
    if args.calib and not args.int8:
        raise StgcnError("--calib is only used with --int8; add --int8 or drop --calib")
    check_target(args.out, args.overwrite, source=args.checkpoint)
    if fmt == "onnx":
        require_onnx()
    start = time.perf_counter()
    recognizer = Recognizer.from_checkpoint(args.checkpoint, config=args.config)
    calibration = None
    if args.int8:
        calibration = calibration_inputs(recognizer.cfg, args.calib, args.calib_samples, args.calib_split)
    path = export(recognizer.model, args.out, fmt, args.opset, calibration, args.overwrite)
    model = recognizer.model
    kind = f"{fmt}" + (f" int8 (calibrated on {len(calibration)} samples)" if calibration else "")
    print(f"exported {args.checkpoint} to {path} as {kind}: input keypoint (N, {model.backbone.in_channels},"
          f" T, {model.backbone.num_node}, {model.cls_head.num_person}) float32 -> logits "
          f"(N, {model.cls_head.num_classes}); {path.stat().st_size / 2**20:.1f} MiB in "
          f"{time.perf_counter() - start:.1f} s")
    return 0
