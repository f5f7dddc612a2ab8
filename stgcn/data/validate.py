"""Checks an annotation file's content before training: `validate_annotations(...) -> Report`.

Accepts both layouts PoseDataset reads: the 0.x plain list of sample dicts and the 1.x / PYSKL
`{'split': {...}, 'annotations': [...]}` dict (SPEC 1.6, 2.2, 3.1). A problem is anything that would
make loading fail or silently train on wrong data: missing keys, non-array or wrongly shaped
keypoints, T = 0, `total_frames` different from the keypoint length, NaN/inf, a joint count or channel
count that differs between samples or from the layout, labels out of range, duplicate `frame_dir`,
split entries that name no sample.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from stgcn.errors import StgcnError

REQUIRED_KEYS = ("frame_dir", "label", "total_frames", "keypoint")
_EXAMPLES = 3


@dataclass
class Report:
    """What `validate_annotations` found: the summary numbers and the problems (empty when clean)."""

    source: str
    samples: int = 0
    class_counts: dict[int, int] = field(default_factory=dict)
    frames: tuple[int, int, float] | None = None  # min, max, mean of T
    persons: tuple[int, int] | None = None
    joints: list[int] = field(default_factory=list)
    channels: list[int] = field(default_factory=list)
    with_score: int = 0
    dtypes: list[str] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"{self.source}: {self.samples} samples, {len(self.class_counts)} classes"]
        if self.class_counts:
            counts = " ".join(f"{c}:{n}" for c, n in sorted(self.class_counts.items()))
            lines.append(f"  samples per class: {counts}")
        if self.frames:
            lines.append(f"  frames T: {self.frames[0]}..{self.frames[1]} (mean {self.frames[2]:.1f})")
        if self.persons:
            lines.append(f"  persons M: {self.persons[0]}..{self.persons[1]}")
        lines.append(f"  joints V: {_join(self.joints)}   channels C: {_join(self.channels)}   "
                     f"keypoint_score: {self.with_score} of {self.samples} samples")
        lines.append(f"  keypoint dtype: {_join(self.dtypes)}")
        if self.splits:
            lines.append("  splits: " + ", ".join(f"{k} {v}" for k, v in self.splits.items()))
        if self.problems:
            lines.append(f"problems ({len(self.problems)}):")
            lines.extend(f"  {p}" for p in self.problems)
        else:
            lines.append("problems: none")
        return "\n".join(lines)


def _join(values: list) -> str:
    return ", ".join(str(v) for v in values) if values else "-"


class _Problems:
    """Collects sample ids per kind of problem so 50k bad samples make one line, not 50k."""

    def __init__(self) -> None:
        self.by_kind: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, sample: str) -> None:
        self.by_kind[kind].append(sample)

    def lines(self) -> list[str]:
        out = []
        for kind, samples in self.by_kind.items():
            shown = ", ".join(samples[:_EXAMPLES]) + (", ..." if len(samples) > _EXAMPLES else "")
            out.append(f"{kind}: {len(samples)} sample{'s' * (len(samples) != 1)} ({shown})")
        return out


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _split_items(annotations: object, split: str | None, report: Report) -> list | None:
    """The sample list to check (restricted to `split`), or None after a top-level problem."""
    if isinstance(annotations, list):
        if split is not None:
            raise StgcnError(f"{report.source}: field 'split': this file is a plain list without "
                             "splits; drop --split")
        return annotations
    if not isinstance(annotations, dict) or not isinstance(annotations.get("annotations"), list):
        report.problems.append("top level: expected a list of sample dicts or a dict with an "
                               "'annotations' list")
        return None
    items = annotations["annotations"]
    splits = annotations.get("split", {})
    if not isinstance(splits, dict) or not all(isinstance(v, (list, tuple)) for v in splits.values()):
        report.problems.append("'split': expected a dict {name: [frame_dir, ...]}")
        splits = {}
    ids = {item.get("frame_dir", item.get("filename")) for item in items if isinstance(item, dict)}
    for name, members in splits.items():
        report.splits[name] = len(members)
        unknown = [m for m in members if m not in ids]
        if unknown:
            shown = ", ".join(map(str, unknown[:_EXAMPLES]))
            report.problems.append(f"split '{name}': {len(unknown)} entries name no sample ({shown})")
    if split is None:
        return items
    if split not in splits:
        raise StgcnError(f"{report.source}: field 'split' has no '{split}'; valid: "
                         f"{', '.join(splits) or '(none)'}")
    wanted = set(splits[split])
    return [item for item in items if isinstance(item, dict)
            and item.get("frame_dir", item.get("filename")) in wanted]


def validate_annotations(annotations: object, num_joints: int | None = None,
                         num_classes: int | None = None, split: str | None = None,
                         source: str = "<annotations>") -> Report:
    """Check a loaded annotation object (list or split dict) and summarise it.

    `num_joints`: the V the layout expects; `num_classes`: labels must lie in [0, num_classes);
    `split`: check only that split's samples. Raises StgcnError only for a bad `split` argument.
    """
    report = Report(source=source)
    items = _split_items(annotations, split, report)
    if items is None:
        return report
    problems = _Problems()
    names, labels, lengths, persons = Counter(), Counter(), [], []
    joints, channels, dtypes = Counter(), Counter(), Counter()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.add("not a dict", f"#{index}")
            continue
        name = str(item.get("frame_dir", item.get("filename", f"#{index}")))
        names[name] += 1
        for key in REQUIRED_KEYS:
            if key not in item and not (key == "frame_dir" and "filename" in item):
                problems.add(f"missing key '{key}'", name)
        label = item.get("label")
        if label is not None:
            if not _is_int(label) or label < 0:
                problems.add("label is not a non-negative integer", name)
            elif num_classes is not None and label >= num_classes:
                problems.add(f"label outside [0, {num_classes})", name)
            else:
                labels[int(label)] += 1
        kp = item.get("keypoint")
        if kp is None:
            continue
        if not isinstance(kp, np.ndarray) or kp.ndim != 4:
            problems.add("keypoint is not an [M, T, V, C] array", name)
            continue
        m, t, v, c = kp.shape
        lengths.append(t)
        persons.append(m)
        joints[v] += 1
        channels[c] += 1
        dtypes[str(kp.dtype)] += 1
        _check_arrays(item, kp, name, num_joints, problems)
        if "keypoint_score" in item:
            report.with_score += 1
    for name, count in names.items():
        if count > 1:
            problems.add("frame_dir occurs more than once", name)
    if len(joints) > 1:
        problems.add(f"samples differ in joint count V ({_join(sorted(joints))})", "all")
    if len(channels) > 1:
        problems.add(f"samples differ in channel count C ({_join(sorted(channels))})", "all")
    if 0 < report.with_score < len(lengths):
        problems.add("keypoint_score present in some samples only", "all")
    report.samples = len(items)
    report.class_counts = dict(sorted(labels.items()))
    report.frames = (min(lengths), max(lengths), float(np.mean(lengths))) if lengths else None
    report.persons = (min(persons), max(persons)) if persons else None
    report.joints, report.channels = sorted(joints), sorted(channels)
    report.dtypes = sorted(dtypes)
    report.problems.extend(problems.lines())
    return report


def _check_arrays(item: dict, kp: np.ndarray, name: str, num_joints: int | None,
                  problems: _Problems) -> None:
    m, t, v, c = kp.shape
    if t == 0 or m == 0:
        problems.add("keypoint has no frames (T = 0) or no persons (M = 0)", name)
    if c not in (2, 3):
        problems.add("keypoint has C not in (2, 3)", name)
    if num_joints is not None and v != num_joints:
        problems.add(f"keypoint has V != {num_joints} (the layout's joint count)", name)
    if not np.issubdtype(kp.dtype, np.floating):
        problems.add("keypoint is not a float array", name)
    elif not np.isfinite(kp).all():
        problems.add("keypoint holds NaN or inf", name)
    total = item.get("total_frames")
    if total is not None and (not _is_int(total) or total != t):
        problems.add("total_frames differs from the keypoint length T", name)
    score = item.get("keypoint_score")
    if score is not None:
        if not isinstance(score, np.ndarray) or score.shape != kp.shape[:3]:
            problems.add("keypoint_score shape is not [M, T, V] of keypoint", name)
        elif not np.isfinite(score).all():
            problems.add("keypoint_score holds NaN or inf", name)
