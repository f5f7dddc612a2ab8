"""Skeletons and labels drawn onto BGR frames (in place), bones from :mod:`stgcn.graph`."""

from __future__ import annotations

import numpy as np

from stgcn.graph import get_layout
from stgcn.video.deps import require

# BGR colours cycled by person id
PALETTE = ((0, 200, 255), (255, 120, 0), (80, 220, 80), (220, 60, 220), (60, 60, 255), (255, 255, 0))


def person_color(person_id: int | None) -> tuple[int, int, int]:
    return PALETTE[(person_id or 0) % len(PALETTE)]


def _scale(frame: np.ndarray) -> float:
    return max(frame.shape[:2]) / 640.0


def draw_skeleton(frame: np.ndarray, keypoint: np.ndarray, score: np.ndarray, layout: str,
                  color: tuple[int, int, int], min_score: float = 0.3) -> None:
    """Bones of ``layout`` and joints whose score reaches ``min_score``; ``keypoint [V, 2]`` pixels."""
    cv2 = require("cv2")
    s = _scale(frame)
    thick, radius = max(1, round(2 * s)), max(2, round(3 * s))
    pts = np.round(keypoint).astype(int)
    ok = score >= min_score
    for i, j in get_layout(layout).edges:
        if ok[i] and ok[j]:
            cv2.line(frame, tuple(pts[i]), tuple(pts[j]), color, thick, cv2.LINE_AA)
    for v in np.flatnonzero(ok):
        cv2.circle(frame, tuple(pts[v]), radius, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(frame, tuple(pts[v]), radius, color, max(1, thick // 2), cv2.LINE_AA)


def draw_label(frame: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int]) -> None:
    """``text`` on a filled box whose top-left corner is ``origin`` (kept inside the frame)."""
    cv2 = require("cv2")
    s = _scale(frame)
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.6 * s, max(1, round(1.5 * s))
    (w, h), base = cv2.getTextSize(text, font, size, thick)
    x = int(min(max(origin[0], 0), max(frame.shape[1] - w - 4, 0)))
    y = int(min(max(origin[1], 0), max(frame.shape[0] - h - base - 4, 0)))
    cv2.rectangle(frame, (x, y), (x + w + 4, y + h + base + 4), color, -1)
    cv2.putText(frame, text, (x + 2, y + h + 2), font, size, (0, 0, 0), thick, cv2.LINE_AA)


def label_origin(keypoint: np.ndarray, score: np.ndarray, frame: np.ndarray,
                 min_score: float = 0.3) -> tuple[int, int]:
    """Above the person's highest confident joint (top-left of the frame when none is confident)."""
    ok = score >= min_score
    if not ok.any():
        return (4, 4)
    pts = keypoint[ok]
    return int(pts[:, 0].min()), int(pts[:, 1].min() - 30 * _scale(frame))
