"""Pose files of other estimators (.npz / .json) and `extract-pose --backend file`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stgcn.cli import main
from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError
from stgcn.video.posefile import PoseTrack, load_pose_file, save_npz


def _json_person(x: float, score: float = 0.9, pid=None, num_joints: int = 18) -> dict:
    pts = [[x + 2 * j, 100 + 10 * j, score] for j in range(num_joints)]
    return {"keypoints": pts} if pid is None else {"keypoints": pts, "id": pid}


def test_json_without_ids_is_tracked(tmp_path):
    # two OpenPose-18 persons listed in alternating order: tracking must keep them apart
    frames = [[_json_person(10 + t), _json_person(400 - t)] if t % 2 == 0 else
              [_json_person(400 - t), _json_person(10 + t)] for t in range(6)]
    path = tmp_path / "clip.json"
    path.write_text(json.dumps({"layout": "openpose-18", "img_shape": [480, 640], "frames": frames}))
    track = load_pose_file(path)
    assert track.keypoint.shape == (6, 2, 18, 2) and track.img_shape == (480, 640)
    xs = track.keypoint[:, :, 0, 0]
    np.testing.assert_array_equal(xs[:, 0], [10 + t for t in range(6)])
    np.testing.assert_array_equal(xs[:, 1], [400 - t for t in range(6)])


def test_npz_round_trip_and_errors(tmp_path):
    kp = np.arange(4 * 1 * 17 * 2, dtype=np.float32).reshape(4, 1, 17, 2)
    track = PoseTrack("coco", (240, 320), kp, np.ones((4, 1, 17), np.float32))
    save_npz(track, tmp_path / "a.npz")
    back = load_pose_file(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.keypoint, kp)
    assert back.layout == "coco" and back.img_shape == (240, 320)
    save_npz(PoseTrack("openpose-18", (240, 320), kp, np.ones((4, 1, 17), np.float32)), tmp_path / "b.npz")
    with pytest.raises(StgcnError, match=r"\[T, P, 18, 2\]"):
        load_pose_file(tmp_path / "b.npz")
    (tmp_path / "c.json").write_text('{"layout": "coco", "frames": []}')
    with pytest.raises(StgcnError, match="c.json: not a pose .json"):
        load_pose_file(tmp_path / "c.json")


def _class_folders(src: Path) -> Path:
    """``src/wave/clip1.json`` and ``src/jump/clip1.json``: one 8-frame OpenPose-18 person each."""
    for cls in ("wave", "jump"):
        (src / cls).mkdir(parents=True)
        frames = [[_json_person(5 * t, pid=3)] for t in range(8)]
        (src / cls / "clip1.json").write_text(
            json.dumps({"layout": "openpose-18", "img_shape": [480, 640], "frames": frames}))
    return src


def test_extract_pose_from_openpose_json_files(tmp_path, capsys):
    src = _class_folders(tmp_path / "poses")
    (src / "jump" / "broken.json").write_text("{not json")
    out = tmp_path / "ann.pkl"
    assert main(["extract-pose", str(src), str(out), "--backend", "file", "--label-from-parent-dir"]) == 0
    stdout = capsys.readouterr().out
    assert "skipped" in stdout and "broken.json" in stdout
    samples = load_pickle(out)
    assert [s["frame_dir"] for s in samples] == ["jump/clip1", "wave/clip1"]
    assert [s["label"] for s in samples] == [0, 1]
    assert (tmp_path / "ann.classes.txt").read_text().split() == ["jump", "wave"]
    s = samples[1]
    assert s["keypoint"].shape == (1, 8, 17, 2) and s["img_shape"] == (480, 640)
    # COCO left shoulder (5) is OpenPose-18 joint 5; COCO right shoulder (6) is joint 2
    np.testing.assert_array_equal(s["keypoint"][0, :, 5, 0], [5 * t + 10 for t in range(8)])
    np.testing.assert_array_equal(s["keypoint"][0, :, 6, 0], [5 * t + 4 for t in range(8)])
    assert main(["validate", str(out), "--layout", "coco"]) == 0


def test_a_split_column_makes_a_split_dict(tmp_path):
    src = tmp_path / "poses"
    src.mkdir()
    for name in ("a", "b", "c"):
        frames = [[_json_person(5 * t, pid=0)] for t in range(4)]
        (src / f"{name}.json").write_text(
            json.dumps({"layout": "openpose-18", "img_shape": [480, 640], "frames": frames}))
    (tmp_path / "labels.csv").write_text("a.json,run,train\nb,walk,val\nc.json,run\n")
    out = tmp_path / "ann.pkl"
    assert main(["extract-pose", str(src), str(out), "--backend", "file", "--labels",
                 str(tmp_path / "labels.csv"), "--drop-joints", "left_ear,right_ear"]) == 0
    ann = load_pickle(out)
    s = ann["annotations"][0]
    assert (s["keypoint"][..., 3:5, :] == 0).all() and (s["keypoint_score"][..., 3:5] == 0).all()
    assert (s["keypoint_score"][..., :3] > 0).all()
    assert ann["split"] == {"train": ["a"], "val": ["b"], "unassigned": ["c"]}
    assert [s["label"] for s in ann["annotations"]] == [0, 1, 0]


def test_val_fraction_holds_out_each_class_evenly(tmp_path):
    from stgcn.commands.extract_pose import holdout_split

    src = tmp_path / "poses"
    for cls, count in (("wave", 5), ("jump", 10), ("solo", 1)):
        (src / cls).mkdir(parents=True)
        for i in range(count):
            frames = [[_json_person(5 * t, pid=0)] for t in range(4)]
            (src / cls / f"c{i}.json").write_text(
                json.dumps({"layout": "openpose-18", "img_shape": [480, 640], "frames": frames}))
    out = tmp_path / "ann.pkl"
    args = ["extract-pose", str(src), str(out), "--backend", "file", "--label-from-parent-dir"]
    assert main([*args, "--val-fraction", "0.2"]) == 0
    ann = load_pickle(out)
    val = ann["split"]["val"]
    assert sorted(val) == ["jump/c3", "jump/c6", "wave/c2"]  # 2 of 10, 1 of 5, none of a single clip
    assert len(ann["split"]["train"]) == 13 and not set(val) & set(ann["split"]["train"])
    assert holdout_split(ann["annotations"], 0.2) == ann["split"]  # reruns agree
    assert main([*args, "--val-fraction", "1.5", "--overwrite"]) == 2


def test_extract_pose_with_a_class_list_names_the_classes_without_videos(tmp_path, capsys):
    src = _class_folders(tmp_path / "poses")
    out = tmp_path / "ann.pkl"
    (tmp_path / "list.txt").write_text("clap\njump\nsit\nwave\n")
    assert main(["extract-pose", str(src), str(out), "--backend", "file", "--label-from-parent-dir",
                 "--classes", str(tmp_path / "list.txt")]) == 0
    assert "2 of the 4 classes of --classes have no video (clap, sit)" in capsys.readouterr().out
    assert [s["label"] for s in load_pickle(out)] == [1, 3]  # numbered by the given list
    assert (tmp_path / "ann.classes.txt").read_text().split() == ["clap", "jump", "sit", "wave"]
