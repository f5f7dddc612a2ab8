"""Coordinate augmentations and normalisations for modern training recipes, on [M, T, V, C] arrays
before `FormatGCNInput`: random rotation and scale, centring on a joint, per-clip min-max; and
`rotation_onto`, the rotation that aligns a body axis with a coordinate axis.

Absent joints and persons are stored as zeros and stay zero. Random draws come from numpy's global
generator, which the data loader seeds per worker (and per sample) for reproducible runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stgcn.data.results import require
from stgcn.errors import StgcnError


def rotation_onto(vector: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3x3 rotation about vector x target that turns `vector` onto the direction of `target`
    (Rodrigues' formula; identity when the two are already (anti)parallel or `vector` is ~0, as in
    0.x). Used by the 0.x converter (`pre_normalize`) and by `PreNormalize3D`."""
    axis = np.cross(vector, target)
    norm_v, norm_t = np.linalg.norm(vector), np.linalg.norm(target)
    if np.abs(axis).sum() < 1e-6 or np.abs(vector).sum() < 1e-6:
        return np.eye(3)
    # the angle between the unit vectors, computed as the 0.x converter and 1.x PreNormalize3D do
    angle = np.arccos(np.clip(np.dot(vector / norm_v, target / norm_t), -1.0, 1.0))
    if abs(angle) < 1e-6:
        return np.eye(3)
    k = axis / np.linalg.norm(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def _coords(results: dict, transform: str) -> np.ndarray:
    x = require(results, "keypoint", transform)
    if x.ndim != 4 or x.shape[-1] not in (2, 3):
        raise StgcnError(f"pipeline: {transform} needs [M, T, V, C] coordinates (C 2 or 3), got shape "
                         f"{x.shape}; put it before GenSkeFeat/FormatGCNInput")
    return x.astype(np.float32)


class RandomRot:
    """Random rotation about the origin: 3D about x, y and z by angles uniform in [-theta, theta]
    (radians), 2D about z only. Centre first (CenterJoint, PreNormalize2D/3D); on [M, T, V, C] before
    FormatGCNInput. Linear, so absent (all-zero) joints stay zero."""

    def __init__(self, theta: float = 0.3) -> None:
        self.theta = theta

    def __call__(self, results: dict) -> dict:
        x = _coords(results, "RandomRot")
        if x.shape[-1] == 2:
            a = np.random.uniform(-self.theta, self.theta)
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        else:
            ax, ay, az = np.random.uniform(-self.theta, self.theta, size=3)
            rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
            ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
            rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
            rot = rz @ ry @ rx
        results["keypoint"] = x @ rot.T.astype(np.float32)
        return results


class RandomScale:
    """Scale each coordinate axis about the origin by its own factor, uniform in [1 - scale, 1 + scale]
    (or in [low, high] when `scale` is a pair). Zero joints stay zero."""

    def __init__(self, scale: float | Sequence[float] = 0.1) -> None:
        self.low, self.high = (1 - scale, 1 + scale) if np.isscalar(scale) else tuple(scale)

    def __call__(self, results: dict) -> dict:
        x = _coords(results, "RandomScale")
        factors = np.random.uniform(self.low, self.high, size=x.shape[-1]).astype(np.float32)
        results["keypoint"] = x * factors
        return results


def _present(x: np.ndarray) -> np.ndarray:
    """[..., 1] mask of joints that are not all-zero (absent joints/persons are stored as zeros)."""
    return (x != 0).any(axis=-1, keepdims=True)


class CenterJoint:
    """Subtract the position of `joint` in `frame` of person 0 from every present (non-zero) joint."""

    def __init__(self, joint: int = 1, frame: int = 0) -> None:
        self.joint, self.frame = joint, frame

    def __call__(self, results: dict) -> dict:
        x = _coords(results, "CenterJoint")
        center = x[0, min(self.frame, x.shape[1] - 1), self.joint]
        results["keypoint"] = np.where(_present(x), x - center, np.float32(0))
        return results


class MinMaxNormalize:
    """Per clip and channel, map the range of the present (non-zero) joints to [low, high]; absent
    joints stay zero. A channel with no spread maps to the middle of the range."""

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        self.low, self.high = low, high

    def __call__(self, results: dict) -> dict:
        x = _coords(results, "MinMaxNormalize")
        mask = _present(x)
        if not mask.any():
            return results
        values = x[np.broadcast_to(mask, x.shape)].reshape(-1, x.shape[-1])
        lo, hi = values.min(axis=0), values.max(axis=0)
        span = hi - lo
        unit = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), np.float32(0.5))
        out = self.low + unit * (self.high - self.low)
        results["keypoint"] = np.where(mask, out, 0).astype(np.float32)
        return results
