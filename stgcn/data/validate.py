"""Checks an annotation file's content before training: `validate_annotations(...) -> Report`.

Accepts both layouts PoseDataset reads: the 0.x plain list of sample dicts and the 1.x / PYSKL
`{'split': {...}, 'annotations': [...]}` dict (SPEC 1.6, 2.2, 3.1). A problem is anything that would
make loading fail or silently train on wrong data: missing keys, non-array or wrongly shaped
keypoints, every rule of `stgcn.data.samples` (the ones PoseDataset applies when it opens a file), NaN/inf
values, duplicate `frame_dir`, split entries that name no sample, samples no split can name, no samples.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from stgcn.data.samples import find_problems, sample_name
from stgcn.errors import StgcnError

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
    """Collects sample names per kind of problem so 50k bad samples make one line, not 50k."""

    def __init__(self) -> None:
        self.by_kind: dict[str, list[str]] = defaultdict(list)
        self.fixes: dict[str, str] = {}

    def add(self, kind: str, sample: str, fix: str = "") -> None:
        self.by_kind[kind].append(sample)
        self.fixes.setdefault(kind, fix)

    def lines(self) -> list[str]:
        out = []
        for kind, samples in self.by_kind.items():
            shown = ", ".join(samples[:_EXAMPLES]) + (", ..." if len(samples) > _EXAMPLES else "")
            fix = f"; {self.fixes[kind]}" if self.fixes[kind] else ""
            out.append(f"{kind}: {len(samples)} sample{'s' * (len(samples) != 1)} ({shown}){fix}")
        return out


def _split_items(annotations: object, split: str | None, report: Report,
                 problems: _Problems) -> list[tuple[int, object]] | None:
    """The (index, sample) pairs to check (restricted to `split`), or None after a top-level problem."""
    if isinstance(annotations, list):
        if split is not None:
            raise StgcnError(f"{report.source}: field 'split': this file is a plain list without "
                             "splits; drop --split")
        return list(enumerate(annotations))
    if not isinstance(annotations, dict) or not isinstance(annotations.get("annotations"), list):
        report.problems.append("top level: expected a list of sample dicts or a dict with an "
                               "'annotations' list")
        return None
    items = list(enumerate(annotations["annotations"]))
    splits = annotations.get("split", {})
    if not isinstance(splits, dict) or not all(isinstance(v, (list, tuple)) for v in splits.values()):
        report.problems.append("'split': expected a dict {name: [frame_dir, ...]}")
        splits = {}
    ids = {_sample_id(item) for _, item in items}
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
    for index, item in items:  # no split can name these: they would be dropped without a word
        if _sample_id(item) is None:
            problems.add("frame_dir is missing, so no split can name the sample", sample_name(item, index),
                         "add 'frame_dir' to every sample")
    wanted = set(splits[split])
    return [(index, item) for index, item in items if _sample_id(item) in wanted]


def _sample_id(item: object) -> object:
    return item.get("frame_dir", item.get("filename")) if isinstance(item, dict) else None


def validate_annotations(annotations: object, num_joints: int | None = None,
                         num_classes: int | None = None, split: str | None = None,
                         source: str = "<annotations>") -> Report:
    """Check a loaded annotation object (list or split dict) and summarise it.

    `num_joints`: the V the layout expects; `num_classes`: labels must lie in [0, num_classes);
    `split`: check only that split's samples. Raises StgcnError only for a bad `split` argument.
    """
    report = Report(source=source)
    problems = _Problems()
    items = _split_items(annotations, split, report, problems)
    if items is None:
        return report
    for name, problem in find_problems(items, num_joints, num_classes):
        problems.add(f"field '{problem.field}' {problem.what}", name, problem.fix)
    _summarise(items, report, problems)
    if not items:
        report.problems.append("no samples" + (f" in split '{split}'" if split else "")
                               + ": there is nothing to train or test on")
    report.problems.extend(problems.lines())
    return report


def _summarise(items: list[tuple[int, object]], report: Report, problems: _Problems) -> None:
    """The report's numbers, duplicate names and NaN/inf values (the values the rules do not read)."""
    names, labels, lengths, persons = Counter(), Counter(), [], []
    joints, channels, dtypes = Counter(), Counter(), Counter()
    for index, item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("frame_dir"), str):
            names[item["frame_dir"]] += 1
        label = item.get("label")
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool) and label >= 0:
            labels[int(label)] += 1
        kp, score = item.get("keypoint"), item.get("keypoint_score")
        if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.dtype.kind not in "fiu":
            continue
        m, t, v, c = kp.shape
        lengths.append(t)
        persons.append(m)
        joints[v] += 1
        channels[c] += 1
        dtypes[str(kp.dtype)] += 1
        report.with_score += score is not None
        if not np.isfinite(kp).all():
            problems.add("keypoint holds NaN or inf", sample_name(item, index),
                         "fix the data or set nan_policy='zero' in the dataset config")
        if (isinstance(score, np.ndarray) and score.dtype.kind in "fiu" and not np.isfinite(score).all()):
            problems.add("keypoint_score holds NaN or inf", sample_name(item, index),
                         "fix the data or set nan_policy='zero' in the dataset config")
    for name, count in names.items():
        if count > 1:
            problems.add("frame_dir occurs more than once", name, "give every sample a unique frame_dir")
    report.samples = len(items)
    report.class_counts = dict(sorted(labels.items()))
    report.frames = (min(lengths), max(lengths), float(np.mean(lengths))) if lengths else None
    report.persons = (min(persons), max(persons)) if persons else None
    report.joints, report.channels = sorted(joints), sorted(channels)
    report.dtypes = sorted(dtypes)
