"""Training curves from .log.json lines in the shape stgcn.engine.logger writes."""

from __future__ import annotations

import json

import pytest

from stgcn.cli import main
from stgcn.errors import StgcnError
from stgcn.viz.curves import plot_curves, read_log
from tests.viz.helpers import PNG_MAGIC


def write_log(path, records):
    lines = [{"env_info": "x", "seed": 0}] + records
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return str(path)


RECORDS = [
    {"mode": "train", "epoch": 1, "iter": 10, "lr": 0.1, "loss": 2.0, "top1_acc": 0.2, "time": 0.5},
    {"mode": "train", "epoch": 1, "iter": 20, "lr": 0.1, "loss": 1.5, "top1_acc": 0.4, "time": 0.5},
    {"mode": "train", "epoch": 2, "iter": 10, "lr": 0.05, "loss": 1.0, "top1_acc": 0.6, "time": 0.5},
    {"mode": "train", "epoch": 2, "iter": 20, "lr": 0.05, "loss": 0.8, "top1_acc": 0.7, "time": 0.5},
    {"mode": "val", "epoch": 2, "iter": 7, "lr": 0.05, "top1_acc": 0.65, "top5_acc": 0.9},
]


def test_read_log_places_train_lines_within_epochs(tmp_path):
    run = read_log(write_log(tmp_path / "run.log.json", RECORDS))
    assert run.train["loss"] == ([0.5, 1.0, 1.5, 2.0], [2.0, 1.5, 1.0, 0.8])
    assert run.val["top1_acc"] == ([2.0], [0.65])
    assert "lr" in run.train and "lr" not in run.val


def test_plot_curve_keys_then_output(tmp_path, capsys):
    log = write_log(tmp_path / "run.log.json", RECORDS)
    out = tmp_path / "curves.png"
    assert main(["plot-curve", log, "--keys", "loss", "top1_acc", str(out), "--title", "t"]) == 0
    assert out.read_bytes().startswith(PNG_MAGIC)
    other = tmp_path / "two.svg"
    assert main(["plot-curve", log, log, "--out", str(other)]) == 0
    assert b"<svg" in other.read_bytes()[:500]


def test_unknown_key_lists_the_available_ones(tmp_path):
    log = write_log(tmp_path / "run.log.json", RECORDS)
    with pytest.raises(StgcnError, match="--keys acc: not in the logs; available: loss, lr, time, top1_acc"):
        plot_curves([read_log(log)], ["acc"], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
