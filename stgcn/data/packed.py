"""Packed, memory-mapped annotation storage (`stgcn pack`), read zero-copy by PoseDataset.

A pickle of per-sample arrays has to be unpickled whole by every process that reads it, and forked
DataLoader workers slowly duplicate it page by page. A packed directory instead holds

    meta.json            format/version, V and C, frame_dirs, the split dict, per-sample scalar fields
                         (total_frames, img_shape, ...), the indices of samples with NaN/inf values
    keypoint.npy         all persons' frames stacked: (sum of M*T over samples, V, C), source dtype
    keypoint_score.npy   (sum of M*T, V), when the samples have scores
    index.npy            int64 (N, 3): row offset, M, T of each sample
    labels.npy           int64 (N,)

opened with `np.load(mmap_mode='r')`, so every process shares the OS page cache and a sample is a
view of its rows. The directory is written into a temp dir beside it and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError
from stgcn.progress import Progress

FORMAT, VERSION = "stgcn-packed", 1
META_FILE = "meta.json"
ARRAY_FIELDS = ("keypoint", "keypoint_score")
_RESERVED = set(ARRAY_FIELDS) | {"frame_dir", "label"}


def unpack_layout(data: object, source: str) -> tuple[list, dict | None]:
    """(annotations, split dict or None) from a plain list or a `{'split', 'annotations'}` dict."""
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        split = data.get("split")
        if split is not None and not isinstance(split, dict):
            raise StgcnError(f"{source}: 'split' must map split names to lists of ids; fix the file")
        return data["annotations"], split
    raise StgcnError(f"{source}: expected a list of annotation dicts or a dict with 'split' and "
                     f"'annotations', got {type(data).__name__}; convert it with `stgcn convert`")


def _json_value(value: object) -> tuple[bool, object]:
    """(ok, value) with numpy scalars and tuples made JSON-friendly; ok=False for anything else."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return True, value
    if isinstance(value, (tuple, list)):
        items = [_json_value(v) for v in value]
        if all(ok for ok, _ in items) and all(not isinstance(v, list) for _, v in items):
            return True, [v for _, v in items]
    return False, None


@dataclass
class PackSummary:
    """What `pack` wrote."""

    out_dir: Path
    num_samples: int
    num_rows: int
    nbytes: int
    dropped_fields: list[str] = field(default_factory=list)
    nonfinite: list[int] = field(default_factory=list)


def _scan(annotations: list, source: str) -> dict:
    """First pass: shapes, dtypes, scalar fields; checks that all samples agree on V, C and scores."""
    vc, dtypes, rows, has_score = None, {f: set() for f in ARRAY_FIELDS}, 0, None
    extras, dropped, nonfinite = [], set(), []
    for i, item in enumerate(annotations):
        name = item.get("frame_dir", f"#{i}") if isinstance(item, dict) else f"#{i}"
        if not isinstance(item, dict) or "keypoint" not in item or "label" not in item:
            raise StgcnError(f"{source}: sample {name} is not a dict with 'keypoint' and 'label'; "
                             "check it with `stgcn validate`")
        kp = np.asarray(item["keypoint"])
        if kp.ndim != 4 or (vc is not None and kp.shape[2:] != vc):
            raise StgcnError(f"{source}: sample {name} has keypoint shape {kp.shape}, expected [M, T, V, C]"
                             + (f" with V, C = {vc}" if vc else "") + "; all samples must share V and C")
        vc = kp.shape[2:]
        score = item.get("keypoint_score")
        if has_score is None:
            has_score = score is not None
        if (score is not None) != has_score:
            raise StgcnError(f"{source}: sample {name} {'has' if score is not None else 'lacks'} "
                             "keypoint_score unlike the first sample; give all samples scores or none")
        if score is not None and np.shape(score) != kp.shape[:3]:
            raise StgcnError(f"{source}: sample {name} has keypoint_score shape {np.shape(score)}, "
                             f"expected {kp.shape[:3]} to match keypoint")
        finite = np.isfinite(kp).all() and (score is None or np.isfinite(score).all())
        if not finite:
            nonfinite.append(i)
        dtypes["keypoint"].add(kp.dtype)
        if score is not None:
            dtypes["keypoint_score"].add(np.asarray(score).dtype)
        rows += kp.shape[0] * kp.shape[1]
        extra = {}
        for key, value in item.items():
            if key in _RESERVED:
                continue
            ok, value = _json_value(value)
            if ok:
                extra[key] = value
            else:
                dropped.add(key)
        extras.append(extra)
    if vc is None:
        raise StgcnError(f"{source}: no samples to pack")
    fields = ["keypoint"] + (["keypoint_score"] if has_score else [])
    out_dtypes = {}
    for f in fields:  # keep the source dtype (e.g. float16) when all samples share a float dtype
        only = next(iter(dtypes[f])) if len(dtypes[f]) == 1 else None
        out_dtypes[f] = only if only is not None and np.issubdtype(only, np.floating) else np.dtype("float32")
    return dict(vc=vc, rows=rows, dtypes=out_dtypes, extras=extras, dropped=sorted(dropped),
                nonfinite=nonfinite)


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and not is_packed_dir(out_dir):
        raise StgcnError(f"{out_dir}: exists and is not a packed annotation directory; choose another "
                         "OUT_DIR or remove it first")


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    shutil.rmtree(old)


def pack_annotations(data: object, out_dir: str | os.PathLike, source: str = "<memory>",
                     progress: bool | None = None) -> PackSummary:
    """Pack in-memory annotations (a list, or a split dict) into `out_dir` atomically."""
    out_dir = Path(out_dir)
    _check_target(out_dir)
    annotations, split = unpack_layout(data, source)
    scan = _scan(annotations, source)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        v, c = scan["vc"]
        shapes = {"keypoint": (scan["rows"], v, c), "keypoint_score": (scan["rows"], v)}
        arrays = {f: np.lib.format.open_memmap(tmp / f"{f}.npy", mode="w+", dtype=dt, shape=shapes[f])
                  for f, dt in scan["dtypes"].items()}
        index = np.zeros((len(annotations), 3), np.int64)
        offset = 0
        for i, item in enumerate(Progress(annotations, desc="pack", enabled=progress)):
            m, t = np.shape(item["keypoint"])[:2]
            index[i] = offset, m, t
            for f, arr in arrays.items():
                arr[offset:offset + m * t] = np.asarray(item[f]).reshape((m * t,) + arr.shape[1:])
            offset += m * t
        for arr in arrays.values():
            arr.flush()
        del arrays
        np.save(tmp / "index.npy", index)
        np.save(tmp / "labels.npy", np.array([int(a["label"]) for a in annotations], np.int64))
        meta = dict(format=FORMAT, version=VERSION, num_samples=len(annotations), num_joints=v,
                    num_channels=c, fields={f: str(dt) for f, dt in scan["dtypes"].items()},
                    source=str(source), frame_dirs=[str(a.get("frame_dir", "")) for a in annotations],
                    split=split, extras=scan["extras"], nonfinite=scan["nonfinite"])
        with open(tmp / META_FILE, "w") as f:
            json.dump(meta, f)
        nbytes = sum(p.stat().st_size for p in tmp.iterdir())
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PackSummary(out_dir, len(annotations), scan["rows"], nbytes, scan["dropped"], scan["nonfinite"])


def pack(ann_file: str | os.PathLike, out_dir: str | os.PathLike,
         progress: bool | None = None) -> PackSummary:
    """Pack an annotation pickle into a memory-mappable directory (see the module docstring)."""
    _check_target(Path(out_dir))
    return pack_annotations(load_pickle(ann_file), out_dir, source=str(ann_file), progress=progress)


def is_packed_dir(path: str | os.PathLike) -> bool:
    """Whether `path` holds a packed meta.json (only its head is read: `format` is written first)."""
    meta = Path(path) / META_FILE
    try:
        with open(meta) as f:
            return f'"format": "{FORMAT}"' in f.read(64)
    except OSError:
        return False


def find_packed(ann_file: str | os.PathLike) -> Path | None:
    """The packed directory to read for `ann_file`: itself, or a fresh `<ann_file>.packed/` beside it."""
    path = Path(ann_file)
    if path.is_dir():
        return path if is_packed_dir(path) else None
    sibling = Path(f"{path}.packed")
    if is_packed_dir(sibling) and (not path.exists()
                                   or (sibling / META_FILE).stat().st_mtime >= path.stat().st_mtime):
        return sibling
    return None


class PackedAnnotations(Sequence):
    """A packed directory as a read-only sequence of annotation dicts whose arrays are mmap views.

    The arrays are mapped lazily in each process (never pickled), so DataLoader workers, forked or
    spawned, share the OS page cache.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not is_packed_dir(self.path):
            raise StgcnError(f"{self.path}: not a packed annotation directory (no {META_FILE} of format "
                             f"{FORMAT!r}); create it with `stgcn pack ANN.pkl {self.path}`")
        with open(self.path / META_FILE) as f:
            meta = json.load(f)
        if meta.get("version") != VERSION:
            raise StgcnError(f"{self.path}: packed format version {meta.get('version')} is not supported "
                             f"(this stgcn reads {VERSION}); re-run `stgcn pack`")
        self.meta = meta
        self.frame_dirs: list[str] = meta["frame_dirs"]
        self.split: dict | None = meta["split"]
        self.nonfinite: list[int] = meta["nonfinite"]
        self.fields: list[str] = list(meta["fields"])
        self.num_joints, self.num_channels = int(meta["num_joints"]), int(meta["num_channels"])
        self.index = np.load(self.path / "index.npy")
        self.labels: list[int] = np.load(self.path / "labels.npy").tolist()
        self._extras: list[dict] = meta["extras"]  # JSON lists become tuples again in scalars()
        self._arrays: dict[str, np.ndarray] | None = None
        rows = int((self.index[:, 0] + self.index[:, 1] * self.index[:, 2]).max(initial=0))
        if len(self.index) != len(self.frame_dirs) or rows > self.arrays["keypoint"].shape[0]:
            raise StgcnError(f"{self.path}: the packed files disagree with each other (interrupted copy?); "
                             "re-run `stgcn pack`")

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {f: np.load(self.path / f"{f}.npy", mmap_mode="r").view(np.ndarray)
                            for f in self.fields}
        return self._arrays

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_arrays"} | {"_arrays": None}

    def __len__(self) -> int:
        return len(self.frame_dirs)

    def shape(self, i: int) -> tuple[int, int]:
        """(M, T) of sample i without touching its arrays."""
        return int(self.index[i, 1]), int(self.index[i, 2])

    def scalars(self, i: int) -> dict:
        """Sample i's fields other than the arrays (frame_dir, label, total_frames, ...)."""
        item = {k: tuple(v) if isinstance(v, list) else v for k, v in self._extras[i].items()}
        return dict(item, frame_dir=self.frame_dirs[i], label=self.labels[i])

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        offset, m, t = (int(x) for x in self.index[i])
        item = self.scalars(i)
        for f, arr in self.arrays.items():
            item[f] = arr[offset:offset + m * t].reshape((m, t) + arr.shape[1:])
        return item
