"""Transforms that only mmaction2 1.x / PYSKL pipelines use: `PadTo` (the PYSKL "vanilla" recipe's
temporal padding) and `PackActionInputs` (1.x's last step).

Both follow mmaction2 1.x's `pose_transforms.py` / `formatting.py`; they are registered in
`stgcn.data.transforms.TRANSFORMS` with the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from stgcn.data.results import require
from stgcn.errors import StgcnError


class PadTo:
    """1.x/PYSKL: the sequence from `start_index` looped (`mode='loop'`) or zero-padded (`'zero'`) to
    `length` frames, on the keypoint arrays themselves; `total_frames` becomes `length`."""

    def __init__(self, length: int, mode: str = "loop") -> None:
        if mode not in ("loop", "zero"):
            raise StgcnError(f"pipeline: PadTo mode={mode!r} is not valid; use 'loop' or 'zero'")
        self.length, self.mode = length, mode

    def __call__(self, results: dict) -> dict:
        total = require(results, "total_frames", "PadTo")
        if total > self.length:
            raise StgcnError(f"pipeline: PadTo(length={self.length}) got a sample of {total} frames; raise "
                             "length or sample frames first (UniformSampleFrames)")
        start = results.get("start_index", 0)
        inds = np.mod(np.arange(start, start + self.length), total)
        for key in ("keypoint", "keypoint_score"):
            if key in results:
                padded = results[key][:, inds].copy()
                if self.mode == "zero":
                    padded[:, total:] = 0
                results[key] = padded
        results["total_frames"] = self.length
        return results



class PackActionInputs:
    """1.x's final step: `{'keypoint': float32 tensor, 'label': int}` from FormatGCNInput's [C, T, V, M]
    or, with several test clips, (num_clips, C, T, V, M) (FormatGCNInput splits them; the evaluation
    loop folds them into the batch and averages). mmaction2 1.x's `inputs` are the same numbers in
    (num_clips, M, T, V, C) order.
    """

    def __init__(self, meta_keys: Sequence[str] = ()) -> None:
        self.meta_keys = tuple(meta_keys)  # 1.x data-sample metadata; not carried here

    def __call__(self, results: dict) -> dict:
        x = require(results, "keypoint", "PackActionInputs")
        if x.ndim not in (4, 5):
            raise StgcnError(f"pipeline: PackActionInputs needs FormatGCNInput's [C, T, V, M] keypoint, got "
                             f"shape {x.shape}; put FormatGCNInput before it")
        return {"keypoint": torch.from_numpy(x.astype(np.float32, copy=False)),
                "label": int(require(results, "label", "PackActionInputs"))}
