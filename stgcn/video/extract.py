"""One video -> tracked poses (:class:`PoseTrack`) -> one annotation sample in a model's layout."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from stgcn.errors import StgcnError
from stgcn.layouts_map import joint_map, map_keypoints
from stgcn.video.io import FrameSource
from stgcn.video.posefile import PoseTrack, from_detections
from stgcn.video.tracker import MAX_BREAK, Tracker


def extract_video(path: str | os.PathLike, backend, on_frame: Callable[[], None] | None = None) -> PoseTrack:
    """Run ``backend`` on every frame of ``path`` and track the persons; ``on_frame()`` after each frame."""
    source = FrameSource(path)
    backend.reset()
    tracker, rows = Tracker(), []
    for frame in source:
        dets = backend.detect(frame)
        ids = tracker.update(dets)
        rows.append([(kp, sc, pid) for (kp, sc), pid in zip(dets, ids, strict=True)])
        if on_frame is not None:
            on_frame()
    if not rows:
        raise StgcnError(f"{path}: no frame could be decoded")
    return from_detections(rows, backend.layout, (source.height, source.width))


def join_broken_tracks(kp: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tracks the tracker split (one ends, another starts within MAX_BREAK frames, never in the same
    frame) joined into one person slot; ``kp [T, P, V, C]``, ``score [T, P, V]``. The strongest track
    keeps its slot and absorbs the weaker ones, so one person seen with a gap does not become two."""
    present = score.max(axis=2) > 0  # [T, P]
    order = np.argsort(-score.sum(axis=(0, 2)), kind="stable")
    slots: list[list[int]] = []
    for p in order:
        frames = np.flatnonzero(present[:, p])
        if len(frames) == 0:
            continue
        for slot in slots:
            taken = present[:, slot].any(axis=1)
            if taken[frames].any():
                continue
            used = np.flatnonzero(taken)
            gaps = np.concatenate([frames[0] - used[used < frames[0]], used[used > frames[-1]] - frames[-1]])
            if len(gaps) and gaps.min() <= MAX_BREAK:
                slot.append(p)
                break
        else:
            slots.append([p])
    out_kp = np.zeros(kp.shape[:1] + (max(len(slots), 1),) + kp.shape[2:], kp.dtype)
    out_score = np.zeros(score.shape[:1] + (max(len(slots), 1),) + score.shape[2:], score.dtype)
    for i, slot in enumerate(slots):
        for p in slot:
            rows = present[:, p]
            out_kp[rows, i], out_score[rows, i] = kp[rows, p], score[rows, p]
    return out_kp, out_score


def select_persons(score: np.ndarray, max_persons: int) -> np.ndarray:
    """Slots of the ``max_persons`` persons with the highest total score (``score [T, P, V]``), best first."""
    totals = score.sum(axis=(0, 2))
    order = np.argsort(-totals, kind="stable")[:max_persons]
    return order[totals[order] > 0]


def to_sample(track: PoseTrack, layout: str, frame_dir: str, label: int, max_persons: int = 2,
              source: str = "", drop: tuple[str, ...] = ()) -> dict:
    """The annotation sample (README "Your own data") of ``track`` mapped onto ``layout``.

    Joins the tracks of one person the tracker split (:func:`join_broken_tracks`), then keeps the
    ``max_persons`` most confident persons; ``keypoint [M, T, V, 2]``, ``keypoint_score [M, T, V]``;
    the joints named in ``drop`` are blanked (see :mod:`stgcn.layouts_map`).
    """
    mapping = joint_map(track.layout, layout, drop)
    kp, score = join_broken_tracks(*map_keypoints(track.keypoint, track.keypoint_score, mapping))
    persons = select_persons(score, max_persons)
    if len(persons) == 0:
        raise StgcnError(f"{source or frame_dir}: no person found in any of its {track.num_frames} frames")
    return dict(frame_dir=frame_dir, label=int(label), total_frames=int(track.num_frames),
                keypoint=np.ascontiguousarray(kp[:, persons].transpose(1, 0, 2, 3), np.float32),
                keypoint_score=np.ascontiguousarray(score[:, persons].transpose(1, 0, 2), np.float32),
                img_shape=tuple(track.img_shape), original_shape=tuple(track.img_shape))
