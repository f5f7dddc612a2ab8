"""Raw NTU RGB+D 60/120 `.skeleton` files -> a 3D annotation pickle (Kinect v2, 25 joints, metres).

Matches mmaction2 0.x `tools/data/skeleton/gen_ntu_rgbd_raw.py` (SPEC 1.14):
* bodies are taken by their position in each frame's body list (up to 4, not tracked by body id);
  energy = std(x) + std(y) + std(z) over the body's non-empty frames; the 2 highest are kept, so
  M = 2 with a zero second body for one-person clips (what the 0.x 3D config expects);
* `prenorm=True` applies its `pre_normalization`: pad null frames, subtract joint 1 (spine) of body 0
  in every frame, rotate hip->spine of body 0, frame 0 onto +z, then right->left shoulder onto +x;
  without it the raw camera coordinates are kept (the mmaction2 1.x / PYSKL convention, whose
  `PreNormalize3D` transform normalises online).
Labels are A - 1; splits xsub/xview (NTU60 protocol) and xset (NTU120: even setup ids train).
Differences: float32 output (1.x writes float16); a file longer than `max_frames` is cut to its first
`max_frames` frames (0.x fails on it); clips with no body in any frame and malformed or truncated
files are skipped and reported instead of stopping the run.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from stgcn.data.augment import rotation_onto
from stgcn.data.convert import Summary, annotation_file, write_pickle
from stgcn.errors import StgcnError
from stgcn.progress import Progress

NUM_JOINTS = 25
IMG_SHAPE = (1080, 1920)  # Kinect v2 colour frames; kept for compatibility, 3D data does not use it
BENCHMARKS = ("xsub", "xview", "xset")
# 0.x names the cross-setup folder 'xsetup'; the 1.x split names use 'xset'.
LEGACY_DIR_NAMES = {"xsub": "xsub", "xview": "xview", "xset": "xsetup"}

# Cross-subject training performers: NTU60 (Shahroudy et al. 2016, Sec. 3.2) plus NTU120's additions
# (Liu et al. 2019, Sec. 4.2).
XSUB_TRAIN_SUBJECTS = frozenset({
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38,
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89,
    91, 92, 93, 94, 95, 97, 98, 100, 103,
})
XVIEW_TRAIN_CAMERAS = frozenset({2, 3})

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass(frozen=True)
class NtuId:
    """The fields of a sample name SsssCcccPpppRrrrAaaa."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        return self.action - 1


def parse_name(name: str) -> NtuId:
    """`S001C002P003R002A013` (with or without `.skeleton`) -> NtuId."""
    match = _NAME.fullmatch(name.removesuffix(".skeleton"))
    if match is None:
        raise StgcnError(f"{name}: not an NTU sample name (expected SsssCcccPpppRrrrAaaa.skeleton); "
                         "rename the file or move it out of the folder")
    return NtuId(*(int(g) for g in match.groups()))


def is_train(ident: NtuId, benchmark: str) -> bool:
    if benchmark == "xsub":
        return ident.performer in XSUB_TRAIN_SUBJECTS
    if benchmark == "xview":
        return ident.camera in XVIEW_TRAIN_CAMERAS
    if benchmark == "xset":
        return ident.setup % 2 == 0
    raise StgcnError(f"benchmark '{benchmark}' is unknown; choose from {', '.join(BENCHMARKS)}")


def parse_skeleton(text: str, source: str = "<text>", max_bodies: int = 4) -> np.ndarray:
    """Parse the text of one .skeleton file into float64 [max_bodies, T, 25, 3] (x, y, z in metres).

    Bodies fill slots by their position in each frame's list; absent bodies and frames are zeros.
    Raises StgcnError naming the line on any structural problem (e.g. a truncated file).
    """
    lines = text.split("\n")

    def fail(index: int, what: str) -> StgcnError:
        return StgcnError(f"{source}: line {index + 1}: {what}; the file is damaged, "
                          "replace it or list it in --missing")

    def read_int(index: int, what: str) -> int:
        if index >= len(lines) or not any(line.strip() for line in lines[index:]):
            raise fail(index, f"file ends where {what} was expected (truncated file)")
        try:
            value = int(lines[index])
        except ValueError:
            raise fail(index, f"expected {what} (an integer), found {lines[index].strip()[:40]!r}") from None
        if value < 0:
            raise fail(index, f"{what} is negative ({value})")
        return value

    num_frames = read_int(0, "the frame count")
    slots = []  # (body slot, frame, index of the first joint line, joints kept)
    i = 1
    for t in range(num_frames):
        num_bodies = read_int(i, f"the body count of frame {t + 1} of {num_frames}")
        i += 1
        for b in range(num_bodies):
            where = f"frame {t + 1} of {num_frames}, body {b + 1}"
            if i >= len(lines):
                raise fail(i, f"file ends inside {where} (truncated file)")
            if len(lines[i].split()) != 10:
                raise fail(i, f"expected 10 body values in {where}, found {len(lines[i].split())}")
            num_joints = read_int(i + 1, f"the joint count of {where}")
            first, i = i + 2, i + 2 + num_joints
            if i > len(lines) or (i == len(lines) and num_joints and not lines[-1].strip()):
                raise fail(len(lines) - 1, f"file ends inside {where} (truncated file)")
            if b < max_bodies:
                slots.append((b, t, first, min(num_joints, NUM_JOINTS)))
    if any(line.strip() for line in lines[i:]):
        raise fail(i, f"unexpected text after the last of {num_frames} frames")

    joint_lines = [line for _, _, first, k in slots for line in lines[first:first + k]]
    tokens = " ".join(joint_lines).split()
    if len(tokens) != 12 * len(joint_lines):
        for _, _, first, k in slots:
            for j in range(first, first + k):
                if len(lines[j].split()) != 12:
                    cut = " (truncated file)" if not any(x.strip() for x in lines[j + 1:]) else ""
                    raise fail(j, f"expected 12 joint values, found {len(lines[j].split())}{cut}")
    try:
        xyz = np.stack([np.array(tokens[c::12], dtype=np.float64) for c in range(3)], axis=1)
    except ValueError as exc:
        raise StgcnError(f"{source}: a joint coordinate is not a number ({exc}); the file is damaged, "
                         "replace it or list it in --missing") from None
    if not np.isfinite(xyz).all():
        raise StgcnError(f"{source}: a joint coordinate is NaN or infinite; the file is damaged, "
                         "replace it or list it in --missing")
    out = np.zeros((max_bodies, num_frames, NUM_JOINTS, 3))
    row = 0
    for b, t, _, k in slots:
        out[b, t, :k] = xyz[row:row + k]
        row += k
    return out


def select_bodies(bodies: np.ndarray, keep: int = 2) -> np.ndarray:
    """Keep the `keep` bodies of [B, T, V, 3] with the highest energy (sum of per-axis std over
    the body's non-empty frames), highest first."""
    energy = np.zeros(len(bodies))
    for m, body in enumerate(bodies):
        valid = body[np.any(body != 0, axis=(1, 2))]
        if len(valid):
            energy[m] = valid.reshape(-1, 3).std(axis=0).sum()
    order = np.argsort(-energy, kind="stable")[:keep]
    picked = bodies[order]
    if len(picked) < keep:
        picked = np.concatenate([picked, np.zeros((keep - len(picked),) + bodies.shape[1:])])
    return picked


def _pad_null_frames(person: np.ndarray) -> np.ndarray:
    """0.x padding for one body [T, V, C]: compact non-empty frames to the front when frame 0 is
    empty, then fill the empty tail by repeating the frames before it."""
    valid = np.any(person != 0, axis=(1, 2))
    if not valid.any():
        return person
    if not valid[0]:
        kept = person[valid]
        person = np.zeros_like(person)
        person[:len(kept)] = kept
        valid = np.arange(len(person)) < len(kept)
    end = int(np.nonzero(valid)[0][-1]) + 1
    if end < len(person):
        person[end:] = np.resize(person[:end], person[end:].shape)
    return person


def pre_normalize(keypoint: np.ndarray, zaxis: tuple[int, int] = (0, 1),
                  xaxis: tuple[int, int] = (8, 4)) -> np.ndarray:
    """0.x `pre_normalization` on one sample [M, T, V, 3] (float64 copy returned).

    After it: joint 1 of body 0 is at the origin in every frame where body 0 exists; the vector
    joint zaxis[0] -> zaxis[1] of body 0, frame 0 pointed along +z before the second rotation; the
    vector joint xaxis[1] -> xaxis[0] (left -> right shoulder) of body 0, frame 0 points along +x.
    """
    kp = np.array(keypoint, dtype=np.float64)
    if not kp.any():
        return kp
    for m in range(len(kp)):
        kp[m] = _pad_null_frames(kp[m])
    center = kp[0, :, 1:2, :].copy()
    for m in range(len(kp)):
        if kp[m].any():
            kp[m] = (kp[m] - center) * np.any(kp[m] != 0, axis=-1, keepdims=True)
    kp = align(kp, (zaxis[0], zaxis[1]), np.array([0.0, 0.0, 1.0]))
    return align(kp, (xaxis[1], xaxis[0]), np.array([1.0, 0.0, 0.0]))


def align(keypoint: np.ndarray, joints: tuple[int, int], target: np.ndarray) -> np.ndarray:
    """Rotate every point of [M, T, V, 3] so the vector joints[0] -> joints[1] of body 0, frame 0
    points along `target` (all-zero joints stay zero)."""
    vector = keypoint[0, 0, joints[1]] - keypoint[0, 0, joints[0]]
    return keypoint @ rotation_onto(vector, target).T


def read_bodies(path: str | Path, max_bodies: int = 4) -> np.ndarray:
    """Read and parse one .skeleton file: float64 [max_bodies, T, 25, 3]."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise StgcnError(f"{path.name}: cannot read the file as text ({exc}); replace it or list it "
                         "in --missing") from None
    return parse_skeleton(text, path.name, max_bodies)


def bodies_to_keypoint(bodies: np.ndarray, prenorm: bool = False, max_frames: int = 300,
                       drop_empty_bodies: bool = False, source: str = "<bodies>") -> np.ndarray:
    """[B, T, 25, 3] bodies -> float32 keypoint [M, T', 25, 3]: cut to `max_frames` (0 = no limit),
    keep the 2 most energetic bodies (M = 2, or only the real ones), optionally pre-normalise."""
    if bodies.shape[1] == 0:
        raise StgcnError(f"{source}: the file has 0 frames; list it in --missing")
    if max_frames and bodies.shape[1] > max_frames:
        bodies = bodies[:, :max_frames]
    if not bodies.any():
        raise StgcnError(f"{source}: no body in any frame (a 'missing skeleton' sample); "
                         "list it in --missing")
    keypoint = select_bodies(bodies, keep=2)
    if prenorm:
        keypoint = pre_normalize(keypoint)
    if drop_empty_bodies:
        keypoint = keypoint[[m for m in range(len(keypoint)) if keypoint[m].any()]]
    return keypoint.astype(np.float32)


def convert_file(path: str | Path, prenorm: bool = False, max_frames: int = 300,
                 drop_empty_bodies: bool = False) -> np.ndarray:
    """One .skeleton file -> float32 keypoint [M, T, 25, 3] (M = 2, or the real bodies only)."""
    path = Path(path)
    return bodies_to_keypoint(read_bodies(path), prenorm, max_frames, drop_empty_bodies, path.name)


def _convert_one(path: Path, prenorm: bool, max_frames: int, drop_empty: bool):
    """Worker: (name, keypoint or None, the reason it was skipped, whether it was cut)."""
    name = path.name.removesuffix(".skeleton")
    try:
        bodies = read_bodies(path)
        keypoint = bodies_to_keypoint(bodies, prenorm, max_frames, drop_empty, path.name)
        return name, keypoint, "", bool(max_frames) and bodies.shape[1] > max_frames
    except StgcnError as exc:
        return name, None, str(exc).split(": ", 1)[-1], False


def read_missing_list(path: str | Path) -> set[str]:
    """Sample ids to skip, one per line (`.skeleton` suffix optional, '#' comments allowed)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise StgcnError(f"{path}: cannot read the missing-samples list ({exc.strerror}); "
                         "check the --missing path") from None
    names = (line.split("#", 1)[0].strip() for line in lines)
    return {name.removesuffix(".skeleton") for name in names if name}


def default_benchmarks(names: list[str]) -> tuple[str, ...]:
    """xsub + xview for NTU60 data, xsub + xset as soon as an NTU120-only setup or action appears."""
    ntu120 = any(parse_name(n).setup > 17 or parse_name(n).action > 60 for n in names)
    return ("xsub", "xset") if ntu120 else ("xsub", "xview")


def convert_ntu(raw_dir: str | Path, missing: str | Path | None = None,
                benchmarks: tuple[str, ...] | None = None, prenorm: bool = False,
                max_frames: int = 300, drop_empty_bodies: bool = False,
                workers: int | None = None, progress: bool | None = None) -> tuple[dict, Summary]:
    """Convert every *.skeleton file under `raw_dir` (recursively) into the split-dict layout."""
    start = time.perf_counter()
    raw_dir = Path(raw_dir)
    if max_frames < 0 or (workers is not None and workers < 1):
        raise StgcnError(f"--max-frames {max_frames} / --workers {workers}: use max-frames >= 0 "
                         "(0 = no limit) and workers >= 1")
    if not raw_dir.is_dir():
        raise StgcnError(f"{raw_dir}: not a folder; pass the folder holding the .skeleton files")
    summary = Summary(source=str(raw_dir))
    ignored = read_missing_list(missing) if missing else set()
    paths, seen, listed = [], set(), []
    for path in sorted(raw_dir.rglob("*.skeleton"), key=lambda p: (p.name, str(p))):
        name = path.name.removesuffix(".skeleton")
        if _NAME.fullmatch(name) is None:
            summary.skipped.append((path.name, "not an NTU sample name (SsssCcccPpppRrrrAaaa)"))
        elif name in seen:
            summary.skipped.append((str(path.relative_to(raw_dir)), "duplicate sample name"))
        elif name in ignored:
            listed.append(name)
            seen.add(name)
        else:
            paths.append(path)
            seen.add(name)
    if listed:
        summary.notes.append(f"{len(listed)} files not read: named in --missing")
    if not paths:
        raise StgcnError(f"{raw_dir}: no usable .skeleton files found; pass the folder that holds them")
    names = [p.name.removesuffix(".skeleton") for p in paths]
    benchmarks = tuple(benchmarks) if benchmarks else default_benchmarks(names)
    for bench in benchmarks:
        is_train(parse_name(names[0]), bench)  # rejects unknown names before the long work

    work = partial(_convert_one, prenorm=prenorm, max_frames=max_frames, drop_empty=drop_empty_bodies)
    annotations, cut = [], []
    with _ordered_map(work, paths, workers or os.cpu_count() or 1) as results:
        for name, keypoint, reason, was_cut in Progress(results, total=len(paths), desc="ntu",
                                                        enabled=progress):
            summary.files_read += 1
            if keypoint is None:
                summary.skipped.append((name, reason))
                continue
            annotations.append(dict(frame_dir=name, label=parse_name(name).label,
                                    total_frames=int(keypoint.shape[1]), keypoint=keypoint,
                                    img_shape=IMG_SHAPE, original_shape=IMG_SHAPE))
            if was_cut:
                cut.append(name)
    if cut:
        summary.notes.append(f"{len(cut)} files longer than --max-frames {max_frames} were cut "
                             f"(first: {', '.join(cut[:3])})")
    splits = {}
    for bench in benchmarks:
        train = [a["frame_dir"] for a in annotations if is_train(parse_name(a["frame_dir"]), bench)]
        train_set = set(train)
        splits[f"{bench}_train"] = train
        splits[f"{bench}_val"] = [a["frame_dir"] for a in annotations if a["frame_dir"] not in train_set]
    summary.samples = len(annotations)
    summary.splits = {name: len(ids) for name, ids in splits.items()}
    summary.seconds = time.perf_counter() - start
    return annotation_file(annotations, splits), summary


@contextmanager
def _ordered_map(fn, items: list, workers: int):
    """`with _ordered_map(fn, items, workers) as results:` results in order; in-process for 1 worker."""
    workers = min(workers, len(items))
    if workers <= 1:
        yield map(fn, items)
        return
    with multiprocessing.get_context().Pool(workers) as pool:  # terminated on exit
        yield pool.imap(fn, items, chunksize=max(1, min(32, len(items) // (8 * workers))))


def legacy_lists(anno: dict) -> dict[str, list[dict]]:
    """The 0.x layout of `anno`'s benchmarks: {'xsub/train.pkl': [annotation, ...], 'xsub/val.pkl': ...}."""
    by_name = {a["frame_dir"]: a for a in anno["annotations"]}
    benchmarks = [b for b in BENCHMARKS if f"{b}_train" in anno["split"]]
    out = {}
    for bench in benchmarks:
        folder = LEGACY_DIR_NAMES[bench]
        out[f"{folder}/train.pkl"] = [by_name[n] for n in anno["split"][f"{bench}_train"]]
        out[f"{folder}/val.pkl"] = [by_name[n] for n in anno["split"][f"{bench}_val"]]
    return out


def write_legacy(anno: dict, legacy_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write `legacy_lists` under `legacy_dir` (checks every target before writing any)."""
    lists = legacy_lists(anno)
    targets = {Path(legacy_dir) / rel: items for rel, items in lists.items()}
    for target in targets:
        if target.exists() and not overwrite:
            raise StgcnError(f"{target}: the output file already exists; pass --overwrite to replace it")
    return [write_pickle(items, target, overwrite) for target, items in targets.items()]
