"""`stgcn extract-pose` on a real clip with MediaPipe: poses found, file validates, trains, resumes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from stgcn.cli import main
from stgcn.commands.train import main as train_main
from stgcn.data.safe_pickle import load_pickle
from tests.conftest import shared_path
from tests.engine.tiny import TINY_CONFIG

pytest.importorskip("mediapipe")
CLIP = "jumping_jacks__01.mp4"  # the shortest labelled clip (48 frames)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("extract")
    videos = tmp / "videos"
    videos.mkdir()
    (videos / CLIP).symlink_to(shared_path("data", "videos", CLIP))
    (videos / "broken.mp4").write_bytes(b"not a video")
    (tmp / "labels.csv").write_text(f"{CLIP},jumping_jacks\nbroken.mp4,squat\n")
    out = tmp / "ann.pkl"
    argv = ["extract-pose", str(videos), str(out), "--labels", str(tmp / "labels.csv")]
    assert main(argv) == 0
    return tmp, out, argv


def test_finds_a_pose_in_most_frames(extracted, capsys):
    _, out, _ = extracted
    samples = load_pickle(out)
    assert [s["frame_dir"] for s in samples] == ["jumping_jacks__01"]
    s = samples[0]
    assert s["total_frames"] == 48 and s["keypoint"].shape == (1, 48, 17, 2)
    assert s["img_shape"] == (360, 640)
    found = (s["keypoint_score"][0].max(axis=1) > 0).mean()
    assert found >= 0.9
    # pixel coordinates inside the frame, nose above the ankles (the man stands upright)
    seen = s["keypoint_score"][0] > 0.5
    assert (s["keypoint"][0][seen] >= -1).all() and (s["keypoint"][0][seen][:, 0] <= 641).all()
    assert np.median(s["keypoint"][0, :, 0, 1]) < np.median(s["keypoint"][0, :, 15, 1])
    assert main(["validate", str(out), "--layout", "coco"]) == 0


def test_bad_video_is_named_and_a_rerun_resumes(extracted, capsys):
    tmp, out, argv = extracted
    cache = out.with_name("ann.pkl.poses") / f"{CLIP}.npz"
    stamp = cache.stat().st_mtime_ns
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "reusing 1 cached videos" in stdout
    assert "skipped" in stdout and "broken.mp4" in stdout
    assert cache.stat().st_mtime_ns == stamp


def test_the_file_trains_for_an_epoch(extracted):
    tmp, out, _ = extracted
    head, tail = TINY_CONFIG.split("data = dict(")
    data = (f"data = dict(videos_per_gpu=1, workers_per_gpu=0,\n"
            f"    train=dict(type='PoseDataset', ann_file={str(out)!r}, pipeline=train_pipeline),\n"
            f"    val=dict(type='PoseDataset', ann_file={str(out)!r}, pipeline=test_pipeline),\n"
            f"    test=dict(type='PoseDataset', ann_file={str(out)!r}, pipeline=test_pipeline))\n")
    rest = tail[tail.index("optimizer = "):].replace("total_epochs = 2", "total_epochs = 1")
    config = tmp / "tiny_video.py"
    config.write_text(head + data + rest)
    work = tmp / "work"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    assert train_main([str(config), "--work-dir", str(work), "--device", "cpu", "--seed", "0"]) == 0
    assert (work / "latest.pth").is_file()
