"""Joint correspondences between 2D keypoint layouts: feed a model keypoints of another estimator.

One explicit table, :data:`JOINT_NAMES`, names every joint of each 2D image layout in index order;
joint counts, bones, aliases and coordinate dimensions stay in :mod:`stgcn.graph` (a test checks that
both agree). A mapping from a
source layout to a target layout takes each target joint from the source joint of the same name, or
derives it as the mean of two named source joints (:data:`DERIVED`, e.g. OpenPose's neck is the middle
of the shoulders). A target joint with neither raises a one-line :class:`StgcnError`, as does a
3D camera-space layout (``ntu-rgb+d``, ``nw-ucla``) fed with 2D image keypoints.

``drop`` names target joints to blank (coordinates 0, score 0) whatever the source holds: a model trained
on data without them (Penn Action has no eyes or ears, so its COCO-17 files hold zeros there) sees them
absent as in training instead of values it never met.

``blazepose-33`` (MediaPipe Pose) is a source-only layout: no model graph exists for it, so it has no
entry in :data:`stgcn.graph.LAYOUTS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stgcn.errors import StgcnError, did_you_mean
from stgcn.graph import ALIASES, LAYOUTS

_COCO = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
         "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
         "right_knee", "left_ankle", "right_ankle")

JOINT_NAMES: dict[str, tuple[str, ...]] = {
    "coco": _COCO,
    # OpenPose COCO-18 (original ST-GCN Kinetics-skeleton)
    "openpose-18": ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear"),
    # OpenPose BODY_25
    "openpose-25": ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                    "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
                    "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
                    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
                    "right_heel"),
    # MediaPipe BlazePose 33 landmarks (foot_index is the tip of the big toe)
    "blazepose-33": ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
                     "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
                     "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                     "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
                     "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee",
                     "left_ankle", "right_ankle", "left_heel", "right_heel", "left_big_toe",
                     "right_big_toe"),
}

# Kinect joints of the 3D layouts, in index order: only used to find mirror pairs (`flip_pairs`); 2D
# keypoints are never mapped onto these layouts.
_KINECT_LIMBS = ("shoulder", "elbow", "wrist", "hand")
_KINECT_LEGS = ("hip", "knee", "ankle", "foot")
KINECT_NAMES: dict[str, tuple[str, ...]] = {
    "nw-ucla": ("hip_center", "spine", "shoulder_center", "head",
                *(f"left_{j}" for j in _KINECT_LIMBS), *(f"right_{j}" for j in _KINECT_LIMBS),
                *(f"left_{j}" for j in _KINECT_LEGS), *(f"right_{j}" for j in _KINECT_LEGS)),
    "ntu-rgb+d": ("spine_base", "spine_mid", "neck", "head",
                  *(f"left_{j}" for j in _KINECT_LIMBS), *(f"right_{j}" for j in _KINECT_LIMBS),
                  *(f"left_{j}" for j in _KINECT_LEGS), *(f"right_{j}" for j in _KINECT_LEGS),
                  "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb"),
}


def flip_pairs(layout: str) -> tuple[tuple[int, int], ...]:
    """(left, right) joint index pairs of a layout, matched by name (`left_x` with `right_x`)."""
    name = ALIASES.get(layout, layout)
    names = JOINT_NAMES.get(name) or KINECT_NAMES.get(name)
    if names is None:
        valid = sorted(set(JOINT_NAMES) | set(KINECT_NAMES))
        raise StgcnError(f"no joint names for layout {layout!r}{did_you_mean(layout, valid)}; valid: "
                         f"{', '.join(valid)} (or give left_kp/right_kp)")
    index = {n: i for i, n in enumerate(names)}
    return tuple((i, index["right_" + n[5:]]) for n, i in index.items()
                 if n.startswith("left_") and "right_" + n[5:] in index)


# Joints some layouts have that others build from two joints (their midpoint).
DERIVED: dict[str, tuple[str, str]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "mid_hip": ("left_hip", "right_hip"),
}


@dataclass(frozen=True)
class JointMap:
    """``parts[j]``: the source joint indices whose mean is target joint ``j``; ``drop``: blanked targets."""

    source: str
    target: str
    parts: tuple[tuple[int, ...], ...]
    drop: tuple[int, ...] = ()

    @property
    def identity(self) -> bool:
        return self.source == self.target and not self.drop


def _names(layout: object, role: str, other: object) -> tuple[str, ...]:
    layout = ALIASES.get(layout, layout) if isinstance(layout, str) else layout
    if layout in JOINT_NAMES:
        return JOINT_NAMES[layout]  # type: ignore[index]
    if layout in LAYOUTS and LAYOUTS[layout].dims == 3:
        raise StgcnError(f"layout {layout!r} holds 3D camera-space joints; 2D keypoints of {other!r} "
                         "cannot be mapped onto it (use a checkpoint trained on a 2D layout, e.g. coco)")
    valid = sorted(JOINT_NAMES)
    raise StgcnError(f"no joint-name table for {role} layout {layout!r}{did_you_mean(layout, valid)}; "
                     f"mappable layouts: {', '.join(valid)}")


def joint_map(source: str, target: str, drop: tuple[str, ...] = ()) -> JointMap:
    """The mapping that turns ``source``-layout keypoints into ``target``-layout keypoints.

    ``drop``: names of target joints to blank (coordinates and score 0).
    """
    source, target = ALIASES.get(source, source), ALIASES.get(target, target)
    src = _names(source, "source", target)
    dst = _names(target, "target", source)
    unknown = [name for name in drop if name not in dst]
    if unknown:
        raise StgcnError(f"joint {unknown[0]!r} to drop is not in layout {target!r}"
                         f"{did_you_mean(unknown[0], dst)}; its joints: {', '.join(dst)}")
    index = {name: i for i, name in enumerate(src)}
    parts, missing = [], []
    for name in dst:
        if name in index:
            parts.append((index[name],))
        elif name in DERIVED and all(n in index for n in DERIVED[name]):
            parts.append(tuple(index[n] for n in DERIVED[name]))
        else:
            missing.append(name)
    if missing:
        raise StgcnError(f"layout {source!r} cannot feed layout {target!r}: it has no {', '.join(missing)}; "
                         f"use keypoints with those joints or a checkpoint trained on {source!r}")
    return JointMap(source, target, tuple(parts), tuple(dst.index(name) for name in drop))


def joint_names_arg(text: str | None) -> tuple[str, ...]:
    """``"left_eye,right_eye"`` (a command-line value) -> ``('left_eye', 'right_eye')``; None -> ()."""
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())


DROP_JOINTS_HELP = ("comma-separated joints of the checkpoint's layout to feed as absent (0, score 0): "
                    "joints its training data lacked. Default: the config's absent_joints (Penn Action "
                    "configs: left_eye,right_eye,left_ear,right_ear); 'none' feeds every joint")


def drop_joints(text: str | None, recognizer=None) -> tuple[str, ...]:
    """A ``--drop-joints`` value: the names given, ``()`` for 'none', and when not given the
    ``absent_joints`` of the checkpoint's config (``recognizer.absent_joints``; announced on stdout)."""
    if text is not None:
        return () if text.strip().lower() == "none" else joint_names_arg(text)
    absent = tuple(getattr(recognizer, "absent_joints", ()) or ())
    if absent:
        print(f"feeding {', '.join(absent)} as absent: the checkpoint's training data lacks them "
              "(config absent_joints; --drop-joints none feeds them)")
    return absent


def map_keypoints(keypoint: np.ndarray, score: np.ndarray,
                  mapping: JointMap) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``mapping`` to ``keypoint [..., V, C]`` and ``score [..., V]`` (any leading axes).

    A derived joint is the mean of its parts' coordinates and gets the lowest of their scores.
    """
    if keypoint.shape[-2] != len(JOINT_NAMES[mapping.source]) or score.shape != keypoint.shape[:-1]:
        raise StgcnError(f"keypoints of shape {keypoint.shape} / scores {score.shape} do not match "
                         f"layout {mapping.source!r} ({len(JOINT_NAMES[mapping.source])} joints)")
    if mapping.identity:
        return keypoint, score
    kp = np.stack([keypoint[..., list(p), :].mean(-2) for p in mapping.parts], axis=-2)
    sc = np.stack([score[..., list(p)].min(-1) for p in mapping.parts], axis=-1)
    kp[..., list(mapping.drop), :] = 0
    sc[..., list(mapping.drop)] = 0
    return kp.astype(keypoint.dtype), sc.astype(score.dtype)
