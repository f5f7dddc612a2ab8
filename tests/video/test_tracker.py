"""Person ids across frames on hand-made boxes."""

from __future__ import annotations

import numpy as np

from stgcn.video.tracker import Tracker, box_iou, person_box


def person(x: float, y: float, size: float = 40.0, num_joints: int = 17):
    """A person whose joints spread over the box [x, x + size] x [y, y + 2 * size]."""
    t = np.linspace(0, 1, num_joints, dtype=np.float32)
    kp = np.stack([x + size * t, y + 2 * size * t[::-1]], axis=1)
    return kp, np.ones(num_joints, np.float32)


def test_box_and_iou():
    box = person_box(*person(10, 20))
    np.testing.assert_allclose(box, [10, 20, 50, 100])
    assert box_iou(box, box) == 1.0
    assert box_iou(box, np.array([50, 20, 90, 100.0])) == 0.0
    assert abs(box_iou(box, np.array([30, 20, 70, 100.0])) - 1 / 3) < 1e-9
    assert person_box(np.zeros((17, 2)), np.zeros(17)) is None


def test_ids_follow_two_walking_people_whatever_the_detection_order():
    tracker = Tracker()
    seen = []
    for t in range(10):
        left, right = person(10 + 3 * t, 0), person(300 - 3 * t, 0)
        dets = [left, right] if t % 2 == 0 else [right, left]
        ids = tracker.update(dets)
        seen.append(ids if t % 2 == 0 else ids[::-1])
    assert all(ids == [0, 1] for ids in seen)


def test_gate_and_age_start_new_ids():
    tracker = Tracker(max_age=2, max_break=2)
    assert tracker.update([person(0, 0)]) == [0]
    assert tracker.update([person(1000, 0)]) == [1]  # too far to be person 0
    for _ in range(3):
        tracker.update([])
    assert tracker.update([person(0, 0)]) == [2]  # person 0 expired
    assert tracker.update([(np.zeros((17, 2)), np.zeros(17))]) == [-1]


def test_a_person_missed_for_a_moment_keeps_its_id_wherever_it_comes_back():
    tracker = Tracker(max_age=2, max_break=10)
    assert tracker.update([person(0, 0), person(1000, 0)]) == [0, 1]
    for t in range(5):  # person 1 unseen for 5 frames: past max_age, within max_break
        assert tracker.update([person(t, 0)]) == [0]
    assert tracker.update([person(0, 0), person(600, 0)]) == [0, 1]  # back elsewhere: still person 1
    for _ in range(11):
        tracker.update([person(0, 0)])
    assert tracker.update([person(0, 0), person(600, 0)]) == [0, 2]  # gone past max_break: someone new


def test_centroid_fallback_keeps_a_fast_mover():
    tracker = Tracker()
    tracker.update([person(0, 0)])
    assert tracker.update([person(35, 0)]) == [0]  # IoU ~0.07 but centre within half a diagonal


def _tracks(spans: list[tuple[int, int]], frames: int = 40):
    """kp/score [T, P, V, C] with track p present in frames [a, b) at x = 10 * (p + 1)."""
    kp = np.zeros((frames, len(spans), 17, 2), np.float32)
    score = np.zeros((frames, len(spans), 17), np.float32)
    for p, (a, b) in enumerate(spans):
        kp[a:b, p] = 10 * (p + 1)
        score[a:b, p] = 0.9
    return kp, score


def test_a_track_the_tracker_broke_is_joined_into_one_person():
    from stgcn.video.extract import join_broken_tracks, to_sample
    from stgcn.video.posefile import PoseTrack

    kp, score = join_broken_tracks(*_tracks([(0, 1), (2, 40)]))  # one frame, a missed frame, the rest
    assert kp.shape[1] == 1 and (score[:, 0].max(axis=1) > 0).sum() == 39
    assert kp[0, 0, 0, 0] == 10 and kp[5, 0, 0, 0] == 20
    kp, score = join_broken_tracks(*_tracks([(0, 30), (10, 40)]))  # together in frames 10..29: two people
    assert kp.shape[1] == 2
    kp, score = join_broken_tracks(*_tracks([(0, 4), (36, 40)]))  # back after 32 frames: another person
    assert kp.shape[1] == 2
    kp, score = _tracks([(0, 1), (2, 40)])
    sample = to_sample(PoseTrack("coco", (240, 320), kp, score), "coco", "clip", 0, max_persons=2)
    assert sample["keypoint"].shape == (1, 40, 17, 2)
