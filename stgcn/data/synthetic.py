"""A deterministic, learnable synthetic skeleton dataset for any layout (no download needed).

Each class is a periodic motion of a few joints of a resting body: its own joints, directions, number
of cycles per clip and amplitude, fixed by (V, dims, class index) alone, so every split and seed
shares the same classes.
Samples add a random phase, body size, position, length and Gaussian noise; sample i depends only on
(seed, i). 2D samples are pixel coordinates in a 1920x1080 frame with scores (like HRNet pickles), 3D
samples are metres around the origin (like pre-normalised NTU data). The annotation format is the
one PoseDataset reads (`{'split': {'train', 'val'}, 'annotations': [...]}`).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from stgcn.errors import StgcnError

IMG_SHAPE = (1080, 1920)
_PIXELS_PER_UNIT = 300.0  # 2D: one body unit (about a metre) in pixels


def _resolve_layout(layout: str | dict, num_joints: int | None) -> tuple[int, tuple, int]:
    """(V, edges, centre) from stgcn.graph, or just V = num_joints when the graph module is absent."""
    try:
        from stgcn.graph import get_layout
    except ImportError:
        if num_joints is None:
            raise StgcnError(f"synthetic data: layout {layout!r} cannot be resolved without stgcn.graph; "
                             "pass num_joints") from None
        return num_joints, (), 0
    lay = get_layout(layout)
    if num_joints is not None and num_joints != lay.num_node:
        raise StgcnError(f"synthetic data: num_joints={num_joints} but layout {layout!r} has "
                         f"{lay.num_node} joints; drop num_joints or fix it")
    return lay.num_node, tuple(lay.edges), lay.center


def _template(num_joints: int, edges: tuple, center: int, dims: int) -> np.ndarray:
    """A fixed resting pose (V, dims): the skeleton tree grown from the centre with unit-ish bones."""
    rng = np.random.default_rng([num_joints, dims, 1])
    neighbours: dict[int, list[int]] = {v: [] for v in range(num_joints)}
    for i, j in edges:
        neighbours[i].append(j)
        neighbours[j].append(i)
    pos = rng.uniform(-0.5, 0.5, (num_joints, dims))  # joints outside the tree keep a random place
    pos[center] = 0
    seen, queue = {center}, deque([center])
    while queue:
        v = queue.popleft()
        for w in neighbours[v]:
            if w not in seen:
                step = rng.normal(size=dims)
                pos[w] = pos[v] + 0.25 * step / np.linalg.norm(step)
                seen.add(w)
                queue.append(w)
    pos -= pos.mean(axis=0)
    return pos / max(np.abs(pos).max(), 1e-6) * 0.8


def _class_pattern(label: int, num_joints: int, dims: int) -> dict:
    rng = np.random.default_rng([num_joints, dims, label, 2])
    k = min(3, num_joints)
    dirs = rng.normal(size=(k, dims))
    return dict(joints=rng.choice(num_joints, k, replace=False),
                dirs=dirs / np.linalg.norm(dirs, axis=1, keepdims=True),
                cycles=rng.uniform(1.0, 4.0), phases=rng.uniform(0, 2 * np.pi, k),
                amplitude=rng.uniform(0.3, 0.5))


def _person(rng, template: np.ndarray, pattern: dict, t: np.ndarray, shift: float,
            noise: float) -> np.ndarray:
    dims = template.shape[1]
    body = template * rng.uniform(0.9, 1.1) + rng.normal(0, 0.02, template.shape)
    offset = rng.normal(0, 0.05, dims)
    offset[0] += shift
    # the class's number of cycles per clip, whatever its length: any frame sampler keeps the pattern
    wave = pattern["amplitude"] * np.sin(2 * np.pi * pattern["cycles"] * t[:, None] / len(t)
                                         + rng.uniform(0, 2 * np.pi) + pattern["phases"])  # (T, k)
    pose = np.broadcast_to(body + offset, (len(t),) + template.shape).copy()
    pose[:, pattern["joints"]] += wave[..., None] * pattern["dirs"]
    return pose + rng.normal(0, noise, pose.shape)


def make_sample(index: int, label: int, template: np.ndarray, pattern: dict, num_person: int,
                min_frames: int, max_frames: int, noise: float, seed: int, prefix: str) -> dict:
    """One annotation dict; depends only on (seed, index) and the class pattern."""
    rng = np.random.default_rng([seed, index])
    dims = template.shape[1]
    t = np.arange(rng.integers(min_frames, max_frames + 1))
    persons = 2 if num_person >= 2 and rng.random() < 0.5 else 1
    pose = np.stack([_person(rng, template, pattern, t, 1.0 * p, noise) for p in range(persons)])
    sample = dict(frame_dir=f"{prefix}{index:06d}", label=label, total_frames=len(t),
                  img_shape=IMG_SHAPE, original_shape=IMG_SHAPE)
    if dims == 2:  # pixels: x right from the centre, y down
        h, w = IMG_SHAPE
        pixels = np.stack([w / 2 + _PIXELS_PER_UNIT * pose[..., 0],
                           h / 2 - _PIXELS_PER_UNIT * pose[..., 1]], axis=-1)
        sample["keypoint"] = pixels.astype(np.float32)
        sample["keypoint_score"] = rng.uniform(0.6, 1.0, pose.shape[:3]).astype(np.float32)
    else:
        sample["keypoint"] = (0.9 * pose).astype(np.float32)
    return sample


def make_synthetic(num_samples: int, num_classes: int, layout: str | dict = "coco", dims: int = 2,
                   num_joints: int | None = None, num_person: int = 1, min_frames: int = 24,
                   max_frames: int = 64, noise: float = 0.02, val_fraction: float = 0.2, seed: int = 0,
                   prefix: str = "syn_") -> dict:
    """`dict(split={'train': ids, 'val': ids}, annotations=[...])`; labels cycle through the classes,
    the last `val_fraction` of the samples form 'val'."""
    if dims not in (2, 3):
        raise StgcnError(f"synthetic data: dims={dims} is invalid; use 2 (pixels + scores) or 3 (metres)")
    if num_classes < 1 or num_samples < 1 or not 1 <= min_frames <= max_frames:
        raise StgcnError("synthetic data: need num_samples >= 1, num_classes >= 1 and "
                         f"1 <= min_frames <= max_frames, got {num_samples}, {num_classes}, "
                         f"{min_frames}, {max_frames}")
    v, edges, center = _resolve_layout(layout, num_joints)
    template = _template(v, edges, center, dims)
    patterns = [_class_pattern(c, v, dims) for c in range(num_classes)]
    annotations = [make_sample(i, i % num_classes, template, patterns[i % num_classes], num_person,
                               min_frames, max_frames, noise, seed, prefix) for i in range(num_samples)]
    num_train = num_samples - int(round(num_samples * val_fraction))
    ids = [a["frame_dir"] for a in annotations]
    return dict(split=dict(train=ids[:num_train], val=ids[num_train:]), annotations=annotations)
