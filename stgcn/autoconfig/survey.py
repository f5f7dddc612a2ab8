"""What an annotation file holds, as far as a training recipe cares: joints and coordinates, clip
lengths, persons, classes per split. Also the checks that refuse data a config cannot train on.

Reads a .pkl (plain list or split dict) or a packed directory; every check raises a one-line
:class:`~stgcn.errors.StgcnError` before anything is written.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stgcn.errors import StgcnError, did_you_mean
from stgcn.progress import Progress

MIN_TRAIN_PER_CLASS = 5  # fewer training clips than this cannot both fit and be checked


@dataclass
class Survey:
    """Per-sample facts of one annotation file (arrays in file order)."""

    source: str
    frame_dirs: list[str]
    labels: np.ndarray  # (N,) int
    lengths: np.ndarray  # (N,) T
    persons: np.ndarray  # (N,) persons with at least one non-zero joint
    slots: np.ndarray  # (N,) M, person slots stored
    num_joints: int
    channels: int
    with_score: int  # samples with keypoint_score
    splits: dict[str, list] | None

    @property
    def num_samples(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1

    def indices(self, split: str) -> np.ndarray:
        """File positions of the samples of ``split``."""
        wanted = set(self.splits[split])
        return np.array([i for i, name in enumerate(self.frame_dirs) if name in wanted], dtype=int)


def open_annotations(path: str) -> tuple[Sequence, dict | None]:
    """(samples, split dict or None) of a .pkl or packed directory, read as PoseDataset reads it."""
    from stgcn.data.dataset import _open  # the one reading rule (a fresh .packed/ beside a .pkl wins)

    records, splits, _ = _open(path, path)
    return records, splits


def _mixed(kind: str, counts: Counter, source: str) -> StgcnError:
    shown = ", ".join(f"{value} in {n} samples" for value, n in counts.most_common())
    return StgcnError(f"{source}: samples differ in {kind} ({shown}); one config trains one skeleton: "
                      "convert or drop the odd samples (`stgcn validate` lists them)")


def survey_annotations(path: str | os.PathLike) -> Survey:
    """Read every sample's shape, label and real person count; mixed V or C is an error."""
    source = str(path)
    records, splits = open_annotations(source)
    if len(records) == 0:
        raise StgcnError(f"{source}: no samples; init-config needs a converted annotation file")
    names, labels, lengths, persons, slots = [], [], [], [], []
    joints, channels, with_score = Counter(), Counter(), 0
    for i in Progress(range(len(records)), desc="survey"):
        item = records[i]
        kp = item.get("keypoint") if isinstance(item, dict) else None
        if not isinstance(kp, np.ndarray) or kp.ndim != 4 or "label" not in item:
            raise StgcnError(f"{source}: sample {i} lacks a keypoint [M, T, V, C] array or a label; "
                             f"check the file with `stgcn validate {source}`")
        m, t, v, c = kp.shape
        names.append(str(item.get("frame_dir", i)))
        labels.append(int(item["label"]))
        lengths.append(t)
        slots.append(m)
        persons.append(int((np.abs(np.nan_to_num(np.asarray(kp))).reshape(m, -1).sum(1) > 0).sum()))
        joints[v] += 1
        channels[c] += 1
        with_score += "keypoint_score" in item
    if len(joints) > 1:
        raise _mixed("joint count V", joints, source)
    if len(channels) > 1:
        raise _mixed("coordinate count C", channels, source)
    label_array = np.array(labels)
    if label_array.min() < 0:
        raise StgcnError(f"{source}: negative labels; labels must be class indices 0..K-1")
    return Survey(source, names, label_array, np.array(lengths), np.array(persons), np.array(slots),
                  next(iter(joints)), next(iter(channels)), with_score, splits)


def pick_splits(survey: Survey, train: str | None, test: str | None) -> tuple[str, str]:
    """The (train, test) split names: as given, or the one train/test pair the file's names suggest."""
    if not survey.splits:
        raise StgcnError(f"{survey.source}: the file has no splits; init-config needs held-out samples: "
                         "rerun extract-pose with --val-fraction 0.2, or store it as "
                         "{'split': {'train': [...], 'test': [...]}, 'annotations': [...]}")
    names = sorted(survey.splits)
    if len(names) == 1:
        raise StgcnError(f"{survey.source}: the file has only the split {names[0]!r}; init-config needs "
                         "held-out samples in a second split: rerun extract-pose with --val-fraction 0.2, or "
                         "add e.g. 'test': [...] to its 'split' dict")
    for flag, name in (("--split-train", train), ("--split-test", test)):
        if name is not None and name not in survey.splits:
            raise StgcnError(f"{survey.source}: {flag} {name!r} does not exist"
                             f"{did_you_mean(name, names)}; splits: {', '.join(names)}")
    if train is None:
        found = [n for n in names if "train" in n.lower()]
        if len(found) != 1:
            raise StgcnError(f"{survey.source}: cannot tell the training split among {', '.join(names)}; "
                             "choose with --split-train NAME --split-test NAME")
        train = found[0]
    if test is None:
        prefix = train.lower().replace("train", "")
        found = [n for n in names
                 if n != train and n.lower().replace("val", "").replace("test", "") == prefix]
        if len(found) != 1:
            raise StgcnError(f"{survey.source}: cannot tell the test split for {train!r} among "
                             f"{', '.join(names)}; choose with --split-test NAME")
        test = found[0]
    if train == test:
        raise StgcnError(f"{survey.source}: --split-train and --split-test are both {train!r}; "
                         "the test split must hold other samples")
    return train, test


def check_classes(survey: Survey, train: str, test: str, names: list[str] | None = None) -> None:
    """At least two classes, each with MIN_TRAIN_PER_CLASS training samples; the test split must exist.
    `names` (the label map, when known) names the classes in the messages."""
    def shown(classes) -> str:
        return ", ".join(f"{c} ({names[c]})" if names else str(c) for c in classes[:5])

    if survey.num_classes < 2:
        only = f" ({names[0]})" if names else ""
        raise StgcnError(f"{survey.source}: every sample has label 0{only}: a classifier needs at least two "
                         "classes; with extract-pose --label-from-parent-dir put each class's videos in a "
                         "folder of its own (VIDEO_DIR/CLASS/*.mp4)")
    train_idx, test_idx = survey.indices(train), survey.indices(test)
    if len(test_idx) == 0:
        raise StgcnError(f"{survey.source}: split {test!r} names no sample of the file; fix the split lists")
    num_classes = max(survey.num_classes, len(names or ()))
    counts = np.bincount(survey.labels[train_idx], minlength=num_classes)
    missing = np.flatnonzero(counts == 0)
    if len(missing):
        fix = ("add videos of it, or run extract-pose without --classes (it then numbers only the classes "
               "it finds)" if names else "add samples or renumber the labels")
        raise StgcnError(f"{survey.source}: class {shown(missing)} has no sample in the training split "
                         f"{train!r} (labels run 0..{num_classes - 1}); {fix}")
    few = np.flatnonzero(counts < MIN_TRAIN_PER_CLASS)
    if len(few):
        detail = ", ".join(f"{shown([c])}: {counts[c]}" for c in few[:5])
        raise StgcnError(f"{survey.source}: too few training samples in split {train!r} for class {detail}; "
                         f"each class needs at least {MIN_TRAIN_PER_CLASS}: add samples or merge classes")


def find_class_names(ann_file: str, num_classes: int) -> tuple[list[str] | None, str]:
    """(names, why) from the label map `extract-pose` writes beside its output (ANN.classes.txt), or
    (None, why) when there is none or it names fewer than ``num_classes`` classes."""
    from stgcn.data.classes import read_label_map

    path = Path(ann_file)
    path = path.with_name(path.stem + ".classes.txt")
    if not path.is_file():
        return None, f"no {path.name} beside the annotation file: classes are unnamed (set class_names)"
    names = read_label_map(path)
    if len(names) < num_classes:  # more names than labels: classes without samples, which check_classes names
        return None, (f"{path.name} holds {len(names)} names for {num_classes} classes: not used "
                      "(set class_names)")
    return names, f"class names from {path.name} (written by extract-pose), label i = line i"
