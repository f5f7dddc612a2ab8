"""`stgcn ensemble`: weighted score fusion of several streams' test outputs (joint, bone, motion, ...).

Each input is a result file written by `tools/test.py --out` (a .pkl list of per-sample float32 logit
arrays, or the same as .json lists), all in the order of one test split. The labels come from an
annotation file (`--ann ANN --split SPLIT`) or from a config's `data.test`. Prints top-1/top-5/mean-class
accuracy of every input and of the fusion `sum_i w_i * scores_i` (softmax first with `--apply-softmax`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stgcn.errors import StgcnError
from stgcn.fileio import OVERWRITE_HELP, check_output_path

RESULT_SUFFIXES = (".pkl", ".pickle", ".json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="result files from tools/test.py --out (.pkl or .json), "
                        "one per stream, all over the same test split")
    parser.add_argument("--weights", type=float, nargs="+", default=None,
                        help="one weight per result file (default: all 1), e.g. --weights 2 2 1 1")
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--ann", help="annotation file (.pkl or packed directory) holding the labels")
    labels.add_argument("--config", help="config file whose data.test gives the labels")
    parser.add_argument("--split", help="split of --ann (e.g. xview_val); needed when the file has splits")
    parser.add_argument("--apply-softmax", action="store_true",
                        help="turn each sample's logits into probabilities before weighting")
    parser.add_argument("--out", help="also write the fused scores (.pkl or .json, like tools/test.py "
                                      "--out); an existing file needs --overwrite")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def load_scores(path: str | Path) -> np.ndarray:
    """A result file as an (N, num_classes) float64 array."""
    path = Path(path)
    if path.suffix not in RESULT_SUFFIXES:
        raise StgcnError(f"{path}: result files must end in {', '.join(RESULT_SUFFIXES)}; pass the file "
                         "written by tools/test.py --out")
    if not path.is_file():
        raise StgcnError(f"{path}: result file not found; check the path")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StgcnError(f"{path}: not valid JSON ({exc}); pass the file written by tools/test.py "
                             "--out") from exc
    else:
        from stgcn.data.safe_pickle import load_pickle
        data = load_pickle(path)
    if not isinstance(data, (list, tuple)) or not data:
        raise StgcnError(f"{path}: expected a non-empty list of per-sample score arrays, got "
                         f"{type(data).__name__}; pass the file written by tools/test.py --out")
    try:
        rows = [np.asarray(r, dtype=np.float64).reshape(-1) for r in data]
    except (TypeError, ValueError) as exc:
        raise StgcnError(f"{path}: a sample's scores are not numbers ({exc})") from exc
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise StgcnError(f"{path}: samples have different numbers of class scores {sorted(widths)}; "
                         "the file is not a single test run's output")
    scores = np.stack(rows)
    if not np.isfinite(scores).all():
        raise StgcnError(f"{path}: scores contain NaN or inf; re-run tools/test.py for this stream")
    return scores


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def fuse(scores: Sequence[np.ndarray], weights: Sequence[float], apply_softmax: bool = False) -> np.ndarray:
    """Weighted sum of equally shaped (N, num_classes) score arrays (softmax first if asked)."""
    if len(scores) != len(weights):
        raise StgcnError(f"ensemble: {len(scores)} result files but {len(weights)} weights; give one "
                         "--weights value per file")
    shapes = {s.shape for s in scores}
    if len(shapes) != 1:
        raise StgcnError(f"ensemble: result files have different shapes {sorted(shapes)}; all must come "
                         "from the same test split and class list")
    return sum(w * (softmax(s) if apply_softmax else s) for s, w in zip(scores, weights, strict=True))


def labels_from(ann: str | None, split: str | None, config: str | None) -> list[int]:
    """Test labels in dataset order, from an annotation file + split or a config's data.test."""
    from stgcn.data import build_dataset
    if config is not None:
        if split is not None:
            raise StgcnError("ensemble: --split goes with --ann; with --config the split is data.test's")
        from stgcn.engine.config import load_config
        cfg = load_config(config)
        test_cfg = cfg.get("data", {}).get("test")
        if not isinstance(test_cfg, dict):
            raise StgcnError(f"{config}: data.test is missing; pass --ann ANN --split SPLIT instead")
        return list(build_dataset(test_cfg, test_mode=True).labels)
    dataset = build_dataset(dict(type="PoseDataset", ann_file=ann, split=split, pipeline=[]), test_mode=True)
    return list(dataset.labels)


def evaluate_scores(scores: np.ndarray, labels: Sequence[int]) -> dict[str, float]:
    """top1, top5 (top-k with k = min(5, num_classes)) and mean-class accuracy."""
    from stgcn.engine.metrics import mean_class_accuracy, top_k_accuracy
    top1, top5 = top_k_accuracy(scores, labels, (1, min(5, scores.shape[1])))
    return {"top1": top1, "top5": top5, "mean_class": mean_class_accuracy(scores, labels)}


def run(args: argparse.Namespace) -> int:
    weights = args.weights if args.weights is not None else [1.0] * len(args.results)
    if len(weights) != len(args.results):
        raise StgcnError(f"ensemble: {len(args.results)} result files but {len(weights)} --weights; give "
                         "one weight per file")
    if args.out:
        check_output_path(args.out, args.overwrite)
    scores = [load_scores(p) for p in args.results]
    labels = labels_from(args.ann, args.split, args.config)
    source = args.config or f"{args.ann} split {args.split}"
    for path, s in zip(args.results, scores, strict=True):
        if len(s) != len(labels):
            raise StgcnError(f"{path}: {len(s)} samples but {source} has {len(labels)} test labels; use "
                             "the result of the same test split")
        if max(labels) >= s.shape[1]:
            raise StgcnError(f"{path}: {s.shape[1]} class scores but label {max(labels)} occurs in "
                             f"{source}; use the result of a model for these classes")
    fused = fuse(scores, weights, args.apply_softmax)
    width = max(len(str(p)) for p in args.results)
    for path, s, w in zip(args.results, scores, weights, strict=True):
        m = evaluate_scores(s, labels)
        print(f"{str(path):<{width}}  weight {w:g}  top1 {m['top1']:.4f}  top5 {m['top5']:.4f}  "
              f"mean_class {m['mean_class']:.4f}")
    m = evaluate_scores(fused, labels)
    print(f"{'fused':<{width}}  {len(scores)} streams  top1 {m['top1']:.4f}  top5 {m['top5']:.4f}  "
          f"mean_class {m['mean_class']:.4f}")
    if args.out:
        from stgcn.engine.test import dump_results
        dump_results(list(fused.astype(np.float32)), args.out)
        print(f"wrote fused scores to {args.out}")
    return 0

