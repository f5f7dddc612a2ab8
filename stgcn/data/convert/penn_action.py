"""Penn Action (Zhang et al., ICCV 2013) `labels/NNNN.mat` files -> a 2D annotation pickle, COCO-17 layout.

Each .mat (MATLAB v5, read with `scipy.io.loadmat`: `pip install "stgcn[penn]"`) holds `action`, `x`,
`y` (T, 13) pixels, `visibility` (T, 13), `dimensions` [height, width, T], `nframes` and `train`
(+1 train / -1 test).

Mapping onto COCO-17 (so the `coco` layout and COCO-trained models apply):
* Penn joints 1..12 (shoulders, elbows, wrists, hips, knees, ankles) -> COCO 5..16, same order;
* Penn head (0) -> COCO nose (0);
* COCO eyes and ears (1..4) have no counterpart: coordinates 0, score 0.
keypoint_score: 1.0 for visible joints; occluded / out-of-frame joints keep their annotated
coordinates and get `invisible_score` (default 0.0, so the score channel tells the model which joints
are guesses, as a detector's low confidence would; pass 1.0 to treat every annotation as certain).
Labels: index in the alphabetically sorted list of the 15 class names (`CLASS_NAMES`); splits
'train' / 'test' follow the official `train` flag. frame_dir is the file stem ('0001').
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from stgcn.data.convert import Summary, annotation_file, input_files
from stgcn.errors import StgcnError
from stgcn.progress import Progress

CLASS_NAMES = ("baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing",
               "jump_rope", "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar",
               "tennis_forehand", "tennis_serve")  # sorted
PENN_TO_COCO = (0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)  # Penn joint i -> COCO index
NUM_COCO = 17
_FIELDS = ("action", "x", "y", "visibility", "dimensions", "train")


def _loadmat():
    """scipy's MAT-file reader, imported only when a Penn Action conversion runs."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise StgcnError('stgcn convert penn-action: reading .mat files needs scipy; pip install '
                         '"stgcn[penn]"') from None
    return loadmat


def load_mat(path: str | Path) -> dict:
    """The variables of one MATLAB v5 file; a char array with one row becomes a str."""
    from scipy.io.matlab import MatReadError

    path = Path(path)
    try:
        mat = _loadmat()(path, chars_as_strings=True)
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise StgcnError(f"{path.name}: not a readable MATLAB v5 file ({str(exc)[:80]}); replace the "
                         "file") from None
    return {k: str(v[0]) if isinstance(v, np.ndarray) and v.dtype.kind == "U" and v.size == 1 else v
            for k, v in mat.items() if not k.startswith("__")}


def read_clip(path: str | Path, invisible_score: float = 0.0) -> tuple[dict, str]:
    """One .mat file -> (annotation dict, split name 'train' or 'test')."""
    path = Path(path)
    mat = load_mat(path)
    lacking = [f for f in _FIELDS if f not in mat]
    if lacking:
        raise StgcnError(f"{path.name}: field '{lacking[0]}' is missing; is this a Penn Action labels file?")
    action = mat["action"]
    if not isinstance(action, str) or action not in CLASS_NAMES:
        raise StgcnError(f"{path.name}: field 'action' is {action!r}, not one of the 15 Penn Action "
                         "classes; fix the file")
    x, y, vis = (np.asarray(mat[k], dtype=np.float64) for k in ("x", "y", "visibility"))
    if x.ndim != 2 or x.shape[1] != len(PENN_TO_COCO) or x.shape[0] == 0 or y.shape != x.shape \
            or vis.shape != x.shape:
        raise StgcnError(f"{path.name}: fields 'x', 'y', 'visibility' have shapes {x.shape}, {y.shape}, "
                         f"{vis.shape}; expected equal (T>0, 13); fix the file")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise StgcnError(f"{path.name}: fields 'x'/'y' hold NaN or infinite values; fix the file")
    dims = np.asarray(mat["dimensions"]).ravel()
    if dims.size < 2 or dims[0] <= 0 or dims[1] <= 0:
        raise StgcnError(f"{path.name}: field 'dimensions' is {dims.tolist()}, expected "
                         "[height, width, frames]; fix the file")
    train_flag = int(np.asarray(mat["train"]).ravel()[0])
    frames = x.shape[0]
    keypoint = np.zeros((1, frames, NUM_COCO, 2), dtype=np.float32)
    score = np.zeros((1, frames, NUM_COCO), dtype=np.float32)
    keypoint[0][:, PENN_TO_COCO] = np.stack([x, y], axis=-1)
    score[0][:, PENN_TO_COCO] = np.where(vis > 0, 1.0, invisible_score)
    shape = (int(dims[0]), int(dims[1]))
    anno = dict(frame_dir=path.stem, label=CLASS_NAMES.index(action), total_frames=frames,
                keypoint=keypoint, keypoint_score=score, img_shape=shape, original_shape=shape)
    return anno, "train" if train_flag == 1 else "test"


def convert_penn_action(labels_dir: str | Path, invisible_score: float = 0.0,
                        progress: bool | None = None) -> tuple[dict, Summary]:
    """Convert every .mat file in `labels_dir` into the split-dict layout ('train', 'test')."""
    start = time.perf_counter()
    paths = input_files(labels_dir, "*.mat", "the Penn Action 'labels' folder")
    _loadmat()  # a missing scipy is one error, not one skipped file per .mat
    summary = Summary(source=str(labels_dir))
    annotations, splits = [], {"train": [], "test": []}
    for path in Progress(paths, desc="penn-action", enabled=progress):
        summary.files_read += 1
        try:
            anno, split = read_clip(path, invisible_score)
        except StgcnError as exc:
            summary.skipped.append((path.name, str(exc).split(": ", 1)[-1]))
            continue
        annotations.append(anno)
        splits[split].append(anno["frame_dir"])
    summary.samples = len(annotations)
    summary.splits = {name: len(ids) for name, ids in splits.items()}
    summary.seconds = time.perf_counter() - start
    return annotation_file(annotations, splits), summary
