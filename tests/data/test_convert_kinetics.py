"""Kinetics-skeleton (st-gcn JSON release) converter on hand-written files: person ranking per frame,
score-0 joints, skipped videos, labels and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stgcn.commands.convert import add_arguments, run
from stgcn.data.convert.kinetics import convert_kinetics
from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError


def skeleton(value: float, score: float) -> dict:
    pose = [value] * 36
    return {"pose": pose, "score": [score] * 17 + [0.0]}  # the last joint is not detected


def write_release(root):
    videos = root / "kinetics_val"
    videos.mkdir()
    frames = [{"frame_index": 0, "skeleton": [skeleton(0.1, 0.2), skeleton(0.3, 0.9), skeleton(0.5, 0.5)]},
              {"frame_index": 2, "skeleton": [skeleton(0.7, 0.6)]}]
    (videos / "vidA.json").write_text(json.dumps({"data": frames, "label": "x", "label_index": 3}))
    (videos / "vidB.json").write_text(json.dumps({"data": [{"frame_index": 0, "skeleton": []}],
                                                  "label": "y", "label_index": 1}))
    (videos / "vidC.json").write_text(json.dumps({"data": frames, "label": "y", "label_index": 1}))
    (videos / "vidD.json").write_text("{not json")
    labels = {"vidA": {"has_skeleton": True, "label": "x", "label_index": 3},
              "vidB": {"has_skeleton": True, "label": "y", "label_index": 1},
              "vidC": {"has_skeleton": False, "label": "y", "label_index": 1},
              "vidD": {"has_skeleton": True, "label": "y", "label_index": 1}}
    (root / "kinetics_val_label.json").write_text(json.dumps(labels))
    return videos, root / "kinetics_val_label.json"


def test_kinetics_json_release(tmp_path):
    videos, labels = write_release(tmp_path)
    anno, summary = convert_kinetics([videos], [labels], ["val"], num_person=2, show_progress=False)
    assert anno["split"] == {"val": ["vidA"]} and summary.files_read == 4
    assert dict(summary.skipped).keys() == {"vidB.json", "vidC.json", "vidD.json"}
    sample = anno["annotations"][0]
    assert (sample["label"], sample["total_frames"], sample["img_shape"]) == (3, 3, (1, 1))
    kp, score = sample["keypoint"], sample["keypoint_score"]
    assert kp.shape == (2, 3, 18, 2) and score.shape == (2, 3, 18) and kp.dtype == np.float32
    # frame 0: the two most confident skeletons (0.9 then 0.5); frame 1 empty; frame 2 one person
    np.testing.assert_allclose(kp[:, 0, 0, 0], [0.3, 0.5], rtol=1e-6)
    np.testing.assert_allclose(score[:, 0, 0], [0.9, 0.5], rtol=1e-6)
    assert not kp[:, 1].any() and not kp[1, 2].any()
    np.testing.assert_allclose(kp[0, 2, 0], [0.7, 0.7], rtol=1e-6)
    assert not kp[:, :, 17].any()  # score-0 joints are (0, 0)


def test_kinetics_command(tmp_path, capsys):
    import argparse

    videos, labels = write_release(tmp_path)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "k.pkl"
    args = parser.parse_args(["kinetics", str(out), "--data", str(videos), "--labels", str(labels),
                              "--split-names", "val"])
    assert run(args) == 0
    assert load_pickle(out)["split"] == {"val": ["vidA"]}
    assert "skipped 3" in capsys.readouterr().out
    with pytest.raises(StgcnError, match="one of each per split"):
        convert_kinetics([videos], [labels, labels], ["val"])
    bad = tmp_path / "bad_label.json"
    bad.write_text(json.dumps({"vidA": {"label": "x"}}))
    with pytest.raises(StgcnError, match="label_index"):
        convert_kinetics([videos], [bad], ["val"])
