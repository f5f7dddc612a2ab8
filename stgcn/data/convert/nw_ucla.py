"""NW-UCLA Multiview Action 3D, the "all_sqe" JSON release -> a 3D annotation pickle.

One file `aXX_sYY_eZZ_vWW.json` per clip holds {"file_name", "label" (1..10), "skeletons" [T][20][3]}
(Kinect v1 camera coordinates in metres, one person). Output: keypoint float32 [1, T, 20, 3], label =
json label - 1, no keypoint_score (3D), img_shape = original_shape = (480, 640) (Kinect v1 colour
frames; not used by 3D pipelines).

Splits:
* `xview_train` = views 1 and 2, `xview_val` = view 3: the standard protocol (Wang et al. 2014),
  1020 / 464 clips;
* `xsub_train` = subjects 1-5, `xsub_val` = subjects 6-10, all views. The dataset defines no
  cross-subject protocol; this one is documented here so results can be compared.

The 20-joint Kinect v1 skeleton (graph edges and bone pairs) is the `nw-ucla` entry of
`stgcn.graph.LAYOUTS`.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from stgcn.data.convert import Summary, annotation_file, input_files
from stgcn.errors import StgcnError
from stgcn.graph import LAYOUTS
from stgcn.progress import Progress

NUM_JOINTS = LAYOUTS["nw-ucla"].num_node
IMG_SHAPE = (480, 640)
CLASS_NAMES = ("pick up with one hand", "pick up with two hands", "drop trash", "walk around",
               "sit down", "stand up", "donning", "doffing", "throw", "carry")


ACTION_IDS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)  # the aXX of labels 1..10 (ids 7 and 10 do not exist)
_NAME = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})")


def read_clip(path: str | Path) -> tuple[str, int, np.ndarray, int, int]:
    """One JSON file -> (name, 0-based label, keypoint float32 [1, T, 20, 3], subject, view)."""
    path = Path(path)
    name = path.stem
    match = _NAME.fullmatch(name)
    if match is None:
        raise StgcnError(f"{path.name}: not an NW-UCLA clip name (aXX_sYY_eZZ_vWW.json); "
                         "rename the file or move it out of the folder")
    action, subject, view = int(match.group(1)), int(match.group(2)), int(match.group(4))
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StgcnError(f"{path.name}: cannot read the JSON ({exc}); replace the file") from None
    if not isinstance(record, dict) or not {"label", "skeletons"} <= record.keys():
        raise StgcnError(f"{path.name}: the JSON lacks 'label' or 'skeletons'; replace the file")
    label = record["label"]
    if not isinstance(label, int) or not 1 <= label <= len(CLASS_NAMES):
        raise StgcnError(f"{path.name}: field 'label' is {label!r}, expected an integer 1..10; "
                         "replace the file")
    if ACTION_IDS[label - 1] != action:
        raise StgcnError(f"{path.name}: field 'label' is {label} but the name says action a{action:02d} "
                         f"(label {ACTION_IDS.index(action) + 1 if action in ACTION_IDS else '?'}); "
                         "fix the file")
    try:
        joints = np.asarray(record["skeletons"], dtype=np.float32)
    except (TypeError, ValueError):
        raise StgcnError(f"{path.name}: field 'skeletons' is not a [T][20][3] number grid; "
                         "replace the file") from None
    if joints.ndim != 3 or joints.shape[0] == 0 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise StgcnError(f"{path.name}: field 'skeletons' has shape {joints.shape}, expected "
                         f"(T>0, {NUM_JOINTS}, 3); replace the file")
    if not np.isfinite(joints).all():
        raise StgcnError(f"{path.name}: field 'skeletons' holds NaN or infinite values; replace the file")
    return name, label - 1, joints[None], subject, view


def convert_nw_ucla(sqe_dir: str | Path, progress: bool | None = None) -> tuple[dict, Summary]:
    """Convert every aXX_sYY_eZZ_vWW.json in `sqe_dir` into the split-dict layout."""
    start = time.perf_counter()
    paths = input_files(sqe_dir, "*.json", "the all_sqe folder of the JSON release")
    summary = Summary(source=str(sqe_dir))
    annotations, splits = [], {"xview_train": [], "xview_val": [], "xsub_train": [], "xsub_val": []}
    for path in Progress(paths, desc="nw-ucla", enabled=progress):
        summary.files_read += 1
        try:
            name, label, keypoint, subject, view = read_clip(path)
        except StgcnError as exc:
            summary.skipped.append((path.name, str(exc).split(": ", 1)[-1]))
            continue
        annotations.append(dict(frame_dir=name, label=label, total_frames=int(keypoint.shape[1]),
                                keypoint=keypoint, img_shape=IMG_SHAPE, original_shape=IMG_SHAPE))
        splits["xview_train" if view in (1, 2) else "xview_val"].append(name)
        splits["xsub_train" if subject <= 5 else "xsub_val"].append(name)
    summary.samples = len(annotations)
    summary.splits = {name: len(ids) for name, ids in splits.items()}
    summary.seconds = time.perf_counter() - start
    return annotation_file(annotations, splits), summary
