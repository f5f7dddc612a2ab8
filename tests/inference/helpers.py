"""A tiny trained-looking checkpoint (random non-trivial weights, config in meta) and samples for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from stgcn import build_model
from stgcn.engine.config import load_config
from stgcn.models.checkpoint import save_checkpoint
from tests.engine.tiny import write_tiny_config
from tests.models.helpers import randomize

NUM_CLASSES = 4  # the tiny config's


def tiny_config(directory: Path) -> dict:
    return load_config(write_tiny_config(directory))


def make_checkpoint(directory: Path, name: str = "tiny.pth", with_config: bool = True,
                    class_names: list[str] | None = None, seed: int = 0, **cfg_keys) -> Path:
    """A checkpoint as tools/train.py writes it: weights plus the resolved config (with ``cfg_keys``
    set at its top level) in meta."""
    cfg = dict(tiny_config(directory), **cfg_keys)
    model = build_model(cfg["model"])
    randomize(model, seed)
    meta = {"config_dict": cfg} if with_config else {}
    if class_names is not None:
        meta["class_names"] = class_names
    path = Path(directory) / name
    save_checkpoint(path, model, meta=meta)
    return path


def make_samples(n: int, frames: tuple[int, ...] = (20, 17, 31), seed: int = 0, labels: bool = True) -> list:
    """Annotation-format coco samples (2D pixels + scores, one person) of varying length."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = frames[i % len(frames)]
        sample = dict(frame_dir=f"clip{i}", total_frames=t, img_shape=(1080, 1920),
                      keypoint=(rng.random((1, t, 17, 2)) * [1920, 1080]).astype(np.float32),
                      keypoint_score=rng.random((1, t, 17)).astype(np.float32))
        if labels:
            sample["label"] = int(i % NUM_CLASSES)
        out.append(sample)
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.as_tensor(np.asarray(x, dtype=np.float64)), -1).numpy()
