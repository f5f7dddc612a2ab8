"""Pose backends: frames in, per-frame person detections out, in the backend's own joint layout.

A backend is any object with ``layout`` (a name of :data:`stgcn.layouts_map.JOINT_NAMES`) and
``detect(frame_bgr) -> [(keypoints [V, 2] pixels, scores [V]), ...]``; ``reset()`` starts a new video.

* ``mediapipe``: MediaPipe Pose (BlazePose, 33 landmarks, visibility as score), the legacy
  ``mp.solutions.pose`` API of mediapipe 0.10.21, ``model_complexity=1`` only: that model ships in the
  wheel, 0 and 2 would be downloaded. It finds one person per frame; the Tasks ``PoseLandmarker``
  (``num_poses`` > 1) needs a ``.task`` bundle that the wheel does not ship, so multi-person input
  comes from pose files (``stgcn.video.posefile``) of another estimator.
* ``file``: poses read from a pose file per video (see :func:`file_detections`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from stgcn.errors import StgcnError
from stgcn.video.deps import require
from stgcn.video.posefile import PoseTrack

BACKENDS = ("mediapipe", "file")


class MediapipePose:
    """MediaPipe BlazePose on BGR frames; one person per frame at most."""

    layout = "blazepose-33"

    def __init__(self, model_complexity: int = 1, min_detection_confidence: float = 0.5) -> None:
        if model_complexity != 1:
            raise StgcnError(f"model_complexity={model_complexity}: only 1 works offline (the model "
                             "shipped in mediapipe 0.10.21); 0 and 2 would be downloaded")
        self._mp = require("mediapipe")
        self._cv2 = require("cv2")
        self._conf = min_detection_confidence
        self._pose = None

    def reset(self) -> None:
        """Start a new video: forget the landmark tracking state of the last one."""
        self.close()
        self._pose = self._mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                                  min_detection_confidence=self._conf)

    def detect(self, frame: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if self._pose is None:
            self.reset()
        height, width = frame.shape[:2]
        result = self._pose.process(self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB))
        if result.pose_landmarks is None:
            return []
        marks = result.pose_landmarks.landmark
        keypoints = np.array([[m.x * width, m.y * height] for m in marks], np.float32)
        scores = np.clip(np.array([m.visibility for m in marks], np.float32), 0.0, 1.0)
        return [(keypoints, scores)]

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None


def file_detections(track: PoseTrack) -> Iterator[list[tuple[np.ndarray, np.ndarray, int]]]:
    """Per frame of ``track``: ``(keypoints, scores, person_id)`` of the persons present."""
    present = track.keypoint_score.max(axis=2) > 0  # [T, P]
    for t in range(track.num_frames):
        yield [(track.keypoint[t, p], track.keypoint_score[t, p], int(p)) for p in np.flatnonzero(present[t])]
