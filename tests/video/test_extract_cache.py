"""`stgcn extract-pose` bookkeeping with a stand-in pose backend: the cache serves only the video it was
made from, an earlier output is replaced only by a rerun on the same input (or --overwrite), and label
mistakes are reported."""

from __future__ import annotations

import numpy as np
import pytest

from stgcn.cli import main
from stgcn.commands import extract_pose
from stgcn.data.safe_pickle import load_pickle
from stgcn.video.posefile import PoseTrack, save_npz


@pytest.fixture
def backend(monkeypatch):
    """Replaces pose estimation: a video's 'poses' are its byte count; records the videos it ran on."""
    ran: list[str] = []

    def fake(todo, workers, name):
        for video, cache in todo:
            ran.append(video.name)
            frames = 4 + video.stat().st_size % 5
            kp = np.full((frames, 1, 17, 2), float(video.stat().st_size), np.float32)
            save_npz(PoseTrack("coco", (240, 320), kp, np.ones((frames, 1, 17), np.float32)), cache)
        return []

    monkeypatch.setattr(extract_pose, "_run_backend", fake)
    return ran


def videos(root, sizes: dict[str, int]):
    for rel, size in sizes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    return root


def test_cache_serves_only_the_video_it_was_made_from(tmp_path, backend, capsys):
    out = tmp_path / "ann.pkl"
    first = videos(tmp_path / "a", {"wave/c1.mp4": 10, "jump/c1.mp4": 11})
    args = ["extract-pose", None, str(out), "--label-from-parent-dir"]
    assert main([a or str(first) for a in args]) == 0
    assert sorted(backend) == ["c1.mp4", "c1.mp4"]
    backend.clear()
    assert main([a or str(first) for a in args]) == 0  # a rerun resumes: nothing to estimate
    assert backend == [] and "reusing 2 cached videos" in capsys.readouterr().out
    (first / "wave/c1.mp4").write_bytes(b"x" * 13)  # the video changed: estimated again
    assert main([a or str(first) for a in args]) == 0
    assert backend == ["c1.mp4"]
    sample = next(s for s in load_pickle(out) if s["frame_dir"] == "wave/c1")
    assert sample["keypoint"][0, 0, 0, 0] == 13


def test_another_input_neither_reuses_the_cache_nor_replaces_the_file(tmp_path, backend, capsys):
    out = tmp_path / "ann.pkl"
    first = videos(tmp_path / "a", {"wave/c1.mp4": 10, "jump/c1.mp4": 11})
    second = videos(tmp_path / "b", {"wave/c1.mp4": 20, "jump/c1.mp4": 21})  # the same relative names
    assert main(["extract-pose", str(first), str(out), "--label-from-parent-dir"]) == 0
    before = out.read_bytes()
    backend.clear()
    assert main(["extract-pose", str(second), str(out), "--label-from-parent-dir"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "exists (written by extract-pose from" in err
    assert "pass --overwrite" in err
    assert out.read_bytes() == before and backend == []
    assert main(["extract-pose", str(second), str(out), "--label-from-parent-dir", "--overwrite"]) == 0
    assert sorted(backend) == ["c1.mp4", "c1.mp4"]  # not served from the first folder's cache
    assert {s["keypoint"][0, 0, 0, 0] for s in load_pickle(out)} == {20, 21}


def test_a_file_not_written_by_extract_pose_and_a_folder_are_refused(tmp_path, backend, capsys):
    src = videos(tmp_path / "a", {"wave/c1.mp4": 10, "jump/c1.mp4": 11})
    mine = tmp_path / "mine.pkl"
    mine.write_bytes(b"precious")
    assert main(["extract-pose", str(src), str(mine), "--label-from-parent-dir"]) == 2
    assert "not written by extract-pose from this input" in capsys.readouterr().err
    assert mine.read_bytes() == b"precious"
    assert main(["extract-pose", str(src), str(tmp_path), "--label-from-parent-dir", "--overwrite"]) == 2
    assert "is a folder; give the annotation file to write" in capsys.readouterr().err


def test_one_class_and_csv_rows_without_a_video_are_reported(tmp_path, backend, capsys):
    flat = videos(tmp_path / "videos", {"c1.mp4": 10, "c2.mp4": 11})
    assert main(["extract-pose", str(flat), str(tmp_path / "one.pkl"), "--label-from-parent-dir"]) == 0
    assert "all 2 videos have the class 'videos': training needs at least two" in capsys.readouterr().out
    csv = tmp_path / "labels.csv"
    csv.write_text("video,label\nc1.mp4,wave\nc2.mp4,jump\ndeleted.mp4,wave\n")
    assert main(["extract-pose", str(flat), str(tmp_path / "two.pkl"), "--labels", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "2 row(s) name no video found in" in out and "video, deleted.mp4" in out
    assert "label 1 (wave)" in out and "label 0 (jump)" in out


def test_a_class_with_one_video_is_named_when_nothing_of_it_is_held_out(tmp_path, backend, capsys):
    src = videos(tmp_path / "v", {"wave/c1.mp4": 10, "wave/c2.mp4": 11, "wave/c3.mp4": 12, "jump/c1.mp4": 13})
    out = tmp_path / "ann.pkl"
    assert main(["extract-pose", str(src), str(out), "--label-from-parent-dir", "--val-fraction", "0.2"]) == 0
    assert "warning: class 0 (jump) has a single video: none held out for 'val'" in capsys.readouterr().out
    assert load_pickle(out)["split"]["val"] == ["wave/c2"]
