"""Metrics against hand-computed cases, including mmaction2 0.x's union rule and argsort ties."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from stgcn.engine.metrics import (
    confusion_matrix,
    evaluate,
    mean_class_accuracy,
    per_class_accuracy,
    top_k_accuracy,
)
from stgcn.errors import StgcnError

SCORES = np.array([[0.1, 0.5, 0.4], [0.3, 0.2, 0.5], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]], dtype=np.float32)
LABELS = [1, 0, 0, 2]


def test_top_k_accuracy_hand_computed():
    # top-1 predictions 1, 2, 0, 1; top-2 sets {1,2}, {2,0}, {0,1}, {1,0}
    assert top_k_accuracy(SCORES, LABELS, (1, 2, 3)) == [0.5, 0.75, 1.0]
    assert top_k_accuracy(list(SCORES), np.array(LABELS), (1,)) == [0.5]  # list of arrays, as in result.pkl


def test_top_k_ties_follow_numpy_argsort():
    scores = np.array([[1.0, 1.0, 0.0]])
    hits = [top_k_accuracy(scores, [label], (1,))[0] for label in (0, 1)]
    assert sorted(hits) == [0.0, 1.0]  # exactly one of the tied classes is "the" top-1
    winner = int(np.argsort(scores, axis=1)[0, -1])
    assert top_k_accuracy(scores, [winner], (1,)) == [1.0]


def test_mean_class_accuracy_union_rule():
    # preds 0, 2, 1, 1 for labels 0, 0, 1, 1: class 2 is predicted but never true, so it counts with 0
    scores = np.eye(3)[[0, 2, 1, 1]]
    assert mean_class_accuracy(scores, [0, 0, 1, 1]) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    # classes neither predicted nor present (here 0..2 and 4) do not count
    scores = np.eye(5)[[3, 3]]
    assert mean_class_accuracy(scores, [3, 3]) == 1.0


def test_mean_class_accuracy_against_a_loop():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 7))
    labels = rng.integers(0, 6, size=200)
    pred = scores.argmax(1)
    classes = sorted(set(pred) | set(labels))
    per = [np.mean(pred[labels == c] == c) if np.any(labels == c) else 0.0 for c in classes]
    assert mean_class_accuracy(scores, labels) == pytest.approx(np.mean(per))


def test_confusion_matrix_and_normalisation():
    pred, real = [0, 2, 1, 1], [0, 0, 1, 1]
    assert confusion_matrix(pred, real).tolist() == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]
    np.testing.assert_allclose(confusion_matrix(pred, real, "true"), [[0.5, 0, 0.5], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(confusion_matrix(pred, real, "pred"), [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    counts = np.array([[1, 0, 1], [0, 2, 0], [0, 0, 0]])
    np.testing.assert_allclose(confusion_matrix(pred, real, "all"), counts / 4)
    full = confusion_matrix([3], [0], num_classes=4)
    assert full.shape == (4, 4) and full[0, 3] == 1 and full.sum() == 1
    with pytest.raises(StgcnError, match="normalize"):
        confusion_matrix(pred, real, "rows")
    with pytest.raises(StgcnError, match="integers"):
        confusion_matrix([0.5], [0])


def test_per_class_accuracy():
    acc, count = per_class_accuracy(np.eye(4)[[0, 2, 1, 1]], [0, 0, 1, 1], num_classes=4)
    assert count.tolist() == [2, 2, 0, 0]
    assert acc[:2].tolist() == [0.5, 1.0] and np.isnan(acc[2:]).all()


def test_evaluate_keys_order_and_logging(caplog):
    logger = logging.getLogger("test_metrics")
    with caplog.at_level(logging.INFO, logger="test_metrics"):
        out = evaluate(list(SCORES), LABELS, ["top_k_accuracy", "mean_class_accuracy"], topk=(1, 2),
                       logger=logger)
    assert list(out) == ["top1_acc", "top2_acc", "mean_class_accuracy"]
    assert out["top1_acc"] == 0.5 and out["top2_acc"] == 0.75
    assert "Evaluating top_k_accuracy ..." in caplog.text and "top1_acc\t0.5000" in caplog.text
    assert list(evaluate(list(SCORES), LABELS, "top_k_accuracy")) == ["top1_acc", "top5_acc"]


def test_evaluate_errors():
    with pytest.raises(StgcnError, match="valid: top_k_accuracy, mean_class_accuracy"):
        evaluate(list(SCORES), LABELS, ["mAP"])
    with pytest.raises(StgcnError, match="must match"):
        evaluate(list(SCORES), LABELS[:2], ["top_k_accuracy"])
    with pytest.raises(StgcnError, match="topk"):
        evaluate(list(SCORES), LABELS, ["top_k_accuracy"], topk=(0,))
