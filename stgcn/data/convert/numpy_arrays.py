"""Users' own skeleton arrays (the original ST-GCN feeder format) -> an annotation pickle.

This is the path for custom datasets. Put the skeletons of one split in one array and its labels
beside it:

* data: a `.npy` of shape (N, C, T, V, M) (samples, channels, frames, joints, persons), zero-padded
  in time as the original st-gcn `Feeder` expects; channels are x, y[, z], optionally followed by a
  confidence score (`score_channel=True`, e.g. st-gcn's Kinetics-skeleton x, y, score). It is
  memory-mapped, so arrays larger than RAM work.
* labels: a `.npy` of N integers (0-based), or st-gcn's label pickle `(sample_names, labels)`, read
  with the restricted unpickler. Sample names become `frame_dir`; without them the names are
  `{split}_{index:06d}`.

Each sample's trailing all-zero frames are cut (`total_frames` = last non-zero frame + 1); samples
with no non-zero frame are skipped and reported. Several (data, labels) pairs make one file with one
split per pair (default names 'train', 'val'). Command line:

    stgcn convert numpy --data train_data.npy val_data.npy --labels train_label.pkl val_label.pkl \
        --layout coco --score-channel mydata.pkl
    stgcn validate mydata.pkl --layout coco

then point a config at it with `ann_file='mydata.pkl'` and `split='train'` / `split='val'`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from stgcn.data.convert import Summary, annotation_file
from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError
from stgcn.progress import Progress


def load_labels(path: str | Path) -> tuple[list[str] | None, np.ndarray]:
    """(sample names or None, int64 labels) from a .npy of ints or an st-gcn (names, labels) pickle."""
    path = Path(path)
    if path.suffix == ".npy":
        labels = _load_npy(path, mmap=False)
        names = None
    else:
        obj = load_pickle(path)
        if not (isinstance(obj, (tuple, list)) and len(obj) == 2):
            raise StgcnError(f"{path}: expected st-gcn's (sample_names, labels) pickle; "
                             "or pass the labels as a .npy of integers")
        names, labels = [str(n) for n in obj[0]], np.asarray(obj[1])
        if len(names) != len(labels):
            raise StgcnError(f"{path}: {len(names)} sample names but {len(labels)} labels; fix the file")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise StgcnError(f"{path}: labels must be a 1-D array of integers, got {labels.dtype} "
                         f"{labels.shape}; save class indices (0-based)")
    if len(labels) and labels.min() < 0:
        raise StgcnError(f"{path}: labels must be 0-based class indices, found {labels.min()}; fix the file")
    return names, labels.astype(np.int64)


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StgcnError(f"{path}: cannot read the .npy array ({exc}); check the path") from None


def valid_length(sample: np.ndarray) -> int:
    """Frames up to the last one with any non-zero value, of one (C, T, V, M) sample."""
    nonzero = np.flatnonzero(np.any(sample != 0, axis=(0, 2, 3)))
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def sample_annotation(sample: np.ndarray, label: int, name: str, score_channel: bool,
                      img_shape: tuple[int, int]) -> dict | None:
    """One (C, T, V, M) sample -> an annotation dict (None when every frame is zero)."""
    frames = valid_length(sample)
    if frames == 0:
        return None
    clip = np.asarray(sample[:, :frames], dtype=np.float32).transpose(3, 1, 2, 0)  # -> M, T, V, C
    anno = dict(frame_dir=name, label=int(label), total_frames=frames,
                keypoint=np.ascontiguousarray(clip[..., :-1] if score_channel else clip),
                img_shape=img_shape, original_shape=img_shape)
    if score_channel:
        anno["keypoint_score"] = np.ascontiguousarray(clip[..., -1])
    return anno


def convert_numpy(data_paths: list[str | Path], label_paths: list[str | Path],
                  split_names: list[str] | None = None, score_channel: bool = False,
                  img_shape: tuple[int, int] = (1080, 1920),
                  progress: bool | None = None) -> tuple[dict, Summary]:
    """Convert (data, labels) pairs, one split each, into the split-dict layout."""
    start = time.perf_counter()
    if len(data_paths) != len(label_paths):
        raise StgcnError(f"--data has {len(data_paths)} files but --labels has {len(label_paths)}; "
                         "give one labels file per data file")
    split_names = list(split_names or ["train", "val", "test"][:len(data_paths)])
    if len(split_names) != len(data_paths) or len(set(split_names)) != len(split_names):
        raise StgcnError(f"--split-names {split_names} must give one distinct name per --data file")
    summary = Summary(source=", ".join(str(p) for p in data_paths))
    annotations, splits, seen = [], {}, set()
    for data_path, label_path, split in zip(data_paths, label_paths, split_names, strict=True):
        data = _load_npy(Path(data_path), mmap=True)
        names, labels = load_labels(label_path)
        _check_data(Path(data_path), data, len(labels), score_channel)
        names = names or [f"{split}_{i:06d}" for i in range(len(labels))]
        splits[split] = []
        summary.files_read += 2
        for i in Progress(range(len(labels)), desc=f"numpy {split}", enabled=progress):
            if names[i] in seen:
                raise StgcnError(f"{label_path}: sample name '{names[i]}' occurs twice; names must be unique "
                                 "across all splits")
            seen.add(names[i])
            anno = sample_annotation(data[i], labels[i], names[i], score_channel, img_shape)
            if anno is None:
                summary.skipped.append((f"{split}[{i}] {names[i]}", "every frame is zero"))
                continue
            annotations.append(anno)
            splits[split].append(names[i])
    summary.samples = len(annotations)
    summary.splits = {name: len(ids) for name, ids in splits.items()}
    summary.seconds = time.perf_counter() - start
    return annotation_file(annotations, splits), summary


def _check_data(path: Path, data: np.ndarray, num_labels: int, score_channel: bool) -> None:
    if data.ndim != 5:
        raise StgcnError(f"{path}: expected an (N, C, T, V, M) array, got shape {data.shape}; "
                         "reshape it to st-gcn's feeder layout")
    if data.shape[0] != num_labels:
        raise StgcnError(f"{path}: {data.shape[0]} samples but {num_labels} labels; "
                         "pass the matching labels file")
    coords = data.shape[1] - int(score_channel)
    if coords not in (2, 3):
        extra = " plus a score channel" if score_channel else ""
        raise StgcnError(f"{path}: C = {data.shape[1]} channels; expected 2 or 3 coordinates{extra} "
                         "(use --score-channel when the last channel is a confidence)")
    if not np.issubdtype(data.dtype, np.floating):
        raise StgcnError(f"{path}: dtype {data.dtype}; expected a floating-point array")
