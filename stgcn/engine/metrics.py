"""Classification metrics with mmaction2 0.x's exact definitions (SPEC 1.11).

* `top_k_accuracy`: the top k of `np.argsort(scores)[:, -k:][:, ::-1]` (numpy's default argsort, so ties
  break the way mmaction2's did on the same numpy).
* `mean_class_accuracy`: the mean of per-class recall over the *union* of predicted and true labels; a
  class that is predicted but never the ground truth counts with accuracy 0.

`parse_evaluation` reads the config's `evaluation=dict(interval, metrics, ...)` section (mmcv EvalHook).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stgcn.errors import StgcnError

METRICS = ("top_k_accuracy", "mean_class_accuracy")


def _as_scores(scores) -> np.ndarray:
    if isinstance(scores, (list, tuple)):
        if not scores:
            raise StgcnError("no scores to evaluate; the dataset is empty")
        scores = np.stack([np.asarray(s) for s in scores])
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise StgcnError(f"scores must be (num_samples, num_classes), got shape {scores.shape}")
    return scores


def _as_labels(labels, n: int | None = None) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise StgcnError(f"labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64).reshape(-1)
    if n is not None and len(labels) != n:
        raise StgcnError(f"got {n} score rows but {len(labels)} labels; they must match one to one")
    return labels


def top_k_accuracy(scores, labels, topk: Sequence[int] = (1,)) -> list[float]:
    """Fraction of samples whose label is among the k highest scores, for each k in `topk`."""
    scores = _as_scores(scores)
    labels = _as_labels(labels, len(scores))[:, None]
    order = np.argsort(scores, axis=1)
    out = []
    for k in topk:
        max_k_preds = order[:, -k:][:, ::-1]
        hits = np.logical_or.reduce(max_k_preds == labels, axis=1)
        out.append(float(hits.sum() / max(len(hits), 1)))
    return out


def confusion_matrix(y_pred, y_real, normalize: str | None = None,
                     num_classes: int | None = None) -> np.ndarray:
    """Rows = true label, columns = predicted label.

    Without `num_classes` the label set is the sorted union of predicted and true labels (mmaction2's
    rule); with it, the rows and columns are the classes 0..num_classes-1. `normalize` divides by the row
    sums ('true'), the column sums ('pred') or the total ('all'); empty rows/columns give 0.
    """
    if normalize not in (None, "true", "pred", "all"):
        raise StgcnError(f"confusion_matrix normalize={normalize!r}; valid: None, 'true', 'pred', 'all'")
    y_pred, y_real = _as_labels(y_pred), _as_labels(y_real)
    if len(y_pred) != len(y_real):
        raise StgcnError(f"{len(y_pred)} predictions but {len(y_real)} labels; they must match one to one")
    if num_classes is None:
        label_set = np.unique(np.concatenate([y_pred, y_real]))
    else:
        label_set = np.arange(num_classes)
        if len(y_pred) and (min(y_pred.min(), y_real.min()) < 0
                            or max(y_pred.max(), y_real.max()) >= num_classes):
            raise StgcnError(f"labels must lie in [0, {num_classes}); check the dataset's labels")
    index = {int(label): i for i, label in enumerate(label_set)}
    matrix = np.zeros((len(label_set), len(label_set)), dtype=np.int64)
    for real, pred in zip(y_real, y_pred, strict=True):
        matrix[index[int(real)], index[int(pred)]] += 1
    if normalize is None:
        return matrix
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            out = matrix / matrix.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = matrix / matrix.sum(axis=0, keepdims=True)
        else:
            out = matrix / matrix.sum()
    return np.nan_to_num(out)


def mean_class_accuracy(scores, labels) -> float:
    """Mean per-class accuracy over the union of predicted and true labels (mmaction2 0.x quirk)."""
    scores = _as_scores(scores)
    labels = _as_labels(labels, len(scores))
    pred = np.argmax(scores, axis=1)
    cf = confusion_matrix(pred, labels).astype(np.float64)
    cls_cnt = cf.sum(axis=1)
    cls_hit = np.diag(cf)
    per_class = np.divide(cls_hit, cls_cnt, out=np.zeros_like(cls_hit), where=cls_cnt != 0)
    return float(np.mean(per_class))


def per_class_accuracy(scores, labels, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, count) per class 0..num_classes-1; accuracy is NaN for classes with no samples."""
    scores = _as_scores(scores)
    labels = _as_labels(labels, len(scores))
    pred = np.argmax(scores, axis=1)
    cf = confusion_matrix(pred, labels, num_classes=num_classes)
    count = cf.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.diag(cf) / count
    return acc, count


def evaluate(results, labels, metrics: str | Sequence[str] = ("top_k_accuracy",),
             topk: int | Sequence[int] = (1, 5), logger: logging.Logger | None = None) -> OrderedDict:
    """mmaction2's `dataset.evaluate`: `top{k}_acc` for each k, then `mean_class_accuracy`.

    `results` is the list of per-sample score arrays in dataset order, `labels` the dataset's labels.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for metric in metrics:
        if metric not in METRICS:
            raise StgcnError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    topk = (topk,) if isinstance(topk, int) else tuple(topk)
    if not topk or not all(isinstance(k, int) and k > 0 for k in topk):
        raise StgcnError(f"topk must be a positive int or a tuple of them, got {topk!r}")
    if len(results) != len(labels):
        raise StgcnError(f"got {len(results)} results for {len(labels)} samples; they must match")
    scores = _as_scores(results)
    out: OrderedDict[str, float] = OrderedDict()
    for metric in metrics:
        if logger is not None:
            logger.info(f"Evaluating {metric} ...")
        if metric == "top_k_accuracy":
            lines = []
            for k, acc in zip(topk, top_k_accuracy(scores, labels, topk), strict=True):
                out[f"top{k}_acc"] = acc
                lines.append(f"\ntop{k}_acc\t{acc:.4f}")
            if logger is not None:
                logger.info("".join(lines))
        else:
            out["mean_class_accuracy"] = mean_class_accuracy(scores, labels)
            if logger is not None:
                logger.info(f"\nmean_acc\t{out['mean_class_accuracy']:.4f}")
    return out


# the `evaluation` config section ---------------------------------------------------------------------

def eval_topk(eval_options: dict | None) -> tuple[int, ...]:
    """top-k from `--eval-options topk=1,5` or `metric_options.top_k_accuracy.topk`; default (1, 5)."""
    options = dict(eval_options or {})
    topk = options.pop("topk", None)
    metric_options = options.pop("metric_options", None) or {}
    if options:
        raise StgcnError(f"--eval-options: unknown keys {sorted(options)}; valid: topk, metric_options")
    topk = metric_options.get("top_k_accuracy", {}).get("topk", topk)
    if topk is None:
        return (1, 5)
    return (topk,) if isinstance(topk, int) else tuple(topk)


@dataclass
class EvalSettings:
    interval: int = 1
    start: int | None = None
    metrics: list[str] = field(default_factory=lambda: ["top_k_accuracy"])
    topk: tuple[int, ...] = (1, 5)
    save_best: str | None = "auto"
    rule: str | None = None

    def due(self, epoch: int) -> bool:
        """mmcv's EvalHook: every `interval` epochs (counted from `start` when given)."""
        if self.start is None:
            return epoch % self.interval == 0
        return epoch >= self.start and (epoch - self.start) % self.interval == 0


_EVAL_KEYS = {"interval", "start", "metrics", "metric", "metric_options", "topk", "save_best", "rule",
              "by_epoch", "gpu_collect", "tmpdir", "broadcast_bn_buffer"}


def parse_evaluation(evaluation: dict | None) -> EvalSettings:
    cfg = dict(evaluation or {})
    unknown = sorted(set(cfg) - _EVAL_KEYS)
    if unknown:
        raise StgcnError(f"evaluation: unknown keys {unknown}; valid: {', '.join(sorted(_EVAL_KEYS))}")
    if cfg.get("by_epoch", True) is not True:
        raise StgcnError("evaluation.by_epoch=False is not supported; evaluate by epoch")
    metrics = cfg.get("metrics", cfg.get("metric", ["top_k_accuracy"]))
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for metric in metrics:
        if metric not in METRICS:
            raise StgcnError(f"evaluation.metrics: unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    interval = cfg.get("interval", 1)
    if not isinstance(interval, int) or interval < 1:
        raise StgcnError(f"evaluation.interval must be a positive int, got {interval!r}")
    rule = cfg.get("rule")
    if rule not in (None, "greater", "less"):
        raise StgcnError(f"evaluation.rule must be 'greater' or 'less', got {rule!r}")
    topk = eval_topk({k: cfg[k] for k in ("topk", "metric_options") if k in cfg})
    keys = [f"top{k}_acc" for k in topk] * ("top_k_accuracy" in metrics)
    keys += ["mean_class_accuracy"] * ("mean_class_accuracy" in metrics)
    save_best = cfg.get("save_best", "auto")
    if save_best not in (None, "auto", *keys):
        raise StgcnError(f"evaluation.save_best={save_best!r} is not a computed metric; use 'auto', None or "
                         f"one of {', '.join(keys)}")
    return EvalSettings(interval=interval, start=cfg.get("start"), metrics=metrics, topk=topk,
                        save_best=save_best, rule=rule)
