"""CTR-GCN's preprocessed NTU files (`NTU60_CS.npz`, ...) -> an annotation pickle.

The `.npz` holds `x_train`, `x_test` float32 (N, T, M * V * 3) with M = 2 persons and V = 25 joints
(person-major, then joint, then x, y, z; an absent person is zeros) and `y_train`, `y_test` one-hot
(N, num_classes) (or class indices). CTR-GCN's feeder reads a sample as (T, M, V, C); here each becomes
`keypoint [M, T, V, 3]` with its trailing all-zero frames cut, named `train_{i}` / `test_{i}` as CTR-GCN
names them, in splits 'train' and 'test'. Layout `ntu-rgb+d` (the coordinates are already centred by
CTR-GCN's preprocessing).
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np

from stgcn.data.convert import Summary, annotation_file
from stgcn.data.convert.numpy_arrays import sample_annotation
from stgcn.errors import StgcnError

NUM_PERSON, NUM_JOINTS = 2, 25


def _labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    if y.ndim == 2:  # one-hot
        if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise StgcnError(f"{path}: {key} is 2-D but not one-hot; expected (N, num_classes) one-hot "
                             "labels")
        return y.argmax(axis=1)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return y
    raise StgcnError(f"{path}: {key} has shape {y.shape}; expected one-hot (N, num_classes) or class "
                     "indices")


def convert_ctrgcn_npz(path: str | Path) -> tuple[dict, Summary]:
    """Both splits of one CTR-GCN `.npz` file."""
    path, start = Path(path), time.perf_counter()
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise StgcnError(f"{path}: cannot read the .npz ({exc}); pass CTR-GCN's NTU60_CS.npz or "
                         "similar") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays.files]
    if missing:
        raise StgcnError(f"{path}: missing arrays {missing}; expected x_train, y_train, x_test, y_test")
    summary = Summary(source=str(path), files_read=1)
    annotations, splits = [], {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[2] != NUM_PERSON * NUM_JOINTS * 3:
            raise StgcnError(f"{path}: x_{split} has shape {x.shape}; expected (N, T, 150) = 2 persons x "
                             "25 joints x 3")
        labels = _labels(y, path, f"y_{split}")
        if len(labels) != len(x):
            raise StgcnError(f"{path}: x_{split} has {len(x)} samples but y_{split} {len(labels)}")
        data = x.reshape(len(x), x.shape[1], NUM_PERSON, NUM_JOINTS, 3).transpose(0, 4, 1, 3, 2)
        splits[split] = []
        for i in range(len(x)):
            name = f"{split}_{i}"
            anno = sample_annotation(data[i], int(labels[i]), name, False, (1080, 1920))
            if anno is None:
                summary.skipped.append((name, "every frame is zero"))
                continue
            for key in ("img_shape", "original_shape"):  # 3D coordinates: no image
                anno.pop(key)
            annotations.append(anno)
            splits[split].append(name)
        summary.splits[split] = len(splits[split])
    summary.samples, summary.seconds = len(annotations), time.perf_counter() - start
    return annotation_file(annotations, splits), summary
