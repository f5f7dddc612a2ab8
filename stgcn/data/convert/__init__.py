"""Converters from dataset release formats to stgcn annotation pickles, and what they share.

Every converter writes the mmaction2 1.x / PYSKL layout, which `PoseDataset` reads with `split=`:

    {'split': {name: [frame_dir, ...]},
     'annotations': [dict(frame_dir=str, label=int (0-based), total_frames=int,
                          keypoint=float32 [M, T, V, C], keypoint_score=float32 [M, T, V] (2D only),
                          img_shape=(h, w), original_shape=(h, w)), ...]}

One module per source: `ntu` (raw NTU RGB+D 60/120 .skeleton files), `nw_ucla` (the NW-UCLA JSON
release), `penn_action` (Penn Action .mat labels, read with scipy) and `numpy_arrays` (users' own
(N, C, T, V, M) arrays, the path for custom datasets). Each converter returns the annotation dict and a
`Summary` of what was read, written and skipped; `write_pickle` stores the result atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stgcn.data.safe_pickle import dump_pickle
from stgcn.errors import StgcnError
from stgcn.fileio import check_output_path


@dataclass
class Summary:
    """What one conversion did: files read, samples per split, files skipped (with the reason)."""

    source: str
    files_read: int = 0
    samples: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def format(self) -> str:
        lines = [f"{self.source}: read {self.files_read} files in {self.seconds:.1f} s, "
                 f"wrote {self.samples} samples, skipped {len(self.skipped)}"]
        for name, count in self.splits.items():
            lines.append(f"  split {name}: {count} samples")
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.skipped:
            lines.append("skipped:")
            lines.extend(f"  {name}: {reason}" for name, reason in self.skipped)
        return "\n".join(lines)


def annotation_file(annotations: list[dict], splits: dict[str, list[str]]) -> dict:
    """The split-dict layout; `splits` keep the order of `annotations`."""
    return {"split": {name: list(ids) for name, ids in splits.items()}, "annotations": annotations}


def input_files(folder: str | Path, pattern: str, what: str) -> list[Path]:
    """The files matching `pattern` in `folder`, sorted; `what` names the expected folder in errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StgcnError(f"{folder}: not a folder; pass {what}")
    paths = sorted(folder.glob(pattern))
    if not paths:
        raise StgcnError(f"{folder}: no {pattern.lstrip('*')} files found; pass {what}")
    return paths


def check_output(path: str | Path, overwrite: bool) -> Path:
    """Refuse an existing output unless `overwrite` (the rule of every command, `check_output_path`);
    call before long work so it fails fast."""
    return check_output_path(path, overwrite, flag="output")


def write_pickle(obj: object, path: str | Path, overwrite: bool = False) -> Path:
    """Pickle `obj` to `path` atomically (`dump_pickle`), refusing to replace a file unless `overwrite`."""
    path = check_output(path, overwrite)
    dump_pickle(obj, path)
    return path
