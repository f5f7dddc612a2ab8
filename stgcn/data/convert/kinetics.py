"""The Kinetics-skeleton release of the original ST-GCN (OpenPose-18 per video, JSON) -> annotations.

The release holds one folder of JSON files per split (`kinetics_train/`, `kinetics_val/`), each

    {"data": [{"frame_index": i, "skeleton": [{"pose": [x0, y0, x1, y1, ...], "score": [s0, ...]},
                                              ...]}, ...], "label": name, "label_index": k}

with x, y normalised to [0, 1] by the frame size, and a label file per split
`{video_id: {"has_skeleton": bool, "label": name, "label_index": k}}`. As st-gcn's feeder does, the
skeletons of each frame are ranked by their summed score and the best `num_person` kept (so a slot
holds the most confident person of each frame), and samples without any skeleton are skipped
(`has_skeleton` false, or no pose in the file). Coordinates stay normalised: `img_shape` is (1, 1),
so `PreNormalize2D` maps them to [-1, 1]; joints with score 0 are (0, 0). Layout `openpose-18`.

The `.npy` + `.pkl` form of the release (`train_data.npy`, `train_label.pkl`) is read by
`stgcn convert numpy --score-channel --layout openpose-18`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from stgcn.data.convert import Summary, annotation_file, input_files
from stgcn.errors import StgcnError
from stgcn.progress import Progress

NUM_JOINTS = 18


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not readable JSON ({type(exc).__name__}: {exc})") from None


def read_video(path: Path, num_person: int) -> dict | None:
    """One video JSON -> a sample dict without its label (None when it holds no skeleton)."""
    info = _read_json(path)
    frames = info.get("data") if isinstance(info, dict) else None
    if not isinstance(frames, list):
        raise ValueError("no 'data' list of frames")
    poses = {}
    for frame in frames:
        t = frame.get("frame_index")
        if not isinstance(t, int) or t < 0:
            raise ValueError(f"frame_index {t!r} is not a non-negative int")
        people = []
        for person in frame.get("skeleton") or []:
            pose = np.asarray(person.get("pose", []), float)
            score = np.asarray(person.get("score", []), float)
            if pose.shape != (2 * NUM_JOINTS,) or score.shape != (NUM_JOINTS,):
                raise ValueError(f"frame {t}: a skeleton needs 36 pose and 18 score values")
            people.append(np.concatenate([pose.reshape(NUM_JOINTS, 2), score[:, None]], axis=1))
        if people:
            poses[t] = np.stack(people)
    if not poses:
        return None
    total = max(poses) + 1
    data = np.zeros((num_person, total, NUM_JOINTS, 3), np.float32)
    for t, people in poses.items():
        order = np.argsort(-people[:, :, 2].sum(axis=1), kind="stable")[:num_person]
        data[: len(order), t] = people[order]
    data[..., :2][data[..., 2] == 0] = 0
    return {"frame_dir": path.stem, "total_frames": total, "img_shape": (1, 1), "original_shape": (1, 1),
            "keypoint": np.ascontiguousarray(data[..., :2]),
            "keypoint_score": np.ascontiguousarray(data[..., 2])}


def load_label_file(path: str | Path) -> dict[str, dict]:
    """`{video_id: {"has_skeleton", "label", "label_index"}}` of one split."""
    path = Path(path)
    try:
        labels = _read_json(path)
    except ValueError as exc:
        raise StgcnError(f"{path}: {exc}; pass the split's label JSON (kinetics_val_label.json)") from None
    valid = isinstance(labels, dict) and all(
        isinstance(v, dict) and isinstance(v.get("label_index"), int) for v in labels.values())
    if not valid:
        raise StgcnError(f"{path}: expected {{video_id: {{'label_index': int, ...}}}}; pass the split's "
                         "label JSON")
    return labels


def convert_kinetics(folders: list[str | Path], label_files: list[str | Path], split_names: list[str],
                     num_person: int = 2, show_progress: bool | None = None) -> tuple[dict, Summary]:
    """One split per (folder of video JSONs, label JSON) pair."""
    if not len(folders) == len(label_files) == len(split_names):
        raise StgcnError(f"kinetics: {len(folders)} --data folders, {len(label_files)} --labels files and "
                         f"{len(split_names)} split names; give one of each per split")
    start, summary = time.perf_counter(), Summary("kinetics-skeleton")
    annotations, splits = [], {}
    for folder, label_file, split in zip(folders, label_files, split_names, strict=True):
        labels = load_label_file(label_file)
        paths = input_files(folder, "*.json", "a kinetics_{train,val} folder of video JSON files")
        ids = []
        bar = Progress(total=len(paths), desc=f"kinetics {split}", enabled=show_progress)
        for path in paths:
            bar.update(1)
            summary.files_read += 1
            entry = labels.get(path.stem)
            if entry is None:
                summary.skipped.append((path.name, f"not in {Path(label_file).name}"))
                continue
            if entry.get("has_skeleton") is False:
                summary.skipped.append((path.name, "has_skeleton is false"))
                continue
            try:
                sample = read_video(path, num_person)
            except ValueError as exc:
                summary.skipped.append((path.name, str(exc)))
                continue
            if sample is None:
                summary.skipped.append((path.name, "no skeleton in any frame"))
                continue
            sample["label"] = int(entry["label_index"])
            annotations.append(sample)
            ids.append(sample["frame_dir"])
        bar.close()
        splits[split] = ids
        summary.splits[split] = len(ids)
    summary.samples, summary.seconds = len(annotations), time.perf_counter() - start
    return annotation_file(annotations, splits), summary
