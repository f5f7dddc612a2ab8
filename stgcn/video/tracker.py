"""Keep person ids stable across frames: greedy box-IoU matching with a centroid-distance fallback.

Each person's box is the bounding box of its confident joints. A detection joins the live track with
the highest IoU when that IoU reaches ``iou_gate``; failing that, the nearest track whose centroid lies
within ``dist_gate`` box diagonals. A track unseen for more than ``max_age`` frames stops matching
by position; until ``MAX_BREAK`` frames have passed, a detection that matches no live track takes the
id of the track lost most recently (one person missed for a moment stays one person, whatever it did
meanwhile). Other detections start new tracks (new ids, never reused).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_BREAK = 30  # frames (about a second): a person back after a longer absence is taken for another


def person_box(keypoints: np.ndarray, scores: np.ndarray, min_score: float = 0.1) -> np.ndarray | None:
    """``[x0, y0, x1, y1]`` of the joints scoring at least ``min_score``; None when fewer than two do."""
    good = keypoints[scores >= min_score]
    if len(good) < 2:
        return None
    return np.concatenate([good.min(0), good.max(0)]).astype(np.float64)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    last_seen: int


class Tracker:
    """``ids = tracker.update([(keypoints [V, 2], scores [V]), ...])`` once per frame, in frame order.

    Returns one id per detection (-1 for a detection without a usable box: fewer than two confident joints).
    """

    def __init__(self, iou_gate: float = 0.3, dist_gate: float = 0.5, max_age: int = 15,
                 max_break: int = MAX_BREAK) -> None:
        self.iou_gate, self.dist_gate, self.max_age, self.max_break = iou_gate, dist_gate, max_age, max_break
        self.tracks: list[_Track] = []
        self.lost: list[_Track] = []  # unseen for more than max_age frames, revivable until max_break
        self.frame = -1
        self.next_id = 0

    def _match(self, box: np.ndarray, free: list[_Track]) -> _Track | None:
        if not free:
            return None
        ious = [box_iou(box, t.box) for t in free]
        best = int(np.argmax(ious))
        if ious[best] >= self.iou_gate:
            return free[best]
        centre = (box[:2] + box[2:]) / 2
        dists = []
        for t in free:
            diag = np.hypot(*(t.box[2:] - t.box[:2])) or 1.0
            dists.append(np.hypot(*(centre - (t.box[:2] + t.box[2:]) / 2)) / diag)
        best = int(np.argmin(dists))
        return free[best] if dists[best] <= self.dist_gate else None

    def update(self, detections: list[tuple[np.ndarray, np.ndarray]]) -> list[int]:
        self.frame += 1
        self.lost += [t for t in self.tracks if self.frame - t.last_seen > self.max_age]
        self.tracks = [t for t in self.tracks if self.frame - t.last_seen <= self.max_age]
        self.lost = sorted((t for t in self.lost if self.frame - t.last_seen <= self.max_break),
                           key=lambda t: -t.last_seen)
        boxes = [person_box(kp, sc) for kp, sc in detections]
        ids = [-1] * len(detections)
        free = list(self.tracks)
        # confident, large people pick first: they are the least ambiguous matches
        order = sorted((i for i, b in enumerate(boxes) if b is not None),
                       key=lambda i: -float(detections[i][1].sum()))
        for i in order:
            track = self._match(boxes[i], free)
            if track is not None:
                free.remove(track)
            elif self.lost:
                track = self.lost.pop(0)
                self.tracks.append(track)
            else:
                track = _Track(self.next_id, boxes[i], self.frame)
                self.next_id += 1
                self.tracks.append(track)
            track.box, track.last_seen = boxes[i], self.frame
            ids[i] = track.track_id
        return ids
