"""Training curves from `.log.json` files (the lines :mod:`stgcn.engine.logger` writes), the job of
mmaction2's ``analyze_logs.py plot_curve``.

Train lines (``mode: train``, running means over a logging interval) are placed at
``epoch - 1 + iter / iters_per_epoch`` with ``iters_per_epoch`` the largest ``iter`` logged in training;
val lines at their ``epoch``. A key found in both (``top1_acc``) gives a train and a val curve.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from stgcn.errors import StgcnError
from stgcn.viz import new_figure, save_figure

_SKIP = ("mode", "epoch", "iter")


@dataclass
class RunCurves:
    """The numeric series of one log: ``{key: ([x in epochs], [value])}`` for train and val lines."""

    name: str
    train: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    val: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def keys(self) -> set[str]:
        return set(self.train) | set(self.val)


def _records(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StgcnError(f"{path}: cannot read the log ({exc.strerror}); give a WORK_DIR/*.log.json "
                         "file written by tools/train.py") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise StgcnError(f"{path}: line {number} is not JSON; give a WORK_DIR/*.log.json file "
                             "written by tools/train.py (not the .log text)") from None
        if isinstance(record, dict) and record.get("mode") in ("train", "val"):
            records.append(record)
    return records


def read_log(path: str | os.PathLike) -> RunCurves:
    """The train and val series of one `.log.json` file."""
    path = Path(path)
    records = _records(path)
    train = [r for r in records if r["mode"] == "train" and isinstance(r.get("epoch"), int)]
    per_epoch = max((int(r.get("iter", 0)) for r in train), default=1) or 1
    curves = RunCurves(name=path.parent.name or path.stem)
    for r in records:
        if not isinstance(r.get("epoch"), int):
            continue
        if r["mode"] == "train":
            x, target = r["epoch"] - 1 + int(r.get("iter", per_epoch)) / per_epoch, curves.train
        else:
            x, target = float(r["epoch"]), curves.val
        for key, value in r.items():
            if key in _SKIP or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if r["mode"] == "val" and key == "lr":  # the train schedule's value, repeated
                continue
            xs, ys = target.setdefault(key, ([], []))
            xs.append(x)
            ys.append(float(value))
    if not curves.keys():
        raise StgcnError(f"{path}: no train or val lines with numbers; give a WORK_DIR/*.log.json file "
                         "written by tools/train.py")
    return curves


def plot_curves(runs: list[RunCurves], keys: list[str], path: str | os.PathLike,
                title: str | None = None) -> Path:
    """One panel per key (x = epochs), one line per run and mode; saved as PNG/PDF/SVG."""
    available = sorted(set().union(*(run.keys() for run in runs)))
    for key in keys:
        if not any(key in run.keys() for run in runs):
            raise StgcnError(f"--keys {key}: not in the logs; available: {', '.join(available)}")
    fig = new_figure(7.0, 2.6 * len(keys) + 0.4)
    axes = [fig.add_subplot(len(keys), 1, k + 1) for k in range(len(keys))]
    for ax, key in zip(axes, keys, strict=True):
        for run in runs:
            label = f"{run.name} " if len(runs) > 1 else ""
            if key in run.train:
                ax.plot(*run.train[key], label=f"{label}train", linewidth=1.2)
            if key in run.val:
                ax.plot(*run.val[key], marker="o", label=f"{label}val", linewidth=1.2)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("epoch")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
