"""Pose pipeline transforms under mmaction2's config names, plus `build_pipeline`.

Each transform is a small class called on mmaction2's `results` dict. Annotation arrays are
`keypoint [M, T, V, C]` and `keypoint_score [M, T, V]`; the 0.x `FormatGCNInput` turns them into the
`[C, T, V, M]` model input (C = x, y[, z][, score]). Behaviour follows mmaction2 0.x
(`pose_loading.py`, `formatting.py`, SPEC §1.7) and, for `PreNormalize2D/3D`, `GenSkeFeat` and the
multi-clip `UniformSampleFrames`, mmaction2 1.x (SPEC §2.2). The coordinate augmentations of modern
recipes live in `stgcn.data.augment`; `RandomSampleFrames` is here with the other samplers. Random
transforms draw from numpy's global generator, which the data loader seeds per worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from stgcn.data.augment import (
    CenterJoint,
    CenterScale,
    Flip,
    MinMaxNormalize,
    RandomRot,
    RandomScale,
    rotation_onto,
)
from stgcn.data.results import require
from stgcn.data.transforms_1x import PackActionInputs, PadTo
from stgcn.errors import StgcnError
from stgcn.graph import ALIASES, LAYOUTS, Layout
from stgcn.registry import build_from_table


def _check_counts(name: str, clip_len: object, num_clips: object) -> None:
    for key, value in (("clip_len", clip_len), ("num_clips", num_clips)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise StgcnError(f"pipeline: {name} {key} must be a positive int, got {value!r}")


def _set_frame_inds(results: dict, inds: np.ndarray, clip_len: int, num_clips: int) -> dict:
    results["frame_inds"] = inds.astype(np.int64)
    results["clip_len"] = clip_len
    results["frame_interval"] = None
    results["num_clips"] = num_clips
    return results


class PaddingWithLoop:
    """Frames 0..clip_len-1 modulo total_frames: loops short sequences, truncates long ones."""

    def __init__(self, clip_len: int, num_clips: int = 1) -> None:
        _check_counts("PaddingWithLoop", clip_len, num_clips)
        self.clip_len, self.num_clips = clip_len, num_clips

    def __call__(self, results: dict) -> dict:
        total = require(results, "total_frames", "PaddingWithLoop")
        inds = np.mod(np.arange(self.clip_len), total)
        return _set_frame_inds(results, inds, self.clip_len, self.num_clips)


class UniformSampleFrames:
    """PoseC3D's uniform sampling: one frame per equal segment (randomised in training).

    Test mode is deterministic through its own `RandomState(seed)` (0.x reseeds the global generator
    instead; the indices are the same). Training draws from numpy's global generator.
    """

    def __init__(self, clip_len: int, num_clips: int = 1, test_mode: bool = False, seed: int = 255) -> None:
        _check_counts("UniformSampleFrames", clip_len, num_clips)
        self.clip_len, self.num_clips, self.test_mode, self.seed = clip_len, num_clips, test_mode, seed

    def _clip(self, rng, num_frames: int, clip_index: int) -> np.ndarray:
        clip_len = self.clip_len
        if num_frames < clip_len:
            if not self.test_mode:
                start = rng.randint(0, num_frames)
            elif num_frames < self.num_clips:
                start = clip_index
            else:
                start = clip_index * num_frames // self.num_clips
            return np.arange(start, start + clip_len)
        if num_frames < 2 * clip_len:  # insert num_frames - clip_len one-frame skips at random slots
            skips = np.zeros(clip_len + 1, dtype=np.int64)
            skips[rng.choice(clip_len + 1, num_frames - clip_len, replace=False)] = 1
            return np.arange(clip_len) + np.cumsum(skips)[:-1]
        bounds = np.array([i * num_frames // clip_len for i in range(clip_len + 1)])
        return bounds[:-1] + rng.randint(np.diff(bounds))

    def __call__(self, results: dict) -> dict:
        num_frames = require(results, "total_frames", "UniformSampleFrames")
        rng = np.random.RandomState(self.seed) if self.test_mode else np.random
        inds = np.concatenate([self._clip(rng, num_frames, i) for i in range(self.num_clips)])
        inds = np.mod(inds, num_frames) + results.get("start_index", 0)
        return _set_frame_inds(results, inds, self.clip_len, self.num_clips)


class RandomSampleFrames:
    """`clip_len` frames: training takes sorted uniform random indices (with replacement), test mode
    evenly spaced ones (`np.linspace` over the sequence, rounded). With `num_clips` > 1 in test mode
    the first clip is the evenly spaced one and the others are sorted random draws as in training, from
    a `RandomState(seed)` (deterministic), so test-time clips look like the training ones."""

    def __init__(self, clip_len: int, test_mode: bool = False, num_clips: int = 1, seed: int = 255) -> None:
        _check_counts("RandomSampleFrames", clip_len, num_clips)
        if num_clips > 1 and not test_mode:
            raise StgcnError("pipeline: RandomSampleFrames num_clips > 1 is for test mode; "
                             "set test_mode=True")
        self.clip_len, self.test_mode, self.num_clips, self.seed = clip_len, test_mode, num_clips, seed

    def __call__(self, results: dict) -> dict:
        total = require(results, "total_frames", "RandomSampleFrames")
        if self.test_mode:
            inds = np.round(np.linspace(0, total - 1, self.clip_len)).astype(np.int64)
            if self.num_clips > 1:
                rng = np.random.RandomState(self.seed)
                draws = [np.sort(rng.randint(0, total, self.clip_len)) for _ in range(self.num_clips - 1)]
                inds = np.concatenate([inds, *draws])
        else:
            inds = np.sort(np.random.randint(0, total, self.clip_len))
        return _set_frame_inds(results, inds + results.get("start_index", 0), self.clip_len, self.num_clips)


class PoseDecode:
    """Gather the sampled frames (`frame_inds`, default all) of keypoint/keypoint_score as float32."""

    def __call__(self, results: dict) -> dict:
        if "frame_inds" not in results:
            results["frame_inds"] = np.arange(require(results, "total_frames", "PoseDecode"))
        inds = results["frame_inds"]
        if inds.ndim != 1:
            inds = results["frame_inds"] = np.squeeze(inds)
        inds = inds + results.get("offset", 0)
        for key in ("keypoint_score", "keypoint"):
            if key in results:
                results[key] = results[key][:, inds].astype(np.float32)
        return results


class FormatGCNInput:
    """[M, T, V, C] (+ keypoint_score as an extra channel) -> [C, T, V, num_person]; pads or truncates
    persons. Several clips (`num_clips` > 1 from the sampler) become (num_clips, C, T, V, M), which the
    evaluation loop folds into the batch and merges as `model.test_cfg.average_clips` says.
    `mode='zero'` pads with zeros; `mode='loop'` (1.x) fills the empty slots of a one-person
    clip with copies of that person."""

    def __init__(self, input_format: str = "NCTVM", num_person: int = 2, mode: str = "zero") -> None:
        if input_format != "NCTVM":
            raise StgcnError(f"pipeline: FormatGCNInput input_format={input_format!r} is not supported; "
                             "use 'NCTVM'")
        if mode not in ("zero", "loop"):
            raise StgcnError(f"pipeline: FormatGCNInput mode={mode!r} is not valid; use 'zero' or 'loop'")
        self.input_format, self.num_person, self.mode = input_format, num_person, mode

    def __call__(self, results: dict) -> dict:
        x = require(results, "keypoint", "FormatGCNInput")
        if "keypoint_score" in results:
            x = np.concatenate([x, results["keypoint_score"][..., None]], axis=-1)
        x = x.transpose(3, 1, 2, 0)
        m = x.shape[-1]
        if m < self.num_person:
            fill = np.repeat(x, self.num_person - 1, axis=-1) if self.mode == "loop" and m == 1 else \
                np.zeros(x.shape[:-1] + (self.num_person - m,), x.dtype)
            x = np.concatenate([x, fill], axis=-1)
        x = x[..., : self.num_person]
        clips = int(results.get("num_clips", 1))
        if clips > 1:  # several test clips (UniformSampleFrames num_clips): (clips, C, T / clips, V, M)
            c, t, v, m = x.shape
            if t % clips:
                raise StgcnError(f"pipeline: FormatGCNInput got {t} frames for {clips} clips; the frame "
                                 "count must be a multiple of num_clips")
            x = x.reshape(c, clips, t // clips, v, m).transpose(1, 0, 2, 3, 4)
        x = np.ascontiguousarray(x)
        results["keypoint"] = x
        results["input_shape"] = x.shape
        return results


class PoseNormalize:
    """`(x - mean) / (max_value - min_value)` per channel on [C, T, V, M] (after FormatGCNInput, so
    zero-padded persons become -mean/range, e.g. -0.5)."""

    def __init__(self, mean: Sequence[float] = (960.0, 540.0, 0.5),
                 min_value: Sequence[float] = (0.0, 0.0, 0.0),
                 max_value: Sequence[float] = (1920.0, 1080.0, 1.0)) -> None:
        self.mean, self.min_value, self.max_value = (
            np.asarray(v, dtype=np.float32).reshape(-1, 1, 1, 1) for v in (mean, min_value, max_value))

    def __call__(self, results: dict) -> dict:
        x = require(results, "keypoint", "PoseNormalize")
        if x.shape[0] != self.mean.shape[0]:
            raise StgcnError(f"pipeline: PoseNormalize has {self.mean.shape[0]} channels of mean but the "
                             f"keypoint has {x.shape[0]} (expects [C, T, V, M] after FormatGCNInput)")
        results["keypoint"] = (x - self.mean) / (self.max_value - self.min_value)
        results["keypoint_norm_cfg"] = dict(mean=self.mean, min_value=self.min_value,
                                            max_value=self.max_value)
        return results


class Collect:
    """Keep only `keys` (plus a `meta_name` dict of `meta_keys` when given)."""

    def __init__(self, keys: Sequence[str], meta_keys: Sequence[str] = (), meta_name: str = "img_metas",
                 nested: bool = False) -> None:
        self.keys, self.meta_keys = list(keys), list(meta_keys)
        self.meta_name, self.nested = meta_name, nested

    def __call__(self, results: dict) -> dict:
        data = {key: require(results, key, "Collect") for key in self.keys}
        if self.meta_keys:
            data[self.meta_name] = {key: require(results, key, "Collect") for key in self.meta_keys}
        if self.nested:
            data = {k: [v] for k, v in data.items()}
        return data


def to_tensor(value: object) -> torch.Tensor:
    """mmcv's `to_tensor`: arrays zero-copy, sequences via torch.tensor, int/float as 1-element tensors."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return torch.tensor(value)
    if isinstance(value, (int, np.integer)):
        return torch.LongTensor([int(value)])
    if isinstance(value, (float, np.floating)):
        return torch.FloatTensor([float(value)])
    raise StgcnError(f"pipeline: ToTensor cannot convert a {type(value).__name__}; list only array keys")


class ToTensor:
    """Convert `keys` to torch tensors (the keypoint array stays float32, shared memory)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            results[key] = to_tensor(require(results, key, "ToTensor"))
        return results


def _skeleton(dataset: str, transform: str) -> Layout:
    """The layout named by a transform's `dataset=` (any spelling `stgcn.graph` accepts), with bones."""
    layout = LAYOUTS.get(ALIASES.get(dataset, dataset))
    if layout is None or layout.bones is None:
        names = list(LAYOUTS) + list(ALIASES)
        valid = [n for n in names if LAYOUTS[ALIASES.get(n, n)].bones]
        raise StgcnError(f"pipeline: {transform} dataset={dataset!r} has no bone pairs; valid: "
                         f"{', '.join(valid)}")
    return layout


def joint_to_bone(keypoint: np.ndarray, pairs, score_channel: bool) -> np.ndarray:
    """bone[v1] = joint[v1] - joint[v2] on [M, T, V, C]; with a score channel it becomes the pair mean."""
    bone = np.zeros(keypoint.shape, dtype=np.float32)
    v1, v2 = np.array(pairs).T
    bone[..., v1, :] = keypoint[..., v1, :] - keypoint[..., v2, :]
    if score_channel:
        bone[..., v1, 2] = (keypoint[..., v1, 2] + keypoint[..., v2, 2]) / 2
    return bone


class JointToBone:
    """Joints -> bones on [M, T, V, C] (C = 2 or 3); for the 2D layouts (openpose/coco) with C = 3 the
    third channel is a score and becomes the mean of the two joints' scores; for 3D layouts it is z."""

    def __init__(self, dataset: str = "nturgb+d") -> None:
        self.dataset, self.layout = dataset, _skeleton(dataset, "JointToBone")
        self.pairs = self.layout.bones

    def __call__(self, results: dict) -> dict:
        x = require(results, "keypoint", "JointToBone")
        if x.ndim != 4 or x.shape[-1] not in (2, 3) or x.shape[2] <= max(max(p) for p in self.pairs):
            raise StgcnError(f"pipeline: JointToBone({self.dataset!r}) needs [M, T, V, C] with C 2 or 3 "
                             f"and the layout's joints, got shape {x.shape}; put it before FormatGCNInput")
        scored = x.shape[-1] == 3 and self.layout.dims == 2
        results["keypoint"] = joint_to_bone(x, self.pairs, scored)
        return results


class GenSkeFeat:
    """1.x multi-stream features on [M, T, V, C]: merge keypoint_score (2D), then concatenate the
    requested streams along `axis`: 'j' joints, 'b' bones, 'jm'/'bm' their frame differences."""

    def __init__(self, dataset: str = "nturgb+d", feats: Sequence[str] = ("j",), axis: int = -1) -> None:
        self.dataset, self.layout = dataset, _skeleton(dataset, "GenSkeFeat")
        self.pairs = self.layout.bones
        bad = [f for f in feats if f not in ("j", "b", "jm", "bm")]
        if bad or not feats:
            raise StgcnError(f"pipeline: GenSkeFeat feats={list(feats)} is invalid; use some of "
                             "'j', 'b', 'jm', 'bm'")
        self.feats, self.axis = list(feats), axis

    def _motion(self, x: np.ndarray, scored: bool) -> np.ndarray:
        motion = np.zeros_like(x)
        motion[:, :-1] = np.diff(x, axis=1)
        if scored:
            motion[:, :-1, :, 2] = (x[:, :-1, :, 2] + x[:, 1:, :, 2]) / 2
        return motion

    def __call__(self, results: dict) -> dict:
        x = require(results, "keypoint", "GenSkeFeat")
        scored = "keypoint_score" in results or (x.shape[-1] == 3 and self.layout.dims == 2)
        if "keypoint_score" in results:
            x = np.concatenate([x, results.pop("keypoint_score")[..., None]], axis=-1)
        streams = {"j": x}
        if "b" in self.feats or "bm" in self.feats:
            streams["b"] = joint_to_bone(x, self.pairs, scored)
        for name in ("jm", "bm"):
            if name in self.feats:
                streams[name] = self._motion(streams[name[0]], scored)
        results["keypoint"] = np.concatenate([streams[f] for f in self.feats], axis=self.axis)
        return results


class PreNormalize2D:
    """Pixel x, y -> [-1, 1]: x <- (x - w/2) / (w/2), y <- (y - h/2) / (h/2), with (h, w) from the
    sample's img_shape (else `img_shape`); scores untouched."""

    def __init__(self, img_shape: Sequence[int] = (1080, 1920)) -> None:
        self.img_shape = tuple(img_shape)

    def __call__(self, results: dict) -> dict:
        x = require(results, "keypoint", "PreNormalize2D").astype(np.float32)
        h, w = results.get("img_shape", self.img_shape)
        x[..., 0] = (x[..., 0] - w / 2) / (w / 2)
        x[..., 1] = (x[..., 1] - h / 2) / (h / 2)
        results["keypoint"] = x
        return results


class PreNormalize3D:
    """1.x online 3D normalisation on [M, T, V, 3] (M <= 2): keep the frames where the main person (the
    one present in more frames, moved to slot 0) is present; centre on joint 1 (V = 25) or the last
    joint of person 0 in the first kept frame (zero joints stay zero); rotate the zaxis vector
    (bottom -> top joint) onto +z, then the xaxis vector (xaxis[1] -> xaxis[0]) onto +x; the second
    rotation may tilt the spine again, as in 1.x. Updates total_frames.

    The result is float32; `keep_float64=True` (set for 1.x/PYSKL configs) keeps the float64 of the
    rotation until PoseDecode, as 1.x does, so bone and motion features round like 1.x's."""

    def __init__(self, zaxis: Sequence[int] = (0, 1), xaxis: Sequence[int] = (8, 4), align_spine: bool = True,
                 align_shoulder: bool = True, align_center: bool = True, keep_float64: bool = False) -> None:
        self.zaxis, self.xaxis = list(zaxis), list(xaxis)
        self.align_spine, self.align_shoulder, self.align_center = align_spine, align_shoulder, align_center
        self.keep_float64 = keep_float64

    def __call__(self, results: dict) -> dict:
        x = require(results, "keypoint", "PreNormalize3D")
        if x.shape[-1] != 3 or x.shape[0] > 2:
            raise StgcnError(f"pipeline: PreNormalize3D needs [M<=2, T, V, 3] keypoints, got {x.shape}")
        if not x.any():
            return results
        present = [np.flatnonzero(~np.isclose(p, 0).all(axis=(1, 2))) for p in x]
        if len(present) == 2 and len(present[0]) < len(present[1]):
            x = x[[1, 0]][:, present[1]]
        else:
            x = x[:, present[0]]
        if self.align_center:
            center = x[0, 0, 1 if x.shape[2] == 25 else -1].copy()
            x = (x - center) * (x != 0).any(axis=-1, keepdims=True)
            results["body_center"] = center
        if self.align_spine:  # zaxis = (bottom, top): bottom -> top onto +z
            bottom, top = self.zaxis
            x = x @ rotation_onto(x[0, 0, top] - x[0, 0, bottom], np.array([0.0, 0.0, 1.0])).T
        if self.align_shoulder:  # xaxis = (right, left) shoulder: left -> right onto +x, as 1.x does
            right, left = self.xaxis
            x = x @ rotation_onto(x[0, 0, right] - x[0, 0, left], np.array([1.0, 0.0, 0.0])).T
        results["keypoint"] = x if self.keep_float64 else x.astype(np.float32)
        results["total_frames"] = x.shape[1]
        return results


TRANSFORMS: dict[str, type] = {
    cls.__name__: cls for cls in (
        PaddingWithLoop, PadTo, UniformSampleFrames, RandomSampleFrames, PoseDecode, FormatGCNInput,
        PackActionInputs, PoseNormalize, Collect, ToTensor, JointToBone, GenSkeFeat, PreNormalize2D,
        PreNormalize3D, RandomRot, RandomScale, Flip, CenterJoint, CenterScale, MinMaxNormalize)
}


class Compose:
    """Apply transforms in order; a transform returning None drops the sample (returns None)."""

    def __init__(self, transforms: Sequence[Callable[[dict], dict | None]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, results: dict) -> dict | None:
        for transform in self.transforms:
            results = transform(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(type(t).__name__ for t in self.transforms) + "])"


def build_transform(cfg: dict | Callable) -> Callable:
    """One transform from `dict(type=Name, **args)` (a callable passes through)."""
    if callable(cfg):
        return cfg
    return build_from_table(cfg, TRANSFORMS, "pipeline", what="transform type")


def build_pipeline(steps: Sequence[dict | Callable]) -> Compose:
    """Build a `Compose` from a config's list of transform dicts."""
    return Compose([build_transform(step) for step in steps])
