"""Packed, memory-mapped annotation storage (`stgcn pack`), read zero-copy by PoseDataset.

A pickle of per-sample arrays has to be unpickled whole by every process that reads it, and forked
DataLoader workers slowly duplicate it page by page. A packed directory instead holds

    meta.json            format/version, V and C, frame_dirs, the split dict, the indices of samples with
                         NaN/inf values, per-sample scalar fields that do not fit a column (`rest`)
    columns.npz          per-sample scalar fields (total_frames, img_shape, ...) one array per field,
                         for fields every sample has with one type (tuples become rows)
    keypoint.npy         all persons' frames stacked: (sum of M*T over samples, V, C), source dtype
    keypoint_score.npy   (sum of M*T, V), when the samples have scores
    index.npy            int64 (N, 3): row offset, M, T of each sample
    labels.npy           int64 (N,)
    source.json          the fingerprint of the source pickle (`stgcn.data.fingerprint`)

opened with `np.load(mmap_mode='r')`, so every process shares the OS page cache and a sample is a
view of its rows. Opening costs O(ms) per 100k samples: no per-sample Python object is built (the scalar
fields are columns, version 3; versions 1-2 kept them as one JSON dict per sample). The directory is
written into a temp dir beside it and renamed into place.
A `<ANN.pkl>.packed/` beside its pickle is read in its place only while the pickle is the file it was
packed from (by content, see `stgcn.data.fingerprint`). Opening checks every file's presence, shape and
dtype against meta.json (headers only), so a damaged directory fails at once with the file to blame.
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

from stgcn.data import fingerprint
from stgcn.data.packed_columns import restore, to_columns
from stgcn.data.safe_pickle import load_pickle
from stgcn.data.samples import find_problems
from stgcn.errors import StgcnError
from stgcn.progress import Progress

FORMAT, VERSION = "stgcn-packed", 3
READABLE_VERSIONS = (1, 2, 3)  # 1 lacks source.json: readable when given, never used in place of a pickle
META_FILE, SOURCE_FILE, COLUMNS_FILE = "meta.json", "source.json", "columns.npz"
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
    found = find_problems(enumerate(annotations))
    if found:
        name, problem = found[0]
        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        raise StgcnError(f"{source}: {problem.message(name)}{more}; `stgcn validate {source}` lists them")
    for i, item in enumerate(annotations):
        kp, score = item["keypoint"], item.get("keypoint_score")
        vc, has_score = kp.shape[2:], score is not None
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
                     progress: bool | None = None,
                     source_record: fingerprint.Fingerprint | None = None) -> PackSummary:
    """Pack in-memory annotations (a list, or a split dict) into `out_dir` atomically; `source_record`
    is the fingerprint of the pickle they came from."""
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
        columns, kinds, rest = to_columns(scan["extras"])
        with open(tmp / COLUMNS_FILE, "wb") as f:
            np.savez(f, **{f"c{j}": arr for j, arr in enumerate(columns.values())})
        meta = dict(format=FORMAT, version=VERSION, num_samples=len(annotations), num_joints=v,
                    num_channels=c, fields={f: str(dt) for f, dt in scan["dtypes"].items()},
                    source=str(source), frame_dirs=[str(a.get("frame_dir", "")) for a in annotations],
                    split=split, columns=kinds, rest=rest, nonfinite=scan["nonfinite"])
        with open(tmp / META_FILE, "w") as f:
            json.dump(meta, f)
        if source_record is not None:
            fingerprint.save(source_record, tmp / SOURCE_FILE)
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
    if not Path(ann_file).is_file():
        load_pickle(ann_file)  # raises the loader's one-line error for a missing path or a folder
    # Fingerprint before reading: if the file is replaced in between, the pack looks stale (safe),
    # never fresh with old content.
    record = fingerprint.fingerprint(ann_file)
    data = load_pickle(ann_file)
    return pack_annotations(data, out_dir, source=str(ann_file), progress=progress, source_record=record)


def is_packed_dir(path: str | os.PathLike) -> bool:
    """Whether `path` holds a packed meta.json (only its head is read: `format` is written first)."""
    meta = Path(path) / META_FILE
    try:
        with open(meta) as f:
            return f'"format": "{FORMAT}"' in f.read(64)
    except OSError:
        return False


def find_packed(ann_file: str | os.PathLike) -> tuple[Path | None, str | None]:
    """(the packed directory to read for `ann_file`, why `<ann_file>.packed/` is not used).

    The directory is `ann_file` itself when it is one, else `<ann_file>.packed/` while `ann_file` is
    absent or is the very file that was packed (by size and content hash, never by mtime alone).
    """
    path = Path(ann_file)
    if path.is_dir():
        return (path if is_packed_dir(path) else None), None
    sibling = Path(f"{path}.packed")
    if not is_packed_dir(sibling):
        return None, None
    if not path.exists():
        return sibling, None
    record = fingerprint.load(sibling / SOURCE_FILE)
    if record is None:
        return None, f"{sibling} has no record of its source (packed by an older stgcn)"
    try:
        why = fingerprint.mismatch(path, record, sibling / SOURCE_FILE)
    except OSError as exc:
        why = f"{path} cannot be read to compare ({exc.strerror})"
    return (None, f"{path} is not the file that was packed: {why}") if why else (sibling, None)


class PackedAnnotations(Sequence):
    """A packed directory as a read-only sequence of annotation dicts whose arrays are mmap views.

    The arrays are mapped lazily in each process and a pickled copy is just the path (reopened on
    unpickling), so DataLoader workers, forked or spawned, share the OS page cache and hold no copy.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not is_packed_dir(self.path):
            raise StgcnError(f"{self.path}: not a packed annotation directory (no {META_FILE} of format "
                             f"{FORMAT!r}); create it with `stgcn pack ANN.pkl {self.path}`")
        record = fingerprint.load(self.path / SOURCE_FILE)
        self._fix = f"re-run `stgcn pack {record.path if record else 'ANN.pkl'} {self.path}`"
        try:
            with open(self.path / META_FILE) as f:
                meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise self._damaged(META_FILE, f"is not readable JSON ({type(exc).__name__})") from None
        if meta.get("version") not in READABLE_VERSIONS:
            raise StgcnError(f"{self.path}: packed format version {meta.get('version')} is not supported "
                             f"(this stgcn reads {', '.join(map(str, READABLE_VERSIONS))}); {self._fix}")
        if record is None and isinstance(meta.get("source"), str) and meta["source"] != "<memory>":
            self._fix = f"re-run `stgcn pack {meta['source']} {self.path}`"
        self.meta = meta
        self.rules_checked = meta["version"] >= 2  # `stgcn pack` applied `stgcn.data.samples` rules
        try:
            self.frame_dirs: list[str] = list(meta["frame_dirs"])
            self.split: dict | None = meta["split"]
            self.nonfinite: list[int] = list(meta["nonfinite"])
            self.fields: list[str] = list(meta["fields"])
            self.num_joints, self.num_channels = int(meta["num_joints"]), int(meta["num_channels"])
            if meta["version"] >= 3:
                self._kinds: dict[str, str] = dict(meta["columns"])
                self._rest: dict[str, dict] = dict(meta["rest"])  # JSON lists become tuples in scalars()
                extras = len(self.frame_dirs)
            else:  # one dict per sample
                self._kinds, extras = {}, len(meta["extras"])
                self._rest = {str(i): extra for i, extra in enumerate(meta["extras"]) if extra}
        except (KeyError, TypeError, ValueError) as exc:
            raise self._damaged(META_FILE, f"lacks a valid {exc}") from None
        n = len(self.frame_dirs)
        self.index = self._load("index.npy", (n, 3), "i")
        self.labels: list[int] = self._load("labels.npy", (n,), "i").tolist()
        if extras != n or self.fields[:1] != ["keypoint"]:
            raise self._damaged(META_FILE, f"disagrees with itself ({n} frame_dirs, {extras} "
                                f"extras, fields {self.fields})")
        self._columns = self._load_columns(n)
        rows = int((self.index[:, 0] + self.index[:, 1] * self.index[:, 2]).max(initial=0))
        tails = {"keypoint": (self.num_joints, self.num_channels), "keypoint_score": (self.num_joints,)}
        self._shapes = {name: (None,) + tails.get(name, ()) for name in self.fields}
        for name in self.fields:
            arr = self._load(f"{name}.npy", self._shapes[name], "f", meta["fields"][name])
            if arr.shape[0] < rows:
                raise self._damaged(f"{name}.npy", f"has {arr.shape[0]} rows, index.npy needs {rows}")
        self._arrays: dict[str, np.ndarray] | None = None

    def _damaged(self, name: str, what: str) -> StgcnError:
        return StgcnError(f"{self.path / name}: {what}; the packed directory is damaged (interrupted copy?); "
                          f"{self._fix}")

    def _load(self, name: str, shape: tuple, kind: str, dtype: str | None = None) -> np.ndarray:
        """A memory map of one packed file, checked against the shape/dtype meta.json implies."""
        try:
            arr = np.load(self.path / name, mmap_mode="r")
        except FileNotFoundError:
            raise self._damaged(name, "is missing") from None
        except (OSError, ValueError, EOFError) as exc:
            raise self._damaged(name, f"is truncated or not a .npy file ({str(exc)[:60]})") from None
        want = "(" + ", ".join("N" if d is None else str(d) for d in shape) + "," * (len(shape) == 1) + ")"
        if arr.ndim != len(shape) or any(d not in (None, a) for d, a in zip(shape, arr.shape, strict=True)):
            raise self._damaged(name, f"has shape {arr.shape}, meta.json implies {want}")
        if arr.dtype.kind != kind or (dtype is not None and arr.dtype != np.dtype(dtype)):
            raise self._damaged(name, f"has dtype {arr.dtype}, meta.json says {dtype or kind}")
        return arr

    def _load_columns(self, n: int) -> dict[str, np.ndarray]:
        """The scalar-field columns (small: read into memory), each checked to hold n samples."""
        if not self._kinds:
            return {}
        try:
            with np.load(self.path / COLUMNS_FILE, allow_pickle=False) as npz:
                columns = {key: npz[f"c{j}"] for j, key in enumerate(self._kinds)}
        except FileNotFoundError:
            raise self._damaged(COLUMNS_FILE, "is missing") from None
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise self._damaged(COLUMNS_FILE, f"is truncated or damaged ({str(exc)[:60]})") from None
        for key, arr in columns.items():
            if len(arr) != n or arr.ndim != (2 if self._kinds[key] == "tuple" else 1):
                raise self._damaged(COLUMNS_FILE, f"field {key!r} has shape {arr.shape}, expected {n} rows")
        return columns

    def ids(self) -> list[str]:
        """What a split names each sample by: its `filename` field when it has one, else its frame_dir."""
        names = self._columns.get("filename")
        if names is not None and names.dtype.kind == "U":
            return names.tolist()
        return [self._rest.get(str(i), {}).get("filename", fd) if self._rest else fd
                for i, fd in enumerate(self.frame_dirs)]

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {f: self._load(f"{f}.npy", self._shapes[f], "f").view(np.ndarray)
                            for f in self.fields}
        return self._arrays

    def __getstate__(self) -> dict:
        return {"path": str(self.path)}  # a worker reopens the directory: nothing per sample travels

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def __len__(self) -> int:
        return len(self.frame_dirs)

    def shape(self, i: int) -> tuple[int, int]:
        """(M, T) of sample i without touching its arrays."""
        return int(self.index[i, 1]), int(self.index[i, 2])

    def scalars(self, i: int) -> dict:
        """Sample i's fields other than the arrays (frame_dir, label, total_frames, ...)."""
        item = {k: restore(arr, i, self._kinds[k]) for k, arr in self._columns.items()}
        for k, v in self._rest.get(str(i), {}).items():
            item[k] = tuple(v) if isinstance(v, list) else v
        return dict(item, frame_dir=self.frame_dirs[i], label=self.labels[i])

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        offset, m, t = (int(x) for x in self.index[i])
        item = self.scalars(i)
        for f, arr in self.arrays.items():
            item[f] = arr[offset:offset + m * t].reshape((m, t) + arr.shape[1:])
        return item
