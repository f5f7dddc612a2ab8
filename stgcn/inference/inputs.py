"""What `stgcn predict` reads: annotation files, packed directories and bare keypoint arrays.

* ``.pkl``: an annotation file, a plain list of samples or a ``{'split', 'annotations'}`` dict (pick the
  part with ``split``);
* a directory written by ``stgcn pack`` (its splits work the same way);
* ``.npy``: one keypoint array ``[M, T, V, C]`` or ``[T, V, C]`` (one person), coordinates as the model's
  training data had them (pixels for 2D, metres for 3D); no scores;
* ``.npz``: ``keypoint`` as above, optional ``keypoint_score`` ``[M, T, V]`` (or ``[T, V]``) and
  ``img_shape`` ``(height, width)`` for 2D pixels.

And the checks ``Recognizer`` runs on each sample it is given (arrays, label, frame size).
"""

from __future__ import annotations

import operator
import os
import zipfile
from pathlib import Path

import numpy as np

from stgcn.data.packed import PackedAnnotations, is_packed_dir, unpack_layout
from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError, did_you_mean

NPZ_KEYS = ("keypoint", "keypoint_score", "img_shape")


def _select(records, splits: dict | None, split: str | None, source: str) -> list:
    if split is None:
        if splits is not None:
            raise StgcnError(f"{source}: the file has splits {', '.join(sorted(splits))}; pick one with "
                             "--split NAME")
        return [records[i] for i in range(len(records))]
    if splits is None:
        raise StgcnError(f"{source}: --split {split} given but the file has no splits; drop --split")
    if split not in splits:
        raise StgcnError(f"{source}: no split {split!r}{did_you_mean(split, splits)}; available: "
                         f"{', '.join(sorted(splits))}")
    wanted = set(splits[split])
    out = []
    for i in range(len(records)):
        item = records[i]
        if isinstance(item, dict) and item.get("filename", item.get("frame_dir")) in wanted:
            out.append(item)
    return out


def _from_array(path: Path) -> list[dict]:
    try:
        if path.suffix == ".npy":
            arrays = {"keypoint": np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as npz:
                unknown = [k for k in npz.files if k not in NPZ_KEYS]
                if "layout" in npz.files:
                    raise StgcnError(f"{path}: a pose file ([T, P, V, 2] with its layout, as extract-pose "
                                     "caches and --poses reads), not a keypoint array; classify it with "
                                     "`stgcn vis FILE OUT.png --checkpoint CKPT`, or with `stgcn predict` "
                                     "on the annotation file extract-pose wrote")
                if "keypoint" not in npz.files:
                    raise StgcnError(f"{path}: an .npz needs 'keypoint' [M, T, V, C]; it has "
                                     f"{', '.join(npz.files) or 'nothing'}")
                if unknown:
                    raise StgcnError(f"{path}: unexpected array(s) {', '.join(unknown)} in the .npz; it "
                                     f"may hold {', '.join(NPZ_KEYS)} only")
                arrays = {k: npz[k] for k in npz.files}
    except StgcnError:
        raise
    except EOFError:
        raise StgcnError(f"{path}: empty or truncated numpy file; save arrays with "
                         "numpy.save/savez") from None
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise StgcnError(f"{path}: not a readable numpy file ({err}); save arrays with "
                         "numpy.save/savez") from None
    return [{"frame_dir": path.stem, **arrays}]


def load_samples(path: str | os.PathLike, split: str | None = None,
                 img_shape: tuple[int, int] | None = None) -> list[dict]:
    """The samples of an annotation file, packed directory or .npy/.npz keypoint array, in file order;
    ``img_shape`` fills in the frame size of samples that carry none (a .npy array never does)."""
    samples = _load(Path(path), split)
    if img_shape is not None:
        samples = [dict(s, img_shape=img_shape) if isinstance(s, dict) and s.get("img_shape") is None
                   else s for s in samples]
    return samples


def _load(path: Path, split: str | None) -> list[dict]:
    source = str(path)
    if not path.exists():
        raise StgcnError(f"{path}: input not found; give an annotation .pkl, a packed directory or a "
                         ".npy/.npz array")
    if path.suffix in (".npy", ".npz"):
        if split is not None:
            raise StgcnError(f"{path}: --split applies to annotation files, not to {path.suffix} arrays")
        return _from_array(path)
    if path.is_dir():
        if not is_packed_dir(path):
            raise StgcnError(f"{path}: a directory that `stgcn pack` did not write; give its output folder")
        records = PackedAnnotations(path)
        samples = _select(records, records.split, split, source)
    else:
        records, splits = unpack_layout(load_pickle(path), source)
        samples = _select(records, splits, split, source)
    if not samples:
        where = f" in split {split!r}" if split else ""
        raise StgcnError(f"{path}: no samples{where}; check the file")
    return samples


# ---------------------------------------------------------------- checking one sample

def needs_img_shape(pipeline_cfg: list) -> bool:
    """Whether the pipeline divides 2D pixels by each sample's ``img_shape`` (``PreNormalize2D`` without
    an ``img_shape`` of its own, whose 1080x1920 fallback would silently skew other frame sizes)."""
    return any(isinstance(step, dict) and step.get("type") == "PreNormalize2D" and "img_shape" not in step
               for step in pipeline_cfg)


def check_img_shape(value: object, where: str) -> tuple[int, int]:
    """``(height, width)`` as two positive ints, or a one-line error naming ``where``."""
    try:
        h, w = (operator.index(v) for v in np.ravel(np.asarray(value)))
    except (TypeError, ValueError):
        raise StgcnError(f"{where}: img_shape={value!r} is not (height, width); give two positive "
                         "integers, the size of the frames the keypoints were taken from") from None
    if h <= 0 or w <= 0:
        raise StgcnError(f"{where}: img_shape={value!r} must be positive (height, width) in pixels")
    return int(h), int(w)


def check_label(value: object, num_classes: int, name: object) -> int:
    """A sample's label as an int in ``0..num_classes - 1``, or a one-line error naming the sample."""
    try:
        label = operator.index(value)
    except TypeError:
        raise StgcnError(f"sample {name}: label={value!r} is not a class index; give an integer in "
                         f"0..{num_classes - 1}, or no label") from None
    if not 0 <= label < num_classes:
        raise StgcnError(f"sample {name}: label={label} is outside 0..{num_classes - 1} (the checkpoint "
                         f"has {num_classes} classes)")
    return int(label)


def sample_arrays(sample: dict, name: object) -> tuple[np.ndarray, np.ndarray | None]:
    """A sample's keypoint [M, T, V, C] (a [T, V, C] one gets M=1) and keypoint_score as float32."""
    arrays = []
    for key, shape in (("keypoint", "[M, T, V, C] (or [T, V, C])"), ("keypoint_score", "[M, T, V]")):
        value = sample.get(key)
        try:
            arrays.append(None if value is None else np.asarray(value, dtype=np.float32))
        except (TypeError, ValueError):
            raise StgcnError(f"sample {name}: {key} is not a numeric array; give {key} {shape} with the "
                             "same number of frames and joints for every person") from None
    kp, score = arrays
    if kp.ndim == 3:
        return kp[None], None if score is None else score[None]
    return kp, score
