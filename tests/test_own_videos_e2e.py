"""The "train on your own videos" path, for real on a tiny set: labelled videos -> `stgcn extract-pose` ->
`stgcn init-config` -> `tools/train.py` -> `stgcn demo`, each stage's output checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stgcn.cli import main
from stgcn.commands.train import main as train_main
from stgcn.data.safe_pickle import load_pickle
from stgcn.engine.config import load_config
from stgcn.models.checkpoint import read_checkpoint
from tests.conftest import shared_path

cv2 = pytest.importorskip("cv2")
pytest.importorskip("mediapipe")
SOURCES = {"jumping_jacks": "jumping_jacks__01.mp4", "squat": "squat__01.mp4"}
CLIPS, FRAMES = 6, 8  # per class: 5 to train on (init-config's minimum), 1 to test


def cut_clips(source, folder, scale: float = 0.5) -> list:
    """CLIPS clips of FRAMES frames from the start of ``source``, at ``scale`` of its size."""
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while len(frames) < CLIPS * FRAMES:
        ok, frame = cap.read()
        assert ok, f"{source} has fewer than {CLIPS * FRAMES} frames"
        frames.append(cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    cap.release()
    folder.mkdir(parents=True)
    paths = []
    for k in range(CLIPS):
        path = folder / f"clip{k}.mp4"
        height, width = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        for frame in frames[k * FRAMES:(k + 1) * FRAMES]:
            writer.write(frame)
        writer.release()
        paths.append(path)
    return paths


@pytest.mark.usefixtures("one_thread")
def test_videos_to_poses_to_config_to_model_to_demo(tmp_path, capsys):
    videos, rows = tmp_path / "videos", []
    for name, source in SOURCES.items():
        clips = cut_clips(shared_path("data", "videos", source), videos / name)
        rows += [f"{name}/{p.name},{name},{'val' if k == CLIPS - 1 else 'train'}"
                 for k, p in enumerate(clips)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")

    ann = tmp_path / "my_videos.pkl"
    assert main(["extract-pose", str(videos), str(ann), "--labels", str(tmp_path / "labels.csv")]) == 0
    data = load_pickle(ann)
    assert sorted(data["split"]) == ["train", "val"] and len(data["split"]["train"]) == 2 * (CLIPS - 1)
    assert len(data["annotations"]) == 2 * CLIPS
    for sample in data["annotations"]:
        assert sample["keypoint"].shape[1:] == (FRAMES, 17, 2)
        assert (sample["keypoint_score"].max(axis=(0, 2)) > 0).mean() >= 0.5  # a pose in most frames
    assert (tmp_path / "my_videos.classes.txt").read_text().split() == ["jumping_jacks", "squat"]

    config = tmp_path / "my_videos.py"
    assert main(["init-config", str(ann), str(config), "--budget-min", "0.01", "--step-seconds", "1"]) == 0
    cfg = load_config(str(config))
    assert cfg["class_names"] == ["jumping_jacks", "squat"]
    assert cfg["model"]["cls_head"]["num_classes"] == 2
    assert cfg["model"]["backbone"]["graph_cfg"]["layout"] == "coco"
    assert (cfg["data"]["train"]["split"], cfg["data"]["val"]["split"]) == ("train", "val")
    assert cfg["total_epochs"] == 1

    work = tmp_path / "work"
    assert train_main([str(config), "--work-dir", str(work), "--validate", "--seed", "0",
                       "--device", "cpu"]) == 0
    ckpt = read_checkpoint(work / "latest.pth")
    assert ckpt["meta"]["epoch"] == 1 and ckpt["meta"]["class_names"] == ["jumping_jacks", "squat"]

    out, report = tmp_path / "demo.mp4", tmp_path / "demo.json"
    capsys.readouterr()
    assert main(["demo", str(videos / "squat" / f"clip{CLIPS - 1}.mp4"), str(out),
                 "--checkpoint", str(work / "latest.pth"), "--out-json", str(report)]) == 0
    assert out.stat().st_size > 0 and f"wrote {FRAMES} of {FRAMES} frames" in capsys.readouterr().out
    prediction = json.loads(report.read_text())["predictions"][0]
    assert prediction["top_k"][0][1] in {"jumping_jacks", "squat"}
    assert np.isfinite(prediction["top_k"][0][0])
