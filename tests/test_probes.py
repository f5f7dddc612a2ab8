"""Bad input never gives a traceback: one table of malformed-input probes, each run through the `stgcn`
command line in process. Every probe must exit 2 with a single stderr line that names what is wrong.

Add a row per malformed-input class: ``Probe(id, make)`` where ``make(tmp_path) -> argv`` writes the bad
files it needs and returns the command line, and ``expect`` is a piece of text the error must contain
(the file, field or fix it names).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from stgcn.cli import main


@dataclass(frozen=True)
class Probe:
    id: str
    make: Callable[[Path], list[str]]
    expect: str


def sample(**overrides) -> dict:
    """A valid 2D sample (1 person, 8 frames, COCO-17) with some fields overridden."""
    s = {"frame_dir": "s0", "label": 0, "total_frames": 8, "img_shape": (64, 64),
         "keypoint": np.zeros((1, 8, 17, 2), np.float32), "keypoint_score": np.ones((1, 8, 17), np.float32)}
    s.update(overrides)
    return s


def write_pickle(path: Path, obj) -> str:
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return str(path)


def validate_ann(samples: list[dict]) -> Callable[[Path], list[str]]:
    return lambda tmp: ["validate", write_pickle(tmp / "ann.pkl", samples), "--layout", "coco"]


PROBES = [
    Probe("missing-annotation-file", lambda tmp: ["validate", str(tmp / "missing.pkl")], "missing.pkl"),
    Probe("annotation-not-a-pickle", lambda tmp: ["validate", _write(tmp / "a.pkl", b"not a pickle")],
          "a.pkl"),
    Probe("missing-config", lambda tmp: ["train", str(tmp / "nope.py")], "nope.py"),
    Probe("missing-checkpoint", lambda tmp: ["test", str(tmp / "model.pth"), "--eval", "top_k_accuracy"],
          "model.pth"),
    # pictures
    Probe("vis-index-out-of-range", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", [sample()]),
                                                 str(tmp / "a.png"), "--index", "3"], "--index 3"),
    Probe("vis-unknown-split", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", {
        "split": {"train": ["s0"]}, "annotations": [sample()]}), str(tmp / "a.png"), "--split", "tran"],
        "did you mean 'train'"),
    Probe("vis-bad-suffix", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", [sample()]), str(tmp / "a.jpg")],
          ".jpg"),
    Probe("vis-unknown-layout-size", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", [sample(
        keypoint=np.zeros((1, 8, 13, 2), np.float32), keypoint_score=np.ones((1, 8, 13), np.float32))]),
        str(tmp / "a.png")], "no built-in layout has 13 joints"),
    Probe("plot-curve-text-log", lambda tmp: ["plot-curve", _write(tmp / "run.log", b"2026 - stgcn - INFO\n"),
                                              "--keys", "loss", str(tmp / "c.png")], "run.log"),
    Probe("plot-curve-unknown-key", lambda tmp: ["plot-curve", _write(
        tmp / "r.log.json", b'{"mode": "train", "epoch": 1, "iter": 1, "loss": 1.0}\n'),
        "--keys", "acc", str(tmp / "c.png")], "available: loss"),
]


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_bad_input_is_one_line_exit_2(probe: Probe, tmp_path, capsys):
    argv = probe.make(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err, "no error message"
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert probe.expect in err, err
