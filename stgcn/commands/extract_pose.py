"""`stgcn extract-pose VIDEO_OR_DIR OUT.pkl`: videos -> 2D poses -> an annotation file to train on.

Each video's poses (MediaPipe BlazePose, or a pose file of another estimator with `--backend file`)
are tracked, mapped onto `--layout` (default coco) and written as one sample of an annotation file
(README "Your own data"): a plain list, or a split dict when the labels CSV has a split column.
Labels come from a CSV (`video,label[,split]` rows; the label a class name or a 0-based index; the
split e.g. train / val, rows without one go to split 'unassigned') or from each video's parent folder
name; class names get indices in sorted order, or in the order of `--classes` (a label map with one
name per line, or a built-in list such as penn_action), and are written beside OUT as OUT.classes.txt.
Per-video poses are cached in OUT.poses/ (.npz pose files), so a rerun skips the videos already done;
OUT itself is written atomically at the end.
A video that fails is reported by name and skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from stgcn.data.safe_pickle import dump_pickle
from stgcn.data.validate import validate_annotations
from stgcn.errors import StgcnError
from stgcn.fileio import write_atomic
from stgcn.layouts_map import joint_names_arg
from stgcn.progress import Progress
from stgcn.video.backends import BACKENDS
from stgcn.video.posefile import POSE_SUFFIXES, load_pose_file, save_npz

_ERRORS = (StgcnError, OSError, RuntimeError, ValueError)


def holdout_split(samples: list[dict], fraction: float) -> dict[str, list[str]]:
    """{'train': [...], 'val': [...]}: per class, `fraction` of its samples (at least one when it has two
    or more), evenly spaced in frame_dir order, go to 'val'."""
    by_label: dict[int, list[str]] = {}
    for sample in samples:
        by_label.setdefault(sample["label"], []).append(sample["frame_dir"])
    val: set[str] = set()
    for names in by_label.values():
        names.sort()
        count = max(1, round(fraction * len(names))) if len(names) > 1 else 0
        picks = np.linspace(0, len(names) - 1, count + 2)[1:-1] if count else []
        val.update(names[int(round(i))] for i in picks)
    order = [sample["frame_dir"] for sample in samples]
    return {"train": [n for n in order if n not in val], "val": [n for n in order if n in val]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", metavar="VIDEO_OR_DIR",
                        help="a video, or a folder searched recursively (pose files with --backend file)")
    parser.add_argument("out", metavar="OUT.pkl", help="annotation file to write")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--labels", metavar="CSV",
                       help="rows `video,label[,split]` (video: file name or path relative to VIDEO_OR_DIR; "
                            "label: class name or 0-based index; split: e.g. train, val)")
    group.add_argument("--label-from-parent-dir", action="store_true",
                       help="the class of each video is the name of its folder")
    parser.add_argument("--val-fraction", type=float, metavar="F",
                        help="without a split column: hold out this fraction of each class's videos (evenly "
                             "spaced in name order, so reruns agree) as split 'val', the rest 'train' "
                             "(what init-config and --validate need; e.g. 0.2)")
    parser.add_argument("--classes", metavar="FILE|NAME",
                        help="class names: a label map .txt (one per line, index = line) or a built-in list "
                             "(e.g. penn_action) (default: the names found, sorted)")
    parser.add_argument("--backend", choices=BACKENDS, default="mediapipe",
                        help="mediapipe: run MediaPipe Pose on videos; file: read .npz/.json pose files "
                             "(format in stgcn/video/posefile.py) (default mediapipe)")
    parser.add_argument("--layout", default="coco", help="joint layout to write (default coco)")
    parser.add_argument("--drop-joints", metavar="NAMES",
                        help="comma-separated joints of --layout to write as absent (0, score 0), e.g. "
                             "left_eye,right_eye,left_ear,right_ear to match Penn Action's COCO files")
    parser.add_argument("--max-persons", type=int, default=2, help="most confident persons kept (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="videos processed in parallel (default 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing OUT (without it, only a rerun on the same VIDEO_OR_DIR, "
                             "which resumes from the OUT.poses/ cache, may replace it)")


def _find_inputs(root: Path, backend: str) -> list[Path]:
    from stgcn.video.io import VIDEO_SUFFIXES

    suffixes = POSE_SUFFIXES if backend == "file" else VIDEO_SUFFIXES
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise StgcnError(f"{root}: no such video or folder")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not found:
        raise StgcnError(f"{root}: no {'/'.join(suffixes)} files found (--backend {backend})")
    return found


def _read_classes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    from stgcn.data.classes import resolve_class_names

    return resolve_class_names(value, None, f"--classes {value}")


def _base(root: Path) -> Path:
    """The folder video names are taken relative to: the input folder, or a single video's folder."""
    return root if root.is_dir() else root.parent


def _labels_from_csv(path: str, root: Path,
                     inputs: list[Path]) -> tuple[dict[Path, str], dict[Path, str]]:
    """``{video: label}`` and ``{video: split}`` (rows with a split field) of a labels CSV."""
    try:
        rows = [r for r in csv.reader(Path(path).read_text().splitlines()) if r and r[0].strip()]
    except OSError as err:
        raise StgcnError(f"{path}: cannot read --labels ({err.strerror})") from None
    if any(len(r) < 2 for r in rows):
        raise StgcnError(f"{path}: every --labels row needs two fields `video,label`")
    table = {r[0].strip(): r[1].strip() for r in rows}
    split_of = {r[0].strip(): r[2].strip() for r in rows if len(r) > 2 and r[2].strip()}
    base = _base(root)
    labels, splits, used = {}, {}, set()
    for p in inputs:
        rel = p.relative_to(base)
        for key in (rel.as_posix(), p.name, p.stem, rel.with_suffix("").as_posix()):
            if key in table:
                labels[p] = table[key]
                used.add(key)
                if key in split_of:
                    splits[p] = split_of[key]
                break
    unmatched = [key for key in table if key not in used]
    if unmatched:
        print(f"warning: {path}: {len(unmatched)} row(s) name no video found in {root}: "
              f"{', '.join(unmatched[:5])}{' ...' if len(unmatched) > 5 else ''}")
    return labels, splits


def _label_indices(names: dict[Path, str],
                   classes: list[str] | None) -> tuple[dict[Path, int], list[str] | None]:
    if all(v.lstrip("-").isdigit() for v in names.values()) and classes is None:
        return {p: int(v) for p, v in names.items()}, None
    classes = classes or sorted(set(names.values()))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(names.values()) - set(index))
    if unknown:
        raise StgcnError(f"labels {unknown[:3]} are not in --classes; add them or fix the labels")
    return {p: index[v] for p, v in names.items()}, classes


_BACKEND = None


def _init_worker(backend: str) -> None:
    global _BACKEND
    if backend == "mediapipe":
        from stgcn.video.backends import MediapipePose

        _BACKEND = MediapipePose()


def _extract_one(video: Path, cache: Path, on_frame=None) -> tuple[str, int, str | None]:
    """Extract one video into its cache file; returns (name, frames, error or None)."""
    from stgcn.video.extract import extract_video

    try:
        track = extract_video(video, _BACKEND, on_frame)
    except _ERRORS as err:
        return str(video), 0, str(err).splitlines()[0] if str(err) else type(err).__name__
    save_npz(track, cache)
    return str(video), track.num_frames, None


def _cache_path(cache_dir: Path, base: Path, video: Path) -> Path:
    rel = video.relative_to(base).as_posix().replace("/", "__")
    return cache_dir / f"{rel}.npz"


MANIFEST = "sources.json"


def _manifest(cache_dir: Path) -> dict:
    """What the cache holds: ``{"root": input, "videos": {cache name: source fingerprint}}`` ({} if none)."""
    try:
        data = json.loads((cache_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("videos"), dict) else {}


def _fingerprint(video: Path) -> dict:
    """The source a cache file was made from: its path, size and modification time."""
    st = video.stat()
    return {"source": str(video.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _check_out(out: Path, cache_dir: Path, root: Path, overwrite: bool) -> None:
    """OUT may be replaced with --overwrite, or without it by a rerun on the same input (a resume)."""
    if out.is_dir():
        raise StgcnError(f"{out}: is a folder; give the annotation file to write, e.g. {out / 'poses.pkl'}")
    if not out.exists() or overwrite:
        return
    before = _manifest(cache_dir).get("root")
    if before == str(root.resolve()):
        return
    origin = (f"written by extract-pose from {before}" if before else
              "not written by extract-pose from this input")
    raise StgcnError(f"{out}: exists ({origin}); pass --overwrite to replace it or choose another name")


def _run_backend(todo: list[tuple[Path, Path]], workers: int, backend: str) -> list[tuple[str, str]]:
    """Extract the ``(video, cache)`` pairs; prints frames/s; returns the failures ``(video, reason)``."""
    from stgcn.video.io import FrameSource

    total = 0
    for video, _ in todo:
        try:
            total += FrameSource(video).frame_count
        except StgcnError:
            pass
    bar = Progress(total=total or None, desc="extract-pose frames")
    failed = []
    if workers <= 1:
        _init_worker(backend)
        for video, cache in todo:
            name, _, err = _extract_one(video, cache, lambda: bar.update(1))
            if err:
                failed.append((name, err))
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(backend,)) as pool:
            futures = [pool.submit(_extract_one, video, cache) for video, cache in todo]
            for fut in as_completed(futures):
                name, frames, err = fut.result()
                bar.update(frames)
                if err:
                    failed.append((name, err))
    bar.close()
    seconds = time.perf_counter() - bar.start
    print(f"pose estimation: {bar.count} frames of {len(todo)} videos in {seconds:.1f} s "
          f"({bar.count / max(seconds, 1e-9):.1f} frames/s, {workers} worker(s))")
    return failed


def _gather_labels(args: argparse.Namespace, root: Path, inputs: list[Path]):
    """(labels {video: index}, class names or None, splits {video: name}, skipped) of the inputs."""
    splits: dict[Path, str] = {}
    if args.labels:
        label_names, splits = _labels_from_csv(args.labels, root, inputs)
    elif args.label_from_parent_dir:
        label_names = {p: p.parent.name for p in inputs}
    else:
        label_names = {p: "0" for p in inputs}
    labels, classes = _label_indices(label_names, _read_classes(args.classes))
    found = sorted(set(label_names.values()))
    if (args.labels or args.label_from_parent_dir) and len(found) == 1 and len(labels) > 1:
        print(f"warning: all {len(labels)} videos have the class {found[0]!r}: training needs at least two "
              "classes; with --label-from-parent-dir put each class's videos in a folder of its own "
              "(VIDEO_DIR/CLASS/*.mp4)")
    if classes is not None and args.classes:
        absent = [c for c in classes if c not in found]
        if absent:
            print(f"warning: {len(absent)} of the {len(classes)} classes of --classes have no video "
                  f"({', '.join(absent[:5])}{' ...' if len(absent) > 5 else ''}): labels keep that list's "
                  "numbers, as testing a model trained on it needs; to train a new model on these videos "
                  "run without --classes (init-config needs videos of every class)")
    skipped = [(str(p), f"no row in {args.labels}") for p in inputs if p not in labels]
    return labels, classes, splits, skipped


def _extract_to_cache(args: argparse.Namespace, root: Path, cache_dir: Path,
                      videos: list[Path]) -> tuple[dict[Path, Path], list[tuple[str, str]]]:
    """({video: pose file}, failures): runs the backend on the videos not cached yet."""
    if args.backend == "file":
        return {p: p for p in videos}, []
    base = _base(root)
    cache_dir.mkdir(parents=True, exist_ok=True)
    caches = {p: _cache_path(cache_dir, base, p) for p in videos}
    known = _manifest(cache_dir).get("videos", {})
    # a cache file is reused only for the very video it was made from (same path, size and time)
    todo = [(p, c) for p, c in caches.items() if not (c.exists() and known.get(c.name) == _fingerprint(p))]
    if len(todo) < len(caches):
        print(f"reusing {len(caches) - len(todo)} cached videos from {cache_dir}")
    failed = _run_backend(todo, args.workers, args.backend) if todo else []
    failed_names = {name for name, _ in failed}
    known.update({c.name: _fingerprint(p) for p, c in todo if str(p) not in failed_names})
    write_atomic(cache_dir / MANIFEST, json.dumps({"root": str(root.resolve()), "videos": known},
                                                 indent=1).encode())
    return {p: c for p, c in caches.items() if str(p) not in failed_names}, failed


def _build_samples(args: argparse.Namespace, base: Path, caches: dict[Path, Path], labels: dict[Path, int],
                   classes: list[str] | None, splits: dict[Path, str], skipped: list[tuple[str, str]]):
    """(samples, summary lines, {split: frame_dirs}) of the cached poses; unusable videos go to skipped."""
    from stgcn.video.extract import to_sample

    samples, lines, split_dict = [], [], {}
    for p, cache in caches.items():
        frame_dir = p.relative_to(base).with_suffix("").as_posix()
        try:
            track = load_pose_file(cache)
            samples.append(to_sample(track, args.layout, frame_dir, labels[p], args.max_persons, str(p),
                                     joint_names_arg(args.drop_joints)))
            if splits:
                split_dict.setdefault(splits.get(p, "unassigned"), []).append(frame_dir)
        except StgcnError as err:
            skipped.append((str(p), str(err)))
            continue
        found = track.detected_frames()
        name = f" ({classes[labels[p]]})" if classes else ""
        lines.append(f"  {frame_dir}: {track.num_frames} frames, pose in {found} "
                     f"({100.0 * found / max(track.num_frames, 1):.1f}%), label {labels[p]}{name}")
    return samples, lines, split_dict


def _holdout(samples: list[dict], fraction: float, classes: list[str] | None) -> dict[str, list[str]]:
    """`holdout_split`, naming the classes whose single video leaves nothing held out."""
    split_dict = holdout_split(samples, fraction)
    val = set(split_dict["val"])
    held = {s["label"] for s in samples if s["frame_dir"] in val}
    alone = sorted({s["label"] for s in samples} - held)
    if alone:
        names = [f"{c} ({classes[c]})" if classes else str(c) for c in alone]
        print(f"warning: class {', '.join(names)} has a single video: none held out for 'val'; "
              "add videos (init-config wants 5 for training besides the held-out ones)")
    return split_dict


def run(args: argparse.Namespace) -> int:
    root, out = Path(args.inputs), Path(args.out)
    cache_dir = out.with_name(out.name + ".poses")
    _check_out(out, cache_dir, root, args.overwrite)
    if args.max_persons < 1 or args.workers < 1:
        raise StgcnError("--max-persons and --workers must be at least 1")
    if args.val_fraction is not None and not 0 < args.val_fraction < 1:
        raise StgcnError(f"--val-fraction must be between 0 and 1 (e.g. 0.2), got {args.val_fraction}")
    inputs = _find_inputs(root, args.backend)
    labels, classes, splits, skipped = _gather_labels(args, root, inputs)
    caches, failed = _extract_to_cache(args, root, cache_dir, list(labels))
    samples, lines, split_dict = _build_samples(args, _base(root), caches, labels, classes, splits, skipped)
    skipped += failed
    if not samples:
        raise StgcnError(f"{root}: no video gave a sample ({len(skipped)} skipped); see the reasons above")
    if args.val_fraction and not split_dict:
        split_dict = _holdout(samples, args.val_fraction, classes)
    annotations = {"split": split_dict, "annotations": samples} if split_dict else samples
    report = validate_annotations(annotations, source=str(out))
    if not report.ok:
        raise StgcnError(f"{out}: the extracted samples do not validate: {report.format().splitlines()[-1]}")
    dump_pickle(annotations, out)
    if classes is not None:
        write_atomic(out.with_name(out.stem + ".classes.txt"), ("\n".join(classes) + "\n").encode())
    print(f"wrote {len(samples)} samples ({args.layout}) to {out}; skipped {len(skipped)}")
    print("\n".join(lines))
    for name, reason in skipped:
        reason = reason[len(name) + 2:] if reason.startswith(f"{name}: ") else reason
        print(f"skipped {name}: {reason}")
    return 0
