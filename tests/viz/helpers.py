"""Tiny annotation samples for the picture tests (hand-made arrays, a few frames)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GIF_MAGIC = (b"GIF87a", b"GIF89a")


def coco_sample(name: str = "clip0", label: int = 1, frames: int = 5, persons: int = 1) -> dict:
    """A 2D COCO-17 sample: a figure moving right by 2 px per frame; joint 3 (left ear) missing."""
    rng = np.random.default_rng(0)
    base = rng.uniform(20, 80, size=(persons, 1, 17, 2)).astype(np.float32)
    shift = np.arange(frames, dtype=np.float32)[None, :, None, None] * np.array([2, 0], np.float32)
    keypoint = base + shift
    keypoint[:, :, 3] = 0
    score = np.ones((persons, frames, 17), np.float32)
    score[:, :, 3] = 0
    score[:, :, 5] = 0  # occluded but located: drawn faded
    return {"frame_dir": name, "label": label, "total_frames": frames, "img_shape": (100, 120),
            "keypoint": keypoint, "keypoint_score": score}


def ucla_sample(frames: int = 4) -> dict:
    """A 3D NW-UCLA (20-joint) sample in camera coordinates."""
    rng = np.random.default_rng(1)
    keypoint = rng.normal(0, 0.5, size=(1, frames, 20, 3)).astype(np.float32)
    keypoint[..., 2] += 3.0
    return {"frame_dir": "a01_v01", "label": 0, "total_frames": frames, "keypoint": keypoint}


def write_ann(path: Path, samples: list[dict], splits: dict | None = None) -> str:
    data = samples if splits is None else {"split": splits, "annotations": samples}
    path.write_bytes(pickle.dumps(data, protocol=4))
    return str(path)
