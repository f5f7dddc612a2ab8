"""`stgcn demo` on a real clip: every frame read is written, skeletons drawn, predictions reported."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stgcn.cli import main
from tests.conftest import shared_path
from tests.inference.helpers import make_checkpoint

cv2 = pytest.importorskip("cv2")
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
    pytest.importorskip("mediapipe")
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


def test_sliding_window_demo_from_a_pose_file(tmp_path, capsys):
    """Poses of another estimator (an OpenPose-18 .npz) mapped onto the checkpoint's coco layout."""
    from stgcn.video.posefile import PoseTrack, save_npz

    video = shared_path("data", "videos", CLIP)
    rng = np.random.default_rng(0)
    kp = (rng.random((48, 2, 18, 2)) * [640, 360]).astype(np.float32)
    score = np.ones((48, 2, 18), np.float32)
    score[30:, 1] = 0  # the second person leaves at frame 30
    save_npz(PoseTrack("openpose-18", (360, 640), kp, score), tmp_path / "poses.npz")
    ckpt = make_checkpoint(tmp_path)
    out, report = tmp_path / "win.mp4", tmp_path / "win.json"
    assert main(["demo", str(video), str(out), "--checkpoint", str(ckpt), "--poses",
                 str(tmp_path / "poses.npz"), "--window", "16", "--stride", "16", "--per-person",
                 "--out-json", str(report)]) == 0
    assert len(_frames(out)) == 48
    rows = json.loads(report.read_text())["predictions"]
    # emissions at frames 15, 31, 47; person 1 (last seen at frame 29) is out of the last window
    assert sorted({r["frame"] for r in rows}) == [15, 31, 47]
    assert [r["person_id"] for r in rows if r["frame"] == 31] == [0, 1]
    assert [r["person_id"] for r in rows if r["frame"] == 15] == [0, 1]
    assert [r["person_id"] for r in rows if r["frame"] == 47] == [0]
    # the same in bf16: the same emissions, scores within bf16's rounding
    bf16 = tmp_path / "bf16.json"
    assert main(["demo", str(video), str(tmp_path / "bf16.mp4"), "--checkpoint", str(ckpt), "--poses",
                 str(tmp_path / "poses.npz"), "--window", "16", "--stride", "16", "--per-person",
                 "--out-json", str(bf16), "--precision", "bf16"]) == 0
    rows16 = json.loads(bf16.read_text())["predictions"]
    assert [(r["frame"], r["person_id"]) for r in rows16] == [(r["frame"], r["person_id"]) for r in rows]
    changed = False
    for a, b in zip(rows16, rows, strict=True):
        low, full = ({i: score for i, _, score in r["top_k"]} for r in (a, b))
        assert len(low.keys() & full.keys()) >= 3  # the checkpoint has 4 classes, 5 are listed
        assert all(abs(low[i] - full[i]) < 3e-2 for i in low.keys() & full.keys())
        changed |= any(low[i] != full[i] for i in low.keys() & full.keys())
    assert changed  # it really ran in bf16
