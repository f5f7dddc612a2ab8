"""Skeleton pictures: projection, missing/occluded joints, PNG grids and GIF animations."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stgcn.errors import StgcnError
from stgcn.graph import LAYOUTS
from stgcn.viz import skeleton
from stgcn.viz.skeleton import FADED, make_clip, project, render
from tests.viz.helpers import GIF_MAGIC, PNG_MAGIC, coco_sample, ucla_sample

COCO = LAYOUTS["coco"].edges


def test_project_turns_about_the_vertical_then_tilts():
    point = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(project(point), [1.0, 2.0])
    np.testing.assert_allclose(project(point, azimuth=90), [3.0, 2.0], atol=1e-12)
    # elevation 90 after no turn: screen y = -z (looking down from above)
    np.testing.assert_allclose(project(point, elevation=90), [1.0, -3.0], atol=1e-12)


def test_make_clip_hides_missing_and_fades_occluded_joints():
    clip = make_clip(coco_sample(), COCO)
    assert clip.xy.shape == (1, 5, 17, 2) and clip.y_down
    assert np.isnan(clip.xy[:, :, 3]).all() and (clip.alpha[:, :, 3] == 0).all()
    assert (clip.alpha[:, :, 5] == FADED).all() and (clip.alpha[:, :, 0] == 1).all()
    x0, x1, y0, y1 = clip.limits
    drawn = clip.xy[np.isfinite(clip.xy).all(-1)]
    assert x0 < drawn[:, 0].min() and drawn[:, 0].max() < x1
    assert y0 < drawn[:, 1].min() and drawn[:, 1].max() < y1


def test_make_clip_3d_is_y_up():
    clip = make_clip(ucla_sample(), LAYOUTS["nw-ucla"].edges)
    assert clip.xy.shape == (1, 4, 20, 2) and not clip.y_down


def test_make_clip_rejects_a_bad_keypoint_shape():
    with pytest.raises(StgcnError, match=r"clip0.*\[M, T>0, V, C=2\|3\]"):
        make_clip(coco_sample() | {"keypoint": np.zeros((1, 0, 17, 2), np.float32)}, COCO)


def test_png_grid_is_a_picture(tmp_path):
    out = render(make_clip(coco_sample(persons=2), COCO), tmp_path / "grid.png", frames=4)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = Image.open(out).size
    assert 400 < width < 2000 and 200 < height < 2000


def test_gif_has_one_frame_per_sample_frame(tmp_path):
    clip = make_clip(ucla_sample(frames=4), LAYOUTS["nw-ucla"].edges)
    clip.title = "a01_v01"
    out = render(clip, tmp_path / "anim.gif", fps=10, size=2.0)
    assert out.read_bytes()[:6] in GIF_MAGIC
    image = Image.open(out)
    assert image.n_frames == 4
    assert image.info["duration"] == 100
    frames = []
    for t in range(4):
        image.seek(t)
        frames.append(np.asarray(image.convert("RGB")))
    assert frames[0].shape == (260, 200, 3)
    assert any((frames[0] != f).any() for f in frames[1:]), "the skeleton does not move"


def test_mp4_without_ffmpeg_is_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(skeleton, "mp4_available", lambda: False)
    with pytest.raises(StgcnError, match="needs ffmpeg.*write a .gif"):
        render(make_clip(coco_sample(), COCO), tmp_path / "a.mp4")
    assert not list(tmp_path.iterdir())


def test_unknown_suffix_lists_the_formats(tmp_path):
    with pytest.raises(StgcnError, match=r"\.jpg.*\.png, \.pdf, \.svg, \.gif, \.mp4"):
        render(make_clip(coco_sample(), COCO), tmp_path / "a.jpg")
