"""Video I/O on generated frames, the install hint, and the demo's one-line argument errors."""

from __future__ import annotations

import numpy as np
import pytest

from stgcn.cli import main
from stgcn.errors import StgcnError
from stgcn.video.deps import require

cv2 = pytest.importorskip("cv2")


def test_missing_extra_names_the_install_command():
    with pytest.raises(StgcnError, match=r'pip install "stgcn\[video\]"') as err:
        require("stgcn_no_such_module")
    assert "\n" not in str(err.value)


def test_sink_writes_every_frame_and_nothing_on_error(tmp_path):
    from stgcn.video.io import FrameSource, VideoSink, count_frames

    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(7)]
    with VideoSink(tmp_path / "a.mp4", 10.0, (64, 48)) as sink:
        for f in frames:
            sink.write(f)
    assert count_frames(tmp_path / "a.mp4") == 7
    src = FrameSource(tmp_path / "a.mp4")
    assert (src.width, src.height, src.fps) == (64, 48, 10.0)
    with pytest.raises(RuntimeError), VideoSink(tmp_path / "b.mp4", 10.0, (64, 48)) as sink:
        sink.write(frames[0])
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]
    (tmp_path / "c.mp4").write_bytes(b"not a video")
    with pytest.raises(StgcnError, match="cannot be opened as a video"):
        FrameSource(tmp_path / "c.mp4")


def test_only_the_shipped_pose_model_is_accepted():
    pytest.importorskip("mediapipe")
    from stgcn.video.backends import MediapipePose

    with pytest.raises(StgcnError, match="only 1 works offline"):
        MediapipePose(model_complexity=2)


@pytest.mark.parametrize("argv, words", [
    (["--camera", "0", "out.mp4"], "--camera needs --window N"),
    (["in.mp4"], "give the input and the output video"),
    (["in.mp4", "out.mp4", "--stride", "2"], "--stride needs --window N"),
    (["in.mp4", "out.mp4", "--window", "0"], "--window must be at least 1"),
    (["in.mp4", "out.gif"], "must end in .mp4 or .avi"),
    (["in.mp4", "out.mp4", "--max-frames", "10"], "--max-frames needs --window N"),
    (["FORMAT.txt", "out.mp4"], "FORMAT.txt: not a video file name"),
])
def test_demo_argument_errors_are_one_line(argv, words, capsys):
    assert main(["demo", *argv, "--checkpoint", "x.pth"]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_demo_never_writes_over_its_input(tmp_path, capsys):
    video = tmp_path / "mine.mp4"
    video.write_bytes(b"user's video")
    assert main(["demo", str(video), str(video), "--checkpoint", "x.pth", "--overwrite"]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert video.read_bytes() == b"user's video"
