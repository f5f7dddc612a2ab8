"""Penn Action converter: COCO-17 mapping, visibility scores, image shape, official split and labels."""

import argparse

import numpy as np
import pytest

from stgcn.commands import convert as convert_cmd
from stgcn.data.convert import penn_action
from stgcn.data.convert.matfile import load_mat
from stgcn.data.safe_pickle import load_pickle
from tests.conftest import shared_path
from tests.data.helpers import first_item

CLASS_COUNTS = {"baseball_pitch": 167, "baseball_swing": 173, "bench_press": 140, "bowl": 220,
                "clean_and_jerk": 88, "golf_swing": 166, "jump_rope": 82, "jumping_jacks": 112,
                "pullup": 199, "pushup": 211, "situp": 100, "squat": 231, "strum_guitar": 94,
                "tennis_forehand": 157, "tennis_serve": 186}


@pytest.fixture(scope="module")
def labels_dir():
    return shared_path("data", "penn_action", "labels")


@pytest.fixture(scope="module")
def converted(labels_dir):
    return penn_action.convert_penn_action(labels_dir, progress=False)


def test_full_release_counts_split_and_labels(converted):
    anno, summary = converted
    assert summary.samples == 2326 and not summary.skipped
    assert summary.splits == {"train": 1258, "test": 1068}
    assert list(penn_action.CLASS_NAMES) == sorted(CLASS_COUNTS)
    counts = np.bincount([a["label"] for a in anno["annotations"]])
    assert counts.tolist() == [CLASS_COUNTS[c] for c in penn_action.CLASS_NAMES]


def test_joint_mapping_scores_and_shape(labels_dir):
    path = labels_dir / "0013.mat"  # a clip with occluded joints
    mat = load_mat(path)
    anno, split = penn_action.read_clip(path)
    frames = mat["x"].shape[0]
    assert split == ("train" if mat["train"][0, 0] == 1 else "test")
    assert anno["frame_dir"] == "0013" and anno["total_frames"] == frames
    assert anno["label"] == penn_action.CLASS_NAMES.index(mat["action"])
    kp, score = anno["keypoint"], anno["keypoint_score"]
    assert kp.shape == (1, frames, 17, 2) and score.shape == (1, frames, 17) and kp.dtype == np.float32
    coco = list(penn_action.PENN_TO_COCO)
    np.testing.assert_allclose(kp[0][:, coco, 0], mat["x"], rtol=1e-6)
    np.testing.assert_allclose(kp[0][:, coco, 1], mat["y"], rtol=1e-6)
    assert not kp[0][:, 1:5].any() and not score[0][:, 1:5].any()  # eyes and ears: absent
    np.testing.assert_array_equal(score[0][:, coco], (mat["visibility"] > 0).astype(np.float32))
    height, width = int(mat["dimensions"][0, 0]), int(mat["dimensions"][0, 1])
    assert anno["img_shape"] == anno["original_shape"] == (height, width)


def test_invisible_score_option(labels_dir):
    path = labels_dir / "0013.mat"
    visibility = load_mat(path)["visibility"]
    assert not visibility.all()
    anno, _ = penn_action.read_clip(path, invisible_score=0.25)
    scores = anno["keypoint_score"][0][:, list(penn_action.PENN_TO_COCO)]
    assert set(np.unique(scores[visibility == 0])) == {0.25}
    assert set(np.unique(scores[visibility == 1])) == {1.0}


def test_cli_writes_the_file(labels_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    convert_cmd.add_arguments(parser)
    out = tmp_path / "penn.pkl"
    assert convert_cmd.run(parser.parse_args(["penn-action", str(labels_dir), str(out),
                                              "--invisible-score", "0.5"])) == 0
    assert "wrote 2326 samples" in capsys.readouterr().out
    anno = load_pickle(out)
    assert len(anno["split"]["test"]) == 1068 and anno["annotations"][0]["keypoint_score"].max() == 1.0
    assert tuple(first_item(out, "train", num_person=1)["keypoint"].shape) == (3, 300, 17, 1)
