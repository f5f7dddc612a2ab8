"""`stgcn demo` on a real clip: every frame read is written, skeletons drawn, predictions reported."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stgcn.cli import main
from tests.conftest import shared_path
from tests.inference.helpers import make_checkpoint

cv2 = pytest.importorskip("cv2")
pytest.importorskip("mediapipe")
CLIP = "jumping_jacks__01.mp4"  # 48 frames, one person


def _frames(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return out
        out.append(frame)


def test_whole_clip_demo_per_person(tmp_path, capsys):
    video = shared_path("data", "videos", CLIP)
    ckpt = make_checkpoint(tmp_path, class_names=["wave", "jump", "sit", "run"])
    out, report = tmp_path / "demo.mp4", tmp_path / "demo.json"
    assert main(["demo", str(video), str(out), "--checkpoint", str(ckpt), "--per-person",
                 "--out-json", str(report)]) == 0
    frames_in, frames_out = _frames(video), _frames(out)
    assert len(frames_out) == len(frames_in) == 48
    assert frames_out[0].shape == frames_in[0].shape
    # drawing changed the frames (skeleton and label), and not everywhere
    diff = np.abs(frames_out[10].astype(int) - frames_in[10].astype(int)).max(axis=2)
    assert 0.001 < (diff > 60).mean() < 0.5
    doc = json.loads(report.read_text())
    assert doc["frames"] == 48 and len(doc["predictions"]) == 1
    row = doc["predictions"][0]
    assert row["person_id"] == 0 and row["top_k"][0][1] in {"wave", "jump", "sit", "run"}
    assert "wrote 48 of 48 frames" in capsys.readouterr().out
