"""Video input (a file or a webcam, one code path) and atomic video output, through OpenCV."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stgcn.errors import StgcnError
from stgcn.video.deps import require

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class FrameSource:
    """BGR frames of a video file (``str``/path) or a camera (``int`` index), with fps and size.

    ``frame_count`` is the container's estimate (0 for a camera); iterate to get the real frames.
    """

    def __init__(self, source: str | os.PathLike | int) -> None:
        cv2 = require("cv2")
        self.name = f"camera {source}" if isinstance(source, int) else str(source)
        if not isinstance(source, int) and not Path(source).is_file():
            raise StgcnError(f"{source}: no such video file; pass a path to a video or --camera N")
        self._cap = cv2.VideoCapture(source if isinstance(source, int) else str(source))
        if not self._cap.isOpened():
            raise StgcnError(f"{self.name}: cannot be opened as a video (unknown codec or not a video)")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or 30.0
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        count = 0 if isinstance(source, int) else int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = max(count, 0)

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = self._cap.read()
                if not ok:
                    return
                yield frame
        finally:
            self.close()

    def close(self) -> None:
        self._cap.release()


class VideoSink:
    """``with VideoSink(path, fps, (w, h)) as sink: sink.write(bgr)``: appears complete or not at all."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix or '.mp4'}")
        self.fps, self.size = fps, size
        self.frames = 0
        self._writer = None

    def __enter__(self) -> VideoSink:
        cv2 = require("cv2")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
        if not self._writer.isOpened():
            raise StgcnError(f"{self.path}: OpenCV cannot write this video; use an .mp4 or .avi name")
        return self

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.release()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def count_frames(path: str | os.PathLike) -> int:
    """Decode ``path`` to the end and count its frames (the container's count can be wrong)."""
    return sum(1 for _ in FrameSource(path))
