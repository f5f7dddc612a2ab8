"""`stgcn vis`: sample selection by split and index, layout choice, the written picture."""

from __future__ import annotations

import sys

import pytest
from PIL import Image

from stgcn.cli import main
from stgcn.commands.vis import load_sample
from stgcn.errors import StgcnError
from tests.viz.helpers import PNG_MAGIC, coco_sample, ucla_sample, write_ann


@pytest.fixture
def ann(tmp_path):
    samples = [coco_sample("a", 0, frames=3), coco_sample("b", 1, frames=6), coco_sample("c", 2, frames=4)]
    return write_ann(tmp_path / "ann.pkl", samples, {"train": ["a", "c"], "test": ["b"]})


def test_index_counts_within_the_split(ann):
    assert load_sample(ann, 1, "train")["frame_dir"] == "c"
    assert load_sample(ann, 0, "test")["frame_dir"] == "b"
    assert load_sample(ann, 1, None)["frame_dir"] == "b"
    assert load_sample(ann, -1, None)["frame_dir"] == "c"


def test_index_out_of_range_names_the_count(ann):
    with pytest.raises(StgcnError, match=r"--index 2 is out of range; split 'train' has 2 samples"):
        load_sample(ann, 2, "train")


def test_vis_writes_a_gif_of_the_sample(ann, tmp_path, capsys):
    out = tmp_path / "b.gif"
    assert main(["vis", ann, str(out), "--split", "test", "--index", "0", "--fps", "20"]) == 0
    assert Image.open(out).n_frames == 6
    assert str(out) in capsys.readouterr().out


def test_vis_3d_grid_with_label_map(tmp_path):
    ann = write_ann(tmp_path / "ucla.pkl", [ucla_sample(frames=3)])
    names = tmp_path / "names.txt"
    names.write_text("pick up with one hand\nwalk\n")
    out = tmp_path / "grid.png"
    assert main(["vis", ann, str(out), "--class-names", str(names), "--frames", "3", "--azimuth", "30"]) == 0
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_without_matplotlib_one_line_names_the_extra(ann, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["vis", ann, str(tmp_path / "a.png"), "--split", "test"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "stgcn[viz]"' in err
    assert not (tmp_path / "a.png").exists()


def test_checkpoint_prediction_and_its_class_names(tmp_path):
    import argparse

    import numpy as np

    from stgcn.commands.vis import _caption
    from stgcn.inference import Recognizer
    from tests.inference.helpers import make_checkpoint, make_samples

    ckpt = make_checkpoint(tmp_path, class_names=["wave", "jump", "sit", "run"])
    sample = make_samples(2)[1]  # label 1
    args = argparse.Namespace(class_names=None, checkpoint=str(ckpt), config=None, index=1)
    title, line, color = _caption(sample, args, Recognizer.from_checkpoint(str(ckpt)))
    assert title == "clip1    label: jump (1)"
    scores = Recognizer.from_checkpoint(str(ckpt)).scores(sample)[0]
    best = int(np.argmax(scores))
    names = ["wave", "jump", "sit", "run"]
    assert line.startswith(f"prediction: {names[best]} ({best}) {scores[best]:.2f}, ")
    assert line.count("(") == 3
    assert color == ("tab:green" if best == 1 else "tab:red")


def test_pose_file_of_another_estimator(tmp_path):
    import numpy as np

    from stgcn.video.posefile import PoseTrack, save_npz

    rng = np.random.default_rng(0)
    keypoint = rng.uniform(50, 300, (5, 1, 17, 2)).astype(np.float32)  # [T, P, V, 2], COCO-17
    track = PoseTrack("coco", (360, 480), keypoint, np.ones((5, 1, 17), np.float32))
    save_npz(track, tmp_path / "clip.npz")
    out = tmp_path / "clip.gif"
    assert main(["vis", str(tmp_path / "clip.npz"), str(out)]) == 0
    assert Image.open(out).n_frames == 5


def test_video_poses_feed_the_joints_the_checkpoint_lacks_as_absent(tmp_path, monkeypatch, capsys):
    import numpy as np

    from stgcn.inference import Recognizer
    from stgcn.video.posefile import PoseTrack, save_npz
    from tests.inference.helpers import make_checkpoint

    face = ["left_eye", "right_eye", "left_ear", "right_ear"]
    ckpt = make_checkpoint(tmp_path, absent_joints=face)
    rng = np.random.default_rng(0)
    track = PoseTrack("coco", (360, 480), rng.uniform(50, 300, (5, 1, 17, 2)).astype(np.float32),
                      np.ones((5, 1, 17), np.float32))
    save_npz(track, tmp_path / "clip.npz")
    seen = []
    real = Recognizer.predict
    monkeypatch.setattr(Recognizer, "predict", lambda self, s, **kw: seen.append(s) or real(self, s, **kw))
    assert main(["vis", str(tmp_path / "clip.npz"), str(tmp_path / "a.png"), "--checkpoint", str(ckpt)]) == 0
    assert "feeding left_eye, right_eye, left_ear, right_ear as absent" in capsys.readouterr().out
    assert not seen[-1]["keypoint"][:, :, 1:5].any() and not seen[-1]["keypoint_score"][:, :, 1:5].any()
    assert seen[-1]["keypoint_score"][:, :, [0, 5]].all()
    assert main(["vis", str(tmp_path / "clip.npz"), str(tmp_path / "b.png"), "--checkpoint", str(ckpt),
                 "--drop-joints", "none"]) == 0
    assert seen[-1]["keypoint_score"][:, :, 1:5].all()
    assert main(["vis", str(tmp_path / "clip.npz"), str(tmp_path / "c.png"), "--checkpoint", str(ckpt),
                 "--drop-joints", "left_eye"]) == 0
    assert seen[-1]["keypoint_score"][:, :, 2:5].all() and not seen[-1]["keypoint_score"][:, :, 1].any()
