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
    # inference
    Probe("predict-wrong-joint-count", lambda tmp: predict(tmp, [sample(
        keypoint=np.zeros((1, 8, 25, 2), np.float32), keypoint_score=np.ones((1, 8, 25), np.float32))]),
        "V=25 joints but the checkpoint's layout coco has 17"),
    Probe("predict-wrong-channels",
          lambda tmp: predict(tmp, [sample(keypoint=np.zeros((1, 8, 17, 3), np.float32))]), "in_channels=3"),
    Probe("predict-nan-keypoints", lambda tmp: predict(tmp, [sample(keypoint=np.full((1, 8, 17, 2), np.nan,
                                                                                     np.float32))]),
          "keypoint holds NaN/inf values"),
    Probe("predict-empty-sample", lambda tmp: predict(tmp, [sample(
        total_frames=0, keypoint=np.zeros((1, 0, 17, 2), np.float32), keypoint_score=np.ones((1, 0, 17)))]),
        "T=0"),
    Probe("predict-checkpoint-without-config", lambda tmp: predict(tmp, [sample()], with_config=False),
          "pass the model's config: --config CONFIG"),
    Probe("predict-label-map-wrong-length", lambda tmp: predict(tmp, [sample()], "--label-map",
                                                                _write(tmp / "names.txt", b"a\nb\n")),
          "2 class names but the model has num_classes=4"),
]
_CHECKPOINTS: dict[bool, bytes] = {}


def predict(tmp: Path, samples: list[dict], *flags: str, with_config: bool = True) -> list[str]:
    """`stgcn predict` of a tiny 4-class coco checkpoint (built once, then copied) on `samples`."""
    from tests.inference.helpers import make_checkpoint

    if with_config not in _CHECKPOINTS:
        _CHECKPOINTS[with_config] = make_checkpoint(tmp, "made.pth", with_config=with_config).read_bytes()
    ckpt = _write(tmp / "model.pth", _CHECKPOINTS[with_config])
    return ["predict", ckpt, write_pickle(tmp / "ann.pkl", samples), *flags]


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
