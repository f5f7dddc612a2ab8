"""Penn Action converter: COCO-17 mapping, visibility scores, image shape, official split and labels."""

import argparse
import sys

import numpy as np
import pytest

from stgcn.commands import convert as convert_cmd
from stgcn.data.convert import penn_action
from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError
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
    """0013.mat, values read off the file by hand: baseball_pitch, test split, 92 frames of 480x360,
    frame 5 head (290, 25), left elbow (330, 123), right ankle (239, 311); 289 joints not visible,
    the first ones in frame 0 are Penn joints 4, 5, 6 (right elbow, both wrists) = COCO 8, 9, 10."""
    anno, split = penn_action.read_clip(labels_dir / "0013.mat")
    assert split == "test" and anno["frame_dir"] == "0013" and anno["total_frames"] == 92
    assert anno["label"] == 0 and anno["img_shape"] == anno["original_shape"] == (360, 480)
    kp, score = anno["keypoint"], anno["keypoint_score"]
    assert kp.shape == (1, 92, 17, 2) and score.shape == (1, 92, 17) and kp.dtype == np.float32
    np.testing.assert_array_equal(kp[0, 5, [0, 7, 16]], [[290, 25], [330, 123], [239, 311]])  # COCO 0, 7, 16
    assert not kp[0][:, 1:5].any() and not score[0][:, 1:5].any()  # eyes and ears: absent
    assert (score[0][:, list(penn_action.PENN_TO_COCO)] == 0).sum() == 289
    np.testing.assert_array_equal(score[0, 0, [0, 5, 6, 7, 8, 9, 10, 11]], [1, 1, 1, 1, 0, 0, 0, 1])


def test_invisible_score_option(labels_dir):
    anno, _ = penn_action.read_clip(labels_dir / "0013.mat", invisible_score=0.25)
    scores = anno["keypoint_score"][0][:, list(penn_action.PENN_TO_COCO)]
    assert (scores == 0.25).sum() == 289 and (scores == 1.0).sum() == 92 * 13 - 289


def test_unreadable_mat_is_skipped_by_name(tmp_path):
    (tmp_path / "0001.mat").write_bytes(b"hello world" * 20)
    (tmp_path / "0002.mat").write_bytes(b"")
    anno, summary = penn_action.convert_penn_action(tmp_path, progress=False)
    assert not anno["annotations"] and [name for name, _ in summary.skipped] == ["0001.mat", "0002.mat"]
    assert all(reason.startswith("not a readable MATLAB v5 file") for _, reason in summary.skipped)


def test_missing_scipy_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "0001.mat").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "scipy.io", None)  # what an install without scipy looks like
    with pytest.raises(StgcnError, match=r'^stgcn convert penn-action: reading .mat files needs scipy; pip '
                                         r'install "stgcn\[penn\]"$'):
        penn_action.convert_penn_action(tmp_path, progress=False)


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
