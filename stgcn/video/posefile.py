"""Per-video keypoint files: how poses from any estimator (OpenPose, HRNet, RTMPose, ...) enter stgcn.

Two formats, one video per file, pixel coordinates, ``layout`` a name of
:data:`stgcn.layouts_map.JOINT_NAMES` (``coco``, ``openpose-18``, ``openpose-25``, ``blazepose-33``):

``.npz`` (what ``stgcn extract-pose`` caches, so its cache files are valid inputs too)::

    keypoint        float32 [T, P, V, 2]   x, y of person slot p in frame t
    keypoint_score  float32 [T, P, V]      confidence in [0, 1]; a slot whose scores are all 0 is absent
    layout          str                    e.g. "coco"
    img_shape       int [2]                (height, width) of the frames

  The slot index is the person's id across frames (already tracked).

``.json``::

    {"layout": "coco", "img_shape": [h, w],
     "frames": [[{"keypoints": [[x, y, score], ...V], "id": 7}, ...persons], ...T frames]}

  ``id`` is optional: without it the persons are tracked across frames by :class:`Tracker`.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stgcn.errors import StgcnError
from stgcn.fileio import write_atomic
from stgcn.layouts_map import JOINT_NAMES
from stgcn.video.tracker import Tracker

POSE_SUFFIXES = (".npz", ".json")


@dataclass
class PoseTrack:
    """The poses of one video: ``keypoint [T, P, V, 2]``, ``keypoint_score [T, P, V]``, slot = person id."""

    layout: str
    img_shape: tuple[int, int]
    keypoint: np.ndarray
    keypoint_score: np.ndarray

    @property
    def num_frames(self) -> int:
        return self.keypoint.shape[0]

    def detected_frames(self) -> int:
        """Frames with at least one person."""
        return int((self.keypoint_score.max(axis=(1, 2), initial=0) > 0).sum())


def from_detections(frames: list[list[tuple[np.ndarray, np.ndarray, int]]], layout: str,
                    img_shape: tuple[int, int]) -> PoseTrack:
    """Stack per-frame ``(keypoints [V, 2], scores [V], person_id)`` lists into a :class:`PoseTrack`."""
    num_joints = len(JOINT_NAMES[layout])
    ids = sorted({pid for dets in frames for _, _, pid in dets if pid >= 0})
    slot = {pid: i for i, pid in enumerate(ids)}
    kp = np.zeros((len(frames), len(ids), num_joints, 2), np.float32)
    score = np.zeros((len(frames), len(ids), num_joints), np.float32)
    for t, dets in enumerate(frames):
        for keypoints, scores, pid in dets:
            if pid >= 0:
                kp[t, slot[pid]], score[t, slot[pid]] = keypoints, scores
    return PoseTrack(layout, (int(img_shape[0]), int(img_shape[1])), kp, score)


def save_npz(track: PoseTrack, path: str | os.PathLike) -> None:
    """Write ``track`` in the ``.npz`` format above, atomically."""
    buf = io.BytesIO()
    np.savez(buf, keypoint=track.keypoint.astype(np.float32),
             keypoint_score=track.keypoint_score.astype(np.float32),
             layout=np.array(track.layout), img_shape=np.array(track.img_shape, np.int64))
    write_atomic(path, buf.getvalue())


def _check(track: PoseTrack, path: Path) -> PoseTrack:
    if track.layout not in JOINT_NAMES:
        raise StgcnError(f"{path}: layout {track.layout!r} is not one of {', '.join(sorted(JOINT_NAMES))}")
    num_joints = len(JOINT_NAMES[track.layout])
    kp, sc = track.keypoint, track.keypoint_score
    if kp.ndim != 4 or kp.shape[2:] != (num_joints, 2) or sc.shape != kp.shape[:3]:
        raise StgcnError(f"{path}: keypoint must be [T, P, {num_joints}, 2] and keypoint_score [T, P, "
                         f"{num_joints}] for layout {track.layout!r}; got {kp.shape} and {sc.shape}")
    if not (np.isfinite(kp).all() and np.isfinite(sc).all()):
        raise StgcnError(f"{path}: keypoint / keypoint_score hold NaN or inf; write absent joints as score 0")
    return track


def _load_npz(path: Path) -> PoseTrack:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"keypoint", "keypoint_score", "layout", "img_shape"} - set(z.files)
            if missing:
                raise StgcnError(f"{path}: missing arrays {sorted(missing)}; see stgcn.video.posefile")
            shape = tuple(int(v) for v in z["img_shape"])
            return PoseTrack(str(z["layout"]), shape, z["keypoint"].astype(np.float32),
                             z["keypoint_score"].astype(np.float32))
    except (OSError, ValueError) as err:
        if isinstance(err, StgcnError):
            raise
        raise StgcnError(f"{path}: not a readable .npz pose file ({err})") from None


def _load_json(path: Path) -> PoseTrack:
    try:
        doc = json.loads(path.read_text())
        layout, img_shape, frames = doc["layout"], doc["img_shape"], doc["frames"]
        tracker, rows = Tracker(), []
        for persons in frames:
            dets = []
            for person in persons:
                arr = np.asarray(person["keypoints"], np.float32).reshape(-1, 3)
                dets.append((arr[:, :2], arr[:, 2], person.get("id")))
            if any(pid is None for *_, pid in dets):
                ids = tracker.update([(kp, sc) for kp, sc, _ in dets])
                dets = [(kp, sc, pid) for (kp, sc, _), pid in zip(dets, ids, strict=True)]
            rows.append([(kp, sc, int(pid)) for kp, sc, pid in dets])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise StgcnError(f"{path}: not a pose .json of the documented format ({type(err).__name__}: {err}); "
                         "see stgcn.video.posefile") from None
    if layout not in JOINT_NAMES:
        raise StgcnError(f"{path}: layout {layout!r} is not one of {', '.join(sorted(JOINT_NAMES))}")
    bad = [t for t, row in enumerate(rows) for kp, _, _ in row if kp.shape[0] != len(JOINT_NAMES[layout])]
    if bad:
        raise StgcnError(f"{path}: frame {bad[0]} has a person without {len(JOINT_NAMES[layout])} "
                         f"[x, y, score] keypoints (layout {layout!r})")
    return from_detections(rows, layout, tuple(img_shape))


def load_pose_file(path: str | os.PathLike) -> PoseTrack:
    """Read a ``.npz`` or ``.json`` pose file (formats in the module docstring), checked."""
    path = Path(path)
    if path.suffix not in POSE_SUFFIXES:
        raise StgcnError(f"{path}: pose files must end in .npz or .json")
    if not path.is_file():
        raise StgcnError(f"{path}: no such pose file")
    track = _load_npz(path) if path.suffix == ".npz" else _load_json(path)
    return _check(track, path)
