"""The evaluation loop: per-sample logits in dataset order, metrics, and result files (SPEC 1.10).

`inference` returns a list of float32 arrays of shape (num_classes,), the raw logits, in dataset order;
under `--launcher pytorch` every process runs every world_size-th sample and rank 0 gathers them back.
Items with several clips, (num_clips, C, T, V, M), are folded into the batch and their scores merged as
the config's `test_cfg.average_clips` says (1.x/PYSKL: 'prob', softmax then the mean over clips).
`run_test` is `tools/test.py`: model + checkpoint, the `data.test` loader, inference, dump, metrics.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stgcn.engine import dist as dist_utils
from stgcn.engine.config import check_plain
from stgcn.engine.config_1x import average_clips
from stgcn.engine.loader import build_data, build_eval_loader, check_data_keys, loader_settings
from stgcn.engine.metrics import confusion_matrix, eval_topk, evaluate, per_class_accuracy
from stgcn.engine.runtime import autocast, resolve_amp
from stgcn.errors import StgcnError
from stgcn.fileio import check_output_path, write_atomic
from stgcn.progress import Progress
from stgcn.viz.confusion import is_picture, plot_confusion

RESULT_SUFFIXES = (".pkl", ".pickle", ".json")


def merge_clips(logits: torch.Tensor, clips: int, average_clips: str | None) -> torch.Tensor:
    """(N * clips, K) logits -> (N, K) scores: None keeps raw logits (one clip only), 'score' averages
    logits, 'prob' averages softmax probabilities (mmaction2 1.x `average_clips`)."""
    if average_clips is None:
        if clips > 1:
            raise StgcnError(f"the test pipeline makes {clips} clips per sample but the config does not say "
                             "how to merge them; set test_cfg=dict(average_clips='prob') in the model dict")
        return logits
    scores = logits.view(-1, clips, logits.shape[-1])
    if average_clips == "prob":
        return scores.softmax(dim=-1).mean(dim=1)
    if average_clips == "score":
        return scores.mean(dim=1)
    raise StgcnError(f"test_cfg.average_clips={average_clips!r} is not valid; use 'prob', 'score' or None")


@torch.inference_mode()
def inference(model: nn.Module, loader, indices: list[int], total: int, device: torch.device,
              amp: torch.dtype | None = None, desc: str = "test",
              show_progress: bool | None = None, average_clips: str | None = None) -> list | None:
    """Per-sample float32 scores in dataset order on rank 0 (None on other ranks)."""
    model.eval()
    results: list[np.ndarray] = []
    bar = Progress(total=len(indices), desc=desc, enabled=show_progress)
    for batch in loader:
        x = batch["keypoint"].to(device, non_blocking=True)
        clips = x.shape[1] if x.dim() == 6 else 1  # (N, clips, C, T, V, M) -> (N * clips, C, T, V, M)
        with autocast(device, amp):
            logits = model(x.flatten(0, 1) if x.dim() == 6 else x)
        scores = merge_clips(logits.float(), clips, average_clips)
        results.extend(scores.cpu().numpy())
        bar.update(len(scores))
    bar.close()
    return dist_utils.gather_ordered(indices, results, total)


def dump_results(results: list, path: str | Path) -> Path:
    """Write the per-sample logits atomically: `.pkl` (list of float32 arrays) or `.json` (lists)."""
    path = Path(path)
    if path.suffix not in RESULT_SUFFIXES:
        raise StgcnError(f"--out {path}: unsupported suffix; use one of {', '.join(RESULT_SUFFIXES)}")
    if path.suffix == ".json":
        data = json.dumps([np.asarray(r).tolist() for r in results]).encode("utf-8")
    else:
        data = pickle.dumps([np.asarray(r, dtype=np.float32) for r in results], protocol=4)
    return write_atomic(path, data)


def check_dump_suffix(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix not in (".pkl", ".pickle"):
        raise StgcnError(f"--dump {path}: the dump is a pickle; use a .pkl or .pickle file name")
    return path


def dump_results_1x(results: list, labels: list[int], path: str | Path) -> Path:
    """`--dump`: what mmaction2 1.x's DumpResults writes, one dict per sample in dataset order with torch
    tensors `pred_score` (K,), `pred_label` (1,) and `gt_label` (1,)."""
    path = check_dump_suffix(path)
    samples = [{"pred_score": torch.from_numpy(np.asarray(r, dtype=np.float32)),
                "pred_label": torch.tensor([int(np.argmax(r))]), "gt_label": torch.tensor([int(y)])}
               for r, y in zip(results, labels, strict=True)]
    return write_atomic(path, pickle.dumps(samples, protocol=4))


@dataclass
class TestOptions:
    out: str | None = None
    dump: str | None = None
    metrics: list[str] = field(default_factory=list)
    eval_options: dict = field(default_factory=dict)
    fuse_conv_bn: bool = False
    launcher: str = "none"
    device: str = "auto"
    amp: str | None = None
    batch_size: int | None = None
    confusion_matrix: str | None = None
    per_class: bool = False
    overwrite: bool = False


def build_test_model(cfg: dict, checkpoint: str, logger: logging.Logger) -> nn.Module:
    """The config's model with the checkpoint's weights (strict); a checkpoint written by tools/train.py
    carries its model config, and any difference from `cfg['model']` is reported."""
    from stgcn import build_model
    from stgcn.models.checkpoint import load_checkpoint, read_checkpoint

    ckpt = read_checkpoint(checkpoint)  # read once: its meta here, its weights below
    meta = ckpt.get("meta")
    saved = meta.get("config_dict") if isinstance(meta, dict) else None
    diff = []
    if isinstance(saved, dict) and "model" in saved:
        check_plain(saved["model"], "meta.config_dict.model", checkpoint)
        diff = model_config_diff(saved["model"], cfg["model"])
    note = f"the checkpoint was trained with a different model config ({', '.join(diff[:5])})" if diff else ""
    model = build_model(cfg["model"])
    try:
        loaded = load_checkpoint(model, checkpoint, map_location="cpu", strict=True, ckpt=ckpt)
    except StgcnError as exc:
        raise StgcnError(f"{exc}; {note}" if note else str(exc)) from None
    logger.info(f"{checkpoint}: weights loaded (key names: {loaded['remap']})")
    if note:
        logger.warning(f"{checkpoint}: {note}; the weights loaded, check the config")
    warn_non_finite(model, checkpoint, logger)
    return model.eval()


def warn_non_finite(model: nn.Module, checkpoint: str, logger: logging.Logger) -> list[str]:
    """One warning line naming the first tensor that holds NaN/inf (the scores would mean nothing)."""
    bad = [name for name, t in model.state_dict().items()
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        logger.warning(f"{checkpoint}: {len(bad)} weight tensors hold NaN/inf values (first: {bad[0]}); "
                       "the scores below are not meaningful; use an earlier checkpoint")
    return bad


def model_config_diff(a, b, prefix: str = "model") -> list[str]:
    """Dotted paths where two model config dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in list(a) + [k for k in b if k not in a]:
            out += model_config_diff(a.get(key), b.get(key), f"{prefix}.{key}")
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in model_config_diff(x, y, f"{prefix}.{i}")]
    return [] if a == b else [prefix]


def report_classes(results: list, labels: list[int], num_classes: int, opts: TestOptions,
                   class_names: object = None) -> None:
    """`--per-class` table and `--confusion-matrix [CSV|PNG]` (rows = true class, columns = prediction)."""
    pred = np.argmax(np.stack(results), axis=1)
    if opts.per_class:
        acc, count = per_class_accuracy(np.stack(results), labels, num_classes)
        print("class\tsamples\taccuracy")
        for c in range(num_classes):
            print(f"{c}\t{count[c]}\t{'n/a' if count[c] == 0 else f'{acc[c]:.4f}'}")
    if opts.confusion_matrix is not None:
        matrix = confusion_matrix(pred, labels, num_classes=num_classes)
        text = "\n".join(",".join(str(v) for v in row) for row in matrix) + "\n"
        if opts.confusion_matrix == "-":
            print("confusion matrix (rows = true class, columns = predicted class):")
            print(text, end="")
        elif is_picture(opts.confusion_matrix):
            print(f"confusion matrix drawn in {plot_confusion(matrix, opts.confusion_matrix, class_names)}")
        else:
            write_atomic(opts.confusion_matrix, text.encode("utf-8"))
            print(f"confusion matrix written to {opts.confusion_matrix}")


def run_test(cfg: dict, checkpoint: str, opts: TestOptions, logger: logging.Logger) -> OrderedDict:
    """Evaluate `checkpoint` on `data.test`; dump `--out`, print metrics; returns the metrics (rank 0)."""
    if not opts.out and not opts.metrics and not opts.dump:
        raise StgcnError("test needs --out result.pkl and/or --eval top_k_accuracy; give at least one")
    if opts.out and Path(opts.out).suffix not in RESULT_SUFFIXES:
        raise StgcnError(f"--out {opts.out}: unsupported suffix; use one of {', '.join(RESULT_SUFFIXES)}")
    if opts.out:
        check_output_path(opts.out, opts.overwrite)
    if opts.dump:
        check_output_path(check_dump_suffix(opts.dump), opts.overwrite, flag="--dump")
    if opts.confusion_matrix not in (None, "-"):
        check_output_path(opts.confusion_matrix, opts.overwrite, flag="--confusion-matrix")
    topk = eval_topk(opts.eval_options)
    check_data_keys(cfg.get("data") or {}, "config")
    backend = (cfg.get("dist_params") or {}).get("backend")
    with dist_utils.process_group(opts.launcher, opts.device, backend) as info:
        return _test(cfg, checkpoint, opts, logger, info, topk)


def _test(cfg: dict, checkpoint: str, opts: TestOptions, logger: logging.Logger, info: dist_utils.DistInfo,
          topk: tuple[int, ...]) -> OrderedDict:
    device = dist_utils.resolve_device(opts.device, info.local_rank)
    amp = resolve_amp(opts.amp, cfg.get("fp16"), device, logger)

    model = build_test_model(cfg, checkpoint, logger)
    dataset = build_data(cfg, "test", test_mode=True)
    num_classes = model.cls_head.num_classes
    if opts.fuse_conv_bn:
        from stgcn.models.fuse import fuse_conv_bn
        model = fuse_conv_bn(model)
    model = model.to(device)
    loader, indices = build_eval_loader(dataset, loader_settings(cfg["data"], "test"), info, device,
                                        opts.batch_size)
    logger.info(f"Testing {len(dataset)} samples of data.test")
    results = inference(model, loader, indices, len(dataset), device, amp, desc="test",
                        show_progress=None if info.is_main else False, average_clips=average_clips(cfg))
    metrics: OrderedDict = OrderedDict()
    if info.is_main:
        if opts.out:
            print(f"\nwriting results to {opts.out}")
            dump_results(results, opts.out)
        if opts.dump:
            print(f"\nwriting per-sample results to {opts.dump}")
            dump_results_1x(results, dataset.labels, opts.dump)
        if opts.metrics:
            metrics = evaluate(results, dataset.labels, opts.metrics, topk=topk, logger=logger)
            for name, value in metrics.items():
                print(f"{name}: {value:.04f}")
        if opts.per_class or opts.confusion_matrix is not None:
            report_classes(results, dataset.labels, num_classes, opts, cfg.get("class_names"))
    dist_utils.barrier()
    return metrics
