"""`stgcn predict CHECKPOINT INPUT`: class predictions of a trained model, as a table and optionally a file.

CHECKPOINT is a .pth file, an https:// URL (downloaded once into $STGCN_HOME/checkpoints) or a name from
`stgcn zoo`. INPUT is an annotation .pkl (`--split NAME` for a split file), a `stgcn pack` directory, or a
keypoint array: .npy holding [M, T, V, C] or [T, V, C] (one person), .npz holding `keypoint` and
optionally `keypoint_score` [M, T, V] and `img_shape` (height, width); `--img-shape H W` gives the frame
size of 2D pixels to samples that carry none. Samples go through the test
pipeline of the checkpoint's config (or --config). When the input has labels, the table shows them and
the top-1/top-k accuracy. `--out preds.json|.csv` keeps per-sample scores (never overwrites an existing
file without --overwrite).

  stgcn predict work_dirs/penn/latest.pth data/penn_action.pkl --split test --top-k 3 --out preds.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np

from stgcn.errors import StgcnError
from stgcn.fileio import check_output_path, write_atomic
from stgcn.inference.api import BACKENDS
from stgcn.inference.compiled import PRECISIONS

OUT_SUFFIXES = (".json", ".csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint: .pth path, https:// URL or model zoo name")
    parser.add_argument("input", help="annotation .pkl, packed directory, or .npy/.npz keypoint array")
    parser.add_argument("--config", help="config file (needed when the checkpoint carries none)")
    parser.add_argument("--label-map", help="class names: a text file, one per line, or a built-in list "
                                            "(ntu60, ntu120, nw_ucla, penn_action); default: the "
                                            "checkpoint's")
    parser.add_argument("--split", help="split of a split annotation file, e.g. test or xsub_val")
    parser.add_argument("--img-shape", type=int, nargs=2, metavar=("H", "W"),
                        help="frame size of 2D pixel keypoints for samples that carry no img_shape "
                             "(a .npy array never does); needed by checkpoints whose test pipeline "
                             "normalises by it (PreNormalize2D)")
    parser.add_argument("--top-k", type=int, default=5, help="classes listed per sample (default 5)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="samples per forward pass (default: data.test_dataloader.videos_per_gpu)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    parser.add_argument("--out", help="write per-sample predictions to .json or .csv")
    add_backend_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--onnx-model, --backend and --precision: how a Recognizer runs (predict and demo)."""
    parser.add_argument("--onnx-model", metavar="M.onnx", help="run this `stgcn export` file of the "
                        "checkpoint in onnxruntime (e.g. its --int8 model: the fastest at batch 1 on a CPU)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="torch (default), onnxruntime (the fp32 graph; implied by --onnx-model) or "
                             "inductor (torch.compile with frozen weights: compiles once per input shape, "
                             "then the fastest for batches on CPUs with AMX; needs a C++ compiler)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default) or bf16 (autocast; torch and inductor back ends)")


def _name(pred_class: int, names: list[str] | None) -> str:
    return names[pred_class] if names else str(pred_class)


def print_table(preds: list, names: list[str] | None, top_k: int) -> None:
    """One row per sample: id, label (when known), the top-k classes with scores."""
    has_labels = any(p.label is not None for p in preds)
    rows = [["sample"] + (["label"] if has_labels else []) + [f"top-{i + 1}" for i in range(top_k)]]
    for i, p in enumerate(preds):
        row = [p.frame_dir if p.frame_dir is not None else str(i)]
        if has_labels:
            row.append("" if p.label is None else _name(p.label, names))
        row += [f"{_name(c, names)} {s:.3f}" for c, _, s in p.top_k]
        rows.append(row)
    widths = [max(len(r[j]) for r in rows if j < len(r)) for j in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip())


def accuracy_line(preds: list, top_k: int) -> str | None:
    """`top-1 acc ... top-k acc ...` over the samples that have a label, or None."""
    labelled = [p for p in preds if p.label is not None]
    if not labelled:
        return None
    top1 = sum(p.top_k[0][0] == p.label for p in labelled)
    topk = sum(p.label in [c for c, _, _ in p.top_k] for p in labelled)
    n = len(labelled)
    line = f"top-1 accuracy {top1 / n:.4f} ({top1}/{n})"
    if top_k > 1:
        line += f", top-{top_k} accuracy {topk / n:.4f} ({topk}/{n})"
    return line


def encode(preds: list, names: list[str] | None, suffix: str) -> bytes:
    """The --out file's bytes: JSON records, or CSV with one column per class score."""
    if suffix == ".json":
        records = [{"sample": p.frame_dir if p.frame_dir is not None else str(i), "label": p.label,
                    "top_k": [{"class": c, "name": n, "score": s} for c, n, s in p.top_k],
                    "scores": [float(v) for v in p.scores]} for i, p in enumerate(preds)]
        return (json.dumps({"class_names": names, "predictions": records}, indent=1) + "\n").encode()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    num_classes = len(preds[0].scores)
    writer.writerow(["sample", "label", "pred", "pred_name", "pred_score"]
                    + [f"score_{_name(c, names)}" for c in range(num_classes)])
    for i, p in enumerate(preds):
        c, n, s = p.top_k[0]
        writer.writerow([p.frame_dir if p.frame_dir is not None else i, "" if p.label is None else p.label,
                         c, n or "", f"{s:.6f}"] + [f"{v:.6f}" for v in np.asarray(p.scores)])
    return buf.getvalue().encode()


def run(args: argparse.Namespace) -> int:
    from stgcn.inference import Recognizer
    from stgcn.inference.inputs import load_samples
    from stgcn.video.io import VIDEO_SUFFIXES

    if args.top_k < 1:
        raise StgcnError(f"--top-k must be at least 1, got {args.top_k}")
    if args.batch_size is not None and args.batch_size < 1:
        raise StgcnError(f"--batch-size must be positive, got {args.batch_size}")
    if args.out:
        if Path(args.out).suffix not in OUT_SUFFIXES:
            raise StgcnError(f"--out {args.out}: unsupported suffix; use .json or .csv")
        check_output_path(args.out, args.overwrite)
    if args.img_shape is not None and min(args.img_shape) < 1:
        raise StgcnError(f"--img-shape {args.img_shape[0]} {args.img_shape[1]}: give the frame height and "
                         "width in pixels, both positive")
    if Path(args.input).suffix.lower() in VIDEO_SUFFIXES:
        raise StgcnError(f"{args.input}: a video; predict reads poses. Classify the video with `stgcn demo "
                         f"{args.input} OUT.mp4 --checkpoint CKPT` (or `stgcn vis ... --checkpoint CKPT`), "
                         "or turn videos into an annotation file with `stgcn extract-pose`")
    samples = load_samples(args.input, args.split, None if args.img_shape is None else tuple(args.img_shape))
    rec = Recognizer.from_checkpoint(args.checkpoint, args.config, args.device, args.label_map,
                                     backend=args.backend, onnx_model=args.onnx_model,
                                     precision=args.precision)
    top_k = min(args.top_k, rec.num_classes)
    preds = rec.predict(samples, top_k=top_k, batch_size=args.batch_size)
    print_table(preds, rec.class_names, top_k)
    line = accuracy_line(preds, top_k)
    if line:
        print(line)
    if args.out:
        write_atomic(args.out, encode(preds, rec.class_names, Path(args.out).suffix))
        print(f"predictions written to {args.out}")
    return 0
