"""The joint-correspondence table against hand-written joint names and indices."""

from __future__ import annotations

import numpy as np
import pytest

from stgcn.errors import StgcnError
from stgcn.graph import get_layout
from stgcn.layouts_map import JOINT_NAMES, joint_map, map_keypoints

# Written out by hand from each estimator's documentation (index order).
COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
        "right_knee", "left_ankle", "right_ankle"]
BLAZEPOSE_TO_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
OPENPOSE18_TO_COCO = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]
COCO_TO_OPENPOSE18 = [(0,), (5, 6), (6,), (8,), (10,), (5,), (7,), (9,), (12,), (14,), (16,), (11,), (13,),
                      (15,), (2,), (1,), (4,), (3,)]


@pytest.mark.parametrize("layout", ["coco", "openpose-18", "openpose-25"])
def test_names_match_the_graph_joint_count(layout):
    names = JOINT_NAMES[layout]
    assert len(names) == get_layout(layout).num_node
    assert len(set(names)) == len(names)


def test_mediapipe_landmark_order():
    mp = pytest.importorskip("mediapipe")
    official = [m.name.lower().replace("foot_index", "big_toe") for m in mp.solutions.pose.PoseLandmark]
    assert list(JOINT_NAMES["blazepose-33"]) == official


def test_coco_names_and_hand_written_maps():
    assert list(JOINT_NAMES["coco"]) == COCO
    assert joint_map("blazepose-33", "coco").parts == tuple((i,) for i in BLAZEPOSE_TO_COCO)
    assert joint_map("openpose-18", "coco").parts == tuple((i,) for i in OPENPOSE18_TO_COCO)
    assert joint_map("coco", "openpose-18").parts == tuple(COCO_TO_OPENPOSE18)
    assert joint_map("coco", "openpose").parts == tuple(COCO_TO_OPENPOSE18)  # graph alias


def test_derived_neck_and_round_trip():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, (3, 17, 2)).astype(np.float32)
    score = rng.uniform(0.2, 1, (3, 17)).astype(np.float32)
    op_kp, op_score = map_keypoints(kp, score, joint_map("coco", "openpose-18"))
    assert op_kp.shape == (3, 18, 2) and op_score.shape == (3, 18)
    np.testing.assert_allclose(op_kp[:, 1], (kp[:, 5] + kp[:, 6]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(op_score[:, 1], np.minimum(score[:, 5], score[:, 6]))
    back_kp, back_score = map_keypoints(op_kp, op_score, joint_map("openpose-18", "coco"))
    np.testing.assert_array_equal(back_kp, kp)
    np.testing.assert_array_equal(back_score, score)


@pytest.mark.parametrize("source, target, words", [
    ("coco", "ntu-rgb+d", "3D camera-space"),
    ("coco", "nw-ucla", "3D camera-space"),
    ("coco", "nturgb+d", "3D camera-space"),
    ("coco", "openpose-25", "left_big_toe"),
    ("blazepose-33", "openpose-25", "left_small_toe"),
    ("coco", "blazepose-33", "left_eye_inner"),
    ("cocoo", "coco", "did you mean 'coco'"),
])
def test_unmappable_layouts_raise_one_line(source, target, words):
    with pytest.raises(StgcnError, match=words) as err:
        joint_map(source, target)
    assert "\n" not in str(err.value)


def test_wrong_joint_count_is_reported():
    with pytest.raises(StgcnError, match="17 joints"):
        map_keypoints(np.zeros((2, 18, 2)), np.zeros((2, 18)), joint_map("coco", "openpose-18"))
