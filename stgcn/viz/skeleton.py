"""Skeleton pictures of one sample: a PNG/PDF/SVG grid of frames, or a GIF/MP4 animation.

Bones come from the layout's edges (:mod:`stgcn.graph`). 2D keypoints are image coordinates (y down);
3D joints are camera coordinates (x right, y up, z depth, as Kinect writes them), turned by an azimuth
and an elevation and projected orthographically. A joint at exactly (0, 0[, 0]) or non-finite is
missing and not drawn; a joint with ``keypoint_score`` 0 (occluded) is drawn faded.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stgcn.errors import StgcnError
from stgcn.fileio import write_atomic
from stgcn.viz import IMAGE_SUFFIXES, new_figure, save_figure

ANIMATION_SUFFIXES = (".gif", ".mp4")
SUFFIXES = IMAGE_SUFFIXES + ANIMATION_SUFFIXES
FADED = 0.3  # alpha of occluded joints and of bones touching one
PERSON_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


@dataclass
class SkeletonClip:
    """Screen coordinates of one sample, ready to draw.

    ``xy`` (M, T, V, 2) with NaN for missing joints, ``alpha`` (M, T, V), ``edges`` the bones,
    ``limits`` (x0, x1, y0, y1) fixed over the clip, ``y_down`` for image coordinates.
    """

    xy: np.ndarray
    alpha: np.ndarray
    edges: tuple[tuple[int, int], ...]
    limits: tuple[float, float, float, float]
    y_down: bool
    title: str = ""
    subtitle: str = ""
    subtitle_color: str = "black"


def project(keypoint: np.ndarray, azimuth: float = 0.0, elevation: float = 0.0) -> np.ndarray:
    """(…, 3) camera coordinates -> (…, 2) screen (x right, y up) after turning the body by
    ``azimuth`` degrees about the vertical axis and ``elevation`` degrees about the horizontal one."""
    a, e = np.deg2rad(azimuth), np.deg2rad(elevation)
    x, y, z = keypoint[..., 0], keypoint[..., 1], keypoint[..., 2]
    x1 = x * np.cos(a) + z * np.sin(a)
    z1 = -x * np.sin(a) + z * np.cos(a)
    y1 = y * np.cos(e) - z1 * np.sin(e)
    return np.stack([x1, y1], axis=-1)


def _limits(xy: np.ndarray) -> tuple[float, float, float, float]:
    """Square bounds around every drawn joint of the clip, with a 10% margin."""
    pts = xy[np.isfinite(xy).all(-1)]
    if len(pts) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo, hi = pts.min(0), pts.max(0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.1
    return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)


def make_clip(sample: dict, edges: tuple[tuple[int, int], ...], azimuth: float = 0.0,
              elevation: float = 0.0) -> SkeletonClip:
    """A :class:`SkeletonClip` from an annotation-format sample (``keypoint [M, T, V, C]``,
    optional ``keypoint_score [M, T, V]``); C = 2 is drawn as image keypoints, C = 3 as 3D joints."""
    kp = np.asarray(sample["keypoint"], dtype=np.float64)
    name = sample.get("frame_dir", "sample")
    if kp.ndim != 4 or kp.shape[1] == 0 or kp.shape[-1] not in (2, 3):
        raise StgcnError(f"sample {name}: keypoint has shape {kp.shape}; expected [M, T>0, V, C=2|3]")
    missing = ~np.isfinite(kp).all(-1) | (kp == 0).all(-1)
    xy = kp[..., :2].copy() if kp.shape[-1] == 2 else project(kp, azimuth, elevation)
    xy[missing] = np.nan
    alpha = np.where(missing, 0.0, 1.0)
    score = sample.get("keypoint_score")
    if score is not None:
        alpha = np.where(np.asarray(score) > 0, alpha, alpha * FADED)
    return SkeletonClip(xy=xy, alpha=alpha, edges=tuple(edges), limits=_limits(xy),
                        y_down=kp.shape[-1] == 2)


class _Painter:
    """Artists for one axes, updated in place frame after frame (fast enough for long GIFs)."""

    def __init__(self, ax, clip: SkeletonClip, with_counter: bool) -> None:
        from matplotlib.collections import LineCollection

        self.clip = clip
        x0, x1, y0, y1 = clip.limits
        ax.set_xlim(x0, x1)
        ax.set_ylim((y1, y0) if clip.y_down else (y0, y1))
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        from matplotlib.colors import to_rgb

        self.bones, self.joints = [], []
        persons = range(clip.xy.shape[0])
        self.colors = [np.array(to_rgb(PERSON_COLORS[m % len(PERSON_COLORS)])) for m in persons]
        for color in self.colors:
            bones = LineCollection([], colors=[color], linewidths=2.5)
            ax.add_collection(bones)
            self.bones.append(bones)
            self.joints.append(ax.scatter([], [], s=14, color=color, zorder=3))
        self.counter = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=8) if with_counter else None

    def draw(self, t: int) -> None:
        xy, alpha = self.clip.xy[:, t], self.clip.alpha[:, t]
        edges = np.asarray(self.clip.edges, dtype=int).reshape(-1, 2)
        for m, (bones, joints, rgb) in enumerate(zip(self.bones, self.joints, self.colors, strict=True)):
            bones.set_segments(np.stack([xy[m, edges[:, 0]], xy[m, edges[:, 1]]], axis=1))
            bone_alpha = np.minimum(alpha[m, edges[:, 0]], alpha[m, edges[:, 1]])
            bones.set_color(np.column_stack([np.tile(rgb, (len(edges), 1)), bone_alpha]))
            joints.set_offsets(xy[m])
            joints.set_facecolor(np.column_stack([np.tile(rgb, (len(xy[m]), 1)), alpha[m]]))
            joints.set_edgecolor("none")
        if self.counter is not None:
            self.counter.set_text(f"frame {t + 1}/{self.clip.xy.shape[1]}")


def _titles(fig, clip: SkeletonClip) -> None:
    fig.suptitle(clip.title, fontsize=10, y=0.98)
    if clip.subtitle:
        fig.text(0.5, 0.915, clip.subtitle, ha="center", fontsize=9, color=clip.subtitle_color)


def render_grid(clip: SkeletonClip, path: str | os.PathLike, frames: int = 8, columns: int = 4) -> Path:
    """``frames`` evenly spaced frames of the clip side by side, saved as a PNG/PDF/SVG picture."""
    total = clip.xy.shape[1]
    picks = np.unique(np.linspace(0, total - 1, min(frames, total)).round().astype(int))
    cols = min(columns, len(picks))
    rows = -(-len(picks) // cols)
    fig = new_figure(2.4 * cols, 2.4 * rows + 0.7)
    for k, t in enumerate(picks):
        ax = fig.add_subplot(rows, cols, k + 1)
        _Painter(ax, clip, with_counter=False).draw(int(t))
        ax.set_title(f"frame {t + 1}/{total}", fontsize=8)
    _titles(fig, clip)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=(2.4 * rows) / (2.4 * rows + 0.7) - 0.04,
                        wspace=0.05, hspace=0.2)
    return save_figure(fig, path)


def _frames(clip: SkeletonClip, size: float):
    """Yield (figure, RGB array) for every frame of the clip, drawn on one reused figure."""
    fig = new_figure(size, size + 0.6)
    ax = fig.add_axes((0.03, 0.03, 0.94, 0.94 * size / (size + 0.6)))
    painter = _Painter(ax, clip, with_counter=True)
    _titles(fig, clip)
    for t in range(clip.xy.shape[1]):
        painter.draw(t)
        fig.canvas.draw()
        yield fig, np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _write_gif(clip: SkeletonClip, path: Path, fps: float, size: float) -> Path:
    from PIL import Image

    images = [Image.fromarray(rgb).quantize(colors=64) for _, rgb in _frames(clip, size)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(int(round(1000 / fps)), 20), loop=0)
    return write_atomic(path, buffer.getvalue())


def mp4_available() -> bool:
    """Whether matplotlib finds an ffmpeg executable to write MP4 files with."""
    from matplotlib import animation

    return animation.writers.is_available("ffmpeg")


def _write_mp4(clip: SkeletonClip, path: Path, fps: float, size: float) -> Path:
    from matplotlib import animation

    writer = animation.FFMpegWriter(fps=fps)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    try:
        frames = _frames(clip, size)
        fig, _ = next(frames)
        with writer.saving(fig, tmp, dpi=fig.dpi):
            writer.grab_frame()
            for _ in frames:
                writer.grab_frame()
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def check_output(path: str | os.PathLike) -> Path:
    """The output path when its format can be written here, else a one-line StgcnError (before any work)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise StgcnError(f"{path}: unsupported output suffix {suffix or '(none)'!r}; use one of "
                         f"{', '.join(SUFFIXES)}")
    if suffix == ".mp4" and not mp4_available():
        raise StgcnError(f"{path}: writing .mp4 needs ffmpeg on PATH, which was not found; install ffmpeg "
                         "or write a .gif instead")
    return path


def render(clip: SkeletonClip, path: str | os.PathLike, fps: float = 15.0, frames: int = 8,
           size: float = 4.0) -> Path:
    """Write the clip to ``path``: a grid of ``frames`` frames for .png/.pdf/.svg, an animation at
    ``fps`` frames per second for .gif/.mp4 (``size`` inches square at 100 dpi)."""
    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return _write_gif(clip, path, fps, size)
    if suffix == ".mp4":
        return _write_mp4(clip, path, fps, size)
    return render_grid(clip, path, frames=frames)
