"""Coordinate augmentations and normalisations for modern training recipes, on [M, T, V, C] arrays
before `FormatGCNInput`: random rotation and scale, mirroring, centring on a joint, centring and scaling
by the clip's joint box (one factor for every axis), per-clip min-max; and
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
    (radians; a triple ``(theta_x, theta_y, theta_z)`` gives each axis its own range, e.g. a wide turn
    about the vertical axis only), 2D about z only. Centre first (CenterJoint, PreNormalize2D/3D); on
    [M, T, V, C] before FormatGCNInput. Linear, so absent (all-zero) joints stay zero."""

    def __init__(self, theta: float | Sequence[float] = 0.3) -> None:
        thetas = (theta,) * 3 if np.isscalar(theta) else tuple(float(t) for t in theta)
        if len(thetas) != 3 or min(thetas) < 0:
            raise StgcnError(f"RandomRot: theta={theta!r}; give one angle or three (x, y, z), in radians, "
                             ">= 0")
        self.limits = np.array(thetas)  # per-axis ranges, x, y, z

    def __call__(self, results: dict) -> dict:
        x = _coords(results, "RandomRot")
        if x.shape[-1] == 2:
            a = np.random.uniform(-self.limits[2], self.limits[2])
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        else:
            ax, ay, az = np.random.uniform(-self.limits, self.limits)
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


class Flip:
    """Mirror the pose: x -> -x and each left joint swapped with its right twin (keypoint_score too).

    Put it where x is centred on 0 (after PreNormalize2D, PreNormalize3D or CenterJoint). Training
    (`test_mode=False`) mirrors a clip with probability `flip_ratio`. In test mode every clip also comes
    mirrored: the mirrored frames are appended and `num_clips` doubles, so FormatGCNInput splits them
    into clips and evaluation averages the scores of both (`model.test_cfg.average_clips`).
    The pairs come from the layout's joint names (`dataset=`) or are given as `left_kp`/`right_kp`.
    """

    def __init__(self, flip_ratio: float = 0.5, dataset: str | None = None,
                 left_kp: Sequence[int] | None = None, right_kp: Sequence[int] | None = None,
                 test_mode: bool = False) -> None:
        from stgcn.layouts_map import flip_pairs

        if (left_kp is None) != (right_kp is None) or (dataset is None) == (left_kp is None):
            raise StgcnError("pipeline: Flip needs either dataset= (a layout name) or both left_kp and "
                             "right_kp")
        if left_kp is not None and len(left_kp) != len(right_kp):
            raise StgcnError(f"pipeline: Flip left_kp has {len(left_kp)} joints but right_kp "
                             f"{len(right_kp)}; give them in matching pairs")
        pairs = flip_pairs(dataset) if dataset is not None else tuple(zip(left_kp, right_kp, strict=True))
        self.flip_ratio, self.test_mode, self.pairs = flip_ratio, test_mode, pairs

    def _order(self, num_joints: int) -> np.ndarray:
        order = np.arange(num_joints)
        for left, right in self.pairs:
            if max(left, right) >= num_joints:
                raise StgcnError(f"pipeline: Flip pairs name joint {max(left, right)} but the keypoints "
                                 f"have {num_joints} joints; check Flip's dataset/left_kp/right_kp")
            order[left], order[right] = right, left
        return order

    def _mirror(self, results: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        order = self._order(x.shape[2])
        mirrored = x[:, :, order]
        mirrored[..., 0] *= -1
        score = results.get("keypoint_score")
        return mirrored, None if score is None else score[:, :, order]

    def __call__(self, results: dict) -> dict:
        x = _coords(results, "Flip")
        if self.test_mode:
            mirrored, score = self._mirror(results, x)
            results["keypoint"] = np.concatenate([x, mirrored], axis=1)
            if score is not None:
                results["keypoint_score"] = np.concatenate([results["keypoint_score"], score], axis=1)
            results["num_clips"] = 2 * int(results.get("num_clips", 1))
        elif np.random.rand() < self.flip_ratio:
            results["keypoint"], score = self._mirror(results, x)
            if score is not None:
                results["keypoint_score"] = score
        return results


def _present(x: np.ndarray) -> np.ndarray:
    """[..., 1] mask of joints that are not all-zero (absent joints/persons are stored as zeros)."""
    return (x != 0).any(axis=-1, keepdims=True)


def _present_range(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (min, max) over the present joints (``mask`` from :func:`_present`, not all False)."""
    values = x[np.broadcast_to(mask, x.shape)].reshape(-1, x.shape[-1])
    return values.min(axis=0), values.max(axis=0)


class CenterJoint:
    """Subtract the position of `joint` in `frame` of person 0 from every present (non-zero) joint."""

    def __init__(self, joint: int = 1, frame: int = 0) -> None:
        self.joint, self.frame = joint, frame

    def __call__(self, results: dict) -> dict:
        x = _coords(results, "CenterJoint")
        center = x[0, min(self.frame, x.shape[1] - 1), self.joint]
        results["keypoint"] = np.where(_present(x), x - center, np.float32(0))
        return results


class CenterScale:
    """Centre the clip's present (non-zero) joints on the middle of their bounding box and divide every
    axis by one factor, so a body keeps its proportions whatever the frame's aspect ratio or the
    person's distance to the camera; absent joints stay zero. Use it on pixel or metric coordinates, in
    place of PreNormalize2D.

    ``by='clip'``: the factor is half the longer side of the clip's joint box (the clip spans [-1, 1]);
    ``by='body'``: half the median, over persons and frames, of the longer side of one person's box in
    one frame, so the scale does not depend on how far the person moves in the clip (nor on how long a
    window of a stream is)."""

    def __init__(self, by: str = "clip") -> None:
        if by not in ("clip", "body"):
            raise StgcnError(f"pipeline: CenterScale by={by!r}; use 'clip' or 'body'")
        self.by = by

    def __call__(self, results: dict) -> dict:
        x = _coords(results, "CenterScale")
        mask = _present(x)
        if not mask.any():
            return results
        lo, hi = _present_range(x, mask)
        half = float((hi - lo).max()) / 2 if self.by == "clip" else _body_size(x, mask[..., 0]) / 2
        out = (x - (lo + hi) / 2) / (half if half > 0 else 1.0)
        results["keypoint"] = np.where(mask, out, 0).astype(np.float32)
        return results


def _body_size(x: np.ndarray, present: np.ndarray) -> float:
    """Median over (person, frame) of the longer side of the box of that person's present joints."""
    big, small = np.where(present[..., None], x, -np.inf), np.where(present[..., None], x, np.inf)
    sides = (big.max(axis=2) - small.min(axis=2)).max(axis=-1)  # [M, T]
    sides = sides[present.sum(axis=2) >= 2]
    return float(np.median(sides)) if len(sides) else 0.0


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
        lo, hi = _present_range(x, mask)
        span = hi - lo
        unit = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), np.float32(0.5))
        out = self.low + unit * (self.high - self.low)
        results["keypoint"] = np.where(mask, out, 0).astype(np.float32)
        return results
