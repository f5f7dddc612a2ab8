"""The rules an annotation sample must meet, checked from metadata only (keys, types, dtypes, shapes).

One source for `PoseDataset` (which raises on the first problem when it opens a file) and for
`stgcn validate` / `stgcn convert` (which list them all). The rules follow what mmaction2 0.x's pose
pipeline needs (SPEC §1.6, §1.7): a dict with `frame_dir` (str), `label` (int >= 0), `total_frames`
and `keypoint` `[M, T, V, C]` (C = 2 or 3, M >= 1, T >= 1), optionally `keypoint_score` `[M, T, V]`.
`PaddingWithLoop` / `UniformSampleFrames` index frames `0 .. total_frames - 1` of the keypoint array,
so `total_frames` must be an int with `1 <= total_frames <= T`; a smaller `total_frames` is valid
(the frames after it are never read). Across samples, V, C and the presence of `keypoint_score` must
agree, or batches fail to collate mid-epoch; the samples that differ from the majority are named.
Values (NaN / inf) are checked elsewhere: these rules never read array data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

REQUIRED_KEYS = ("frame_dir", "label", "total_frames", "keypoint")


@dataclass(frozen=True)
class ArrayMeta:
    """Shape and dtype of an array that is not loaded (e.g. a packed sample's rows)."""

    shape: tuple[int, ...]
    dtype: np.dtype


@dataclass(frozen=True)
class Problem:
    """One rule a sample breaks: `what` is the same text for every sample with this problem (so
    reports can group them), `detail` holds this sample's values, `fix` says what to do."""

    field: str
    what: str
    fix: str
    detail: str = ""

    @property
    def kind(self) -> str:
        return f"{self.field} {self.what}"

    def message(self, sample: str) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"sample {sample}: field '{self.field}' {self.what}{detail}; {self.fix}"


def sample_name(item: object, index: int) -> str:
    """`#index (frame_dir)`, the way every report names a sample."""
    name = item.get("frame_dir", item.get("filename")) if isinstance(item, dict) else None
    return f"#{index} ({name})" if isinstance(name, str) else f"#{index}"


def _meta(value: object) -> ArrayMeta | None:
    if isinstance(value, ArrayMeta):
        return value
    if isinstance(value, np.ndarray):
        return ArrayMeta(value.shape, value.dtype)
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "fiu"


def _array_problem(name: str, value: object, ndim: int, expected: str) -> Problem | None:
    meta = _meta(value)
    if meta is None:
        return Problem(name, "is not a numpy array", f"store it as a numpy float32 array {expected}",
                       type(value).__name__)
    if not _numeric(meta.dtype):
        return Problem(name, "does not hold numbers", f"store it as a numpy float32 array {expected}",
                       f"dtype {meta.dtype}")
    if len(meta.shape) != ndim:
        return Problem(name, f"is not a {ndim}-d array {expected}", "fix the converter that wrote it",
                       f"shape {meta.shape}")
    return None


def _keypoint_problems(item: dict, num_joints: int | None) -> list[Problem]:
    bad = _array_problem("keypoint", item["keypoint"], 4, "[M, T, V, C]")
    if bad:
        return [bad]
    m, t, v, c = shape = _meta(item["keypoint"]).shape
    shape = f"shape {shape}" if 0 in (m, t) or c not in (2, 3) or num_joints not in (None, v) else ""
    out = []
    if m == 0:
        out.append(Problem("keypoint", "has no persons (M = 0)", "drop the sample", shape))
    if t == 0:
        out.append(Problem("keypoint", "has no frames (T = 0)", "drop the sample", shape))
    if c not in (2, 3):
        out.append(Problem("keypoint", "has C not in (2, 3)", "keep only x, y[, z] in keypoint (scores go "
                           "into keypoint_score)", shape))
    if num_joints is not None and v != num_joints:
        out.append(Problem("keypoint", f"has V != {num_joints} (the layout's joint count)",
                           "use the layout the data was made for", shape))
    if "keypoint_score" in item:
        bad = _array_problem("keypoint_score", item["keypoint_score"], 3, "[M, T, V]")
        if bad:
            out.append(bad)
        elif (got := _meta(item["keypoint_score"]).shape) != (m, t, v):
            out.append(Problem("keypoint_score", "shape is not [M, T, V] of keypoint", "fix the converter "
                               "that wrote it", f"{got} vs keypoint {(m, t, v, c)}"))
    total = item["total_frames"]
    if not _is_int(total):
        out.append(Problem("total_frames", "is not an integer", "set it to the keypoint's T",
                           f"{type(total).__name__} {total!r}"[:80]))
    elif not 1 <= total <= max(t, 1):
        out.append(Problem("total_frames", "is not in [1, T]", "set it to the keypoint's T (the pipeline "
                           "reads frames 0 .. total_frames - 1)", f"total_frames={total}, T={t}"))
    return out


def check_sample(item: object, num_joints: int | None = None,
                 num_classes: int | None = None) -> list[Problem]:
    """Everything wrong with one sample, from its keys, types, dtypes and shapes (not its values)."""
    if not isinstance(item, dict):
        return [Problem("sample", "is not a dict", "each sample must be a dict with "
                        f"{', '.join(REQUIRED_KEYS)}", type(item).__name__)]
    out = [Problem(key, "is missing", f"add '{key}' to every sample") for key in REQUIRED_KEYS
           if key not in item]
    if "frame_dir" in item and not isinstance(item["frame_dir"], str):
        out.append(Problem("frame_dir", "is not a string", "name each sample with a unique string",
                           type(item["frame_dir"]).__name__))
    label = item.get("label")
    if "label" in item and (not _is_int(label) or label < 0):
        out.append(Problem("label", "is not a non-negative integer", "store 0-based int class indices",
                           f"{type(label).__name__} {label!r}"[:80]))
    elif num_classes is not None and "label" in item and label >= num_classes:
        out.append(Problem("label", f"is outside [0, {num_classes})", "check num_classes in the config",
                           f"label={label}"))
    if "keypoint" in item and "total_frames" in item:
        out.extend(_keypoint_problems(item, num_joints))
    return out


def _consistency(shapes: list[tuple[str, int, int, bool]]) -> list[tuple[str, Problem]]:
    """The samples whose V, C or keypoint_score presence differ from most samples'."""
    out = []
    for pos, field, what in ((1, "keypoint", "V"), (2, "keypoint", "C"), (3, "keypoint_score", "present")):
        counts = Counter(s[pos] for s in shapes)
        if len(counts) < 2:
            continue
        usual = counts.most_common(1)[0][0]
        for name, *values in shapes:
            value = values[pos - 1]
            if value == usual:
                continue
            if what == "present":
                problem = Problem(field, "is present in some samples only", "give every sample a "
                                  "keypoint_score or none", "has it" if value else "lacks it")
            else:
                problem = Problem(field, f"has a {what} unlike most samples", "all samples must share V "
                                  "and C; fix or drop the odd ones", f"{what}={value}, most have {usual}")
            out.append((name, problem))
    return out


def find_problems(samples: Iterable[tuple[int, object]], num_joints: int | None = None,
                  num_classes: int | None = None) -> list[tuple[str, Problem]]:
    """(sample name, problem) for every problem of the (index, sample) pairs, in sample order, then
    the samples that disagree with the majority on V, C or keypoint_score."""
    found, shapes = [], []
    for index, item in samples:
        name = sample_name(item, index)
        problems = check_sample(item, num_joints, num_classes)
        found.extend((name, p) for p in problems)
        kp = _meta(item.get("keypoint")) if isinstance(item, dict) else None
        if kp is not None and len(kp.shape) == 4 and not any(p.field == "keypoint" for p in problems):
            shapes.append((name, kp.shape[2], kp.shape[3], "keypoint_score" in item))
    return found + _consistency(shapes)
