"""Recognizer on real Penn Action clips with a trained checkpoint equals tools/test.py --out.

The checkpoint is a tools/train.py run of configs/skeleton/stgcn/stgcn_penn_action_joint_2d.py, named by
``STGCN_PENN_CHECKPOINT`` (skipped when unset); the clips come from ../shared through the converter.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from stgcn import Recognizer
from stgcn.commands import test as test_command
from stgcn.data import dump_pickle
from stgcn.data.convert.penn_action import read_clip
from tests.conftest import shared_path
from tests.inference.helpers import softmax

# two official test-split clips of each of the 15 classes
CLIPS = [f"{i:04d}.mat" for i in (1, 29, 169, 183, 344, 358, 526, 540, 729, 736, 792, 820, 967, 974, 1044,
                                  1065, 1149, 1198, 1352, 1359, 1562, 1569, 1660, 1674, 1891, 1898, 1989,
                                  2024, 2143, 2150)]


@pytest.fixture(scope="module")
def checkpoint() -> str:
    path = os.environ.get("STGCN_PENN_CHECKPOINT")
    if not path:
        pytest.skip("set STGCN_PENN_CHECKPOINT to a trained Penn Action checkpoint")
    return path


def test_penn_scores_equal_tools_test_and_names_are_penn_classes(checkpoint, tmp_path):
    labels = shared_path("data", "penn_action", "labels")
    samples = [read_clip(labels / name)[0] for name in CLIPS]
    ann = tmp_path / "penn.pkl"
    dump_pickle({"split": {"test": [s["frame_dir"] for s in samples]}, "annotations": samples}, ann)
    out = tmp_path / "logits.pkl"
    assert test_command.main([checkpoint, "--out", str(out), "--device", "cpu",
                              "--cfg-options", f"data.test.ann_file={ann}"]) == 0
    with open(out, "rb") as f:
        expected = softmax(np.stack(pickle.load(f)))
    rec = Recognizer.from_checkpoint(checkpoint)
    preds = rec.predict(samples, top_k=1)
    np.testing.assert_allclose(np.stack([p.scores for p in preds]), expected, atol=1e-5, rtol=0)
    assert len({s["label"] for s in samples}) == 15
    correct = sum(p.top_k[0][0] == s["label"] for p, s in zip(preds, samples, strict=True))
    assert correct >= 22  # a trained model (about 95% on the test split); chance is 2 of 30
    if rec.class_names is not None:
        assert rec.class_names[preds[0].top_k[0][0]] == preds[0].top_k[0][1]
