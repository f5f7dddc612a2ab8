"""Streaming recognition: feed skeletons frame by frame, get a label every ``stride`` frames.

:class:`StreamRecognizer` keeps the last ``window`` frames of each tracked person in fixed ring buffers
(allocated once, at the first frame; memory does not grow with the stream) and, every ``stride``
frames, classifies the window with a :class:`~stgcn.inference.api.Recognizer`, so each window goes
through the checkpoint's own test pipeline exactly like a whole clip would.

Two modes:

* ``group``: the scene is one sample, as the model was trained: the ``num_person`` persons present on
  most frames of the window (ties: the one tracked longest), most visible first;
* ``per-person``: every tracked person gets its own label from its own window, which starts at the
  person's first frame (at most ``window`` frames back), so a person who just entered is not diluted by
  frames from before they appeared.

Rules for persons entering, leaving and missing frames:

* a person is known by its ``person_ids`` entry (default: its row index in the frame);
* a tracked person absent from a frame gets zeros (score 0) for that frame;
* a person absent for the whole window is dropped and their slot is freed;
* at most ``max_persons`` persons are tracked; a newcomer takes a free slot, else the slot of the person
  seen least recently (that person's history is forgotten); if every slot holds a person seen in the
  current frame, the extra persons of that frame are ignored;
* nothing is emitted before ``min_frames`` frames (per-person mode: before the person has been tracked
  for ``min_frames`` frames); a scheduled emission with nobody in the window emits nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from stgcn.errors import StgcnError
from stgcn.inference.inputs import check_img_shape

MODES = ("group", "per-person")


@dataclass
class StreamPrediction:
    """One emission: the window ending at ``frame_index`` (0-based count of pushed frames)."""

    frame_index: int
    person_ids: tuple
    num_frames: int
    top_k: list[tuple[int, str | None, float]]
    scores: np.ndarray


class StreamRecognizer:
    """Frame-by-frame recognition over a sliding window (see the module docstring for the rules).

    ``recognizer`` is a :class:`~stgcn.inference.api.Recognizer`. Frames are ``keypoint [M, V, C]``
    (``[V, C]`` is one person) with, for 2D data, ``keypoint_score [M, V]``: C is the model's
    ``in_channels`` without scores, or one less with them. ``img_shape=(h, w)`` is passed to pipelines
    that normalise pixel coordinates.
    """

    def __init__(self, recognizer, window: int = 64, stride: int = 8, mode: str = "group",
                 min_frames: int | None = None, max_persons: int = 8, top_k: int = 5,
                 img_shape: Sequence[int] | None = None) -> None:
        if mode not in MODES:
            raise StgcnError(f"StreamRecognizer: mode={mode!r} is not valid; use one of {', '.join(MODES)}")
        min_frames = min(window, 16) if min_frames is None else min_frames
        if window < 1 or stride < 1 or not 1 <= min_frames <= window:
            raise StgcnError(f"StreamRecognizer: need window >= 1, stride >= 1 and "
                             f"1 <= min_frames <= window, got window={window}, stride={stride}, "
                             f"min_frames={min_frames}")
        if max_persons < 1:
            raise StgcnError(f"StreamRecognizer: max_persons must be >= 1, got {max_persons}")
        self.recognizer = recognizer
        self.window, self.stride, self.mode, self.min_frames = window, stride, mode, min_frames
        self.max_persons, self.top_k = max_persons, top_k
        if img_shape is not None:
            self.img_shape = check_img_shape(img_shape, "StreamRecognizer")
        elif getattr(recognizer, "needs_img_shape", False):
            raise StgcnError("StreamRecognizer: img_shape is needed; this checkpoint's test pipeline divides "
                             "2D pixel coordinates by the frame size (PreNormalize2D): pass "
                             "img_shape=(height, width) of the video the keypoints come from")
        else:
            self.img_shape = None
        self.num_joints: int = recognizer.num_joints
        self.in_channels: int = recognizer.in_channels
        self._kp: np.ndarray | None = None  # ring buffers, sized at the first frame with a person
        self._score: np.ndarray | None = None
        self._present: np.ndarray | None = None
        self._scored = False
        self.reset()

    def reset(self) -> None:
        """Forget every frame and person (the buffers are kept)."""
        self.frames_seen = 0
        self._ids: list[Hashable | None] = [None] * self.max_persons
        self._slot_of: dict[Hashable, int] = {}
        self._first = np.zeros(self.max_persons, np.int64)
        self._last = np.full(self.max_persons, -1, np.int64)
        if self._present is not None:
            self._present[:] = False

    # ---- frames in ------------------------------------------------------------------------------------

    def _allocate(self, coords: int, scored: bool) -> None:
        s, w, v = self.max_persons, self.window, self.num_joints
        self._coords, self._scored = coords, scored
        self._kp = np.zeros((s, w, v, coords), np.float32)
        self._score = np.zeros((s, w, v), np.float32) if scored else None
        self._present = np.zeros((s, w), bool)

    def _where(self) -> str:
        return f"stream frame {self.frames_seen}"

    def _validate(self, keypoint, keypoint_score, person_ids) -> tuple[np.ndarray, np.ndarray | None, list]:
        kp = np.asarray(keypoint, dtype=np.float32)
        score = None if keypoint_score is None else np.asarray(keypoint_score, dtype=np.float32)
        if kp.ndim == 2:
            kp = kp[None]
            score = None if score is None else score.reshape(1, -1)
        if kp.ndim != 3 or kp.shape[1] != self.num_joints:
            raise StgcnError(f"{self._where()}: keypoint has shape {kp.shape}; expected [M, "
                             f"{self.num_joints}, C] (M persons, the checkpoint's {self.num_joints} joints)")
        coords = self.in_channels - 1 if score is not None else self.in_channels
        if kp.shape[2] != coords:
            hint = "without keypoint_score" if score is not None else "with keypoint_score [M, V]"
            raise StgcnError(f"{self._where()}: keypoint has C={kp.shape[2]} coordinates but the model takes "
                             f"{self.in_channels} channels: give C={coords}, or pass it {hint}")
        if score is not None and score.shape != kp.shape[:2]:
            raise StgcnError(f"{self._where()}: keypoint_score has shape {score.shape}, expected "
                             f"{kp.shape[:2]} ([M, V] of keypoint)")
        if self._kp is not None and kp.shape[0] and (score is not None) != self._scored:
            raise StgcnError(f"{self._where()}: keypoint_score was {'not ' if self._scored else ''}given on "
                             "earlier frames; give it on every frame or on none (reset() starts over)")
        if not (np.isfinite(kp).all() and (score is None or np.isfinite(score).all())):
            raise StgcnError(f"{self._where()}: keypoint holds NaN/inf; set missing joints to 0 with "
                             "keypoint_score 0, or leave the person out of the frame")
        ids = list(range(kp.shape[0])) if person_ids is None else list(person_ids)
        if len(ids) != kp.shape[0] or len(set(ids)) != len(ids):
            raise StgcnError(f"{self._where()}: person_ids must give one distinct id per person "
                             f"({kp.shape[0]}), got {ids!r}")
        return kp, score, ids

    def _slot(self, pid: Hashable) -> int | None:
        """The slot tracking ``pid``; a newcomer takes a free, expired or least recently seen slot."""
        slot = self._slot_of.get(pid)
        now = self.frames_seen
        if slot is not None:
            if self._last[slot] <= now - self.window:  # back after a whole window away: a new track
                self._first[slot] = now
            return slot
        free = [i for i, owner in enumerate(self._ids) if owner is None or self._last[i] <= now - self.window]
        if free:
            slot = free[0]
        else:
            slot = int(np.argmin(self._last))
            if self._last[slot] == now:  # everyone tracked is in this frame
                return None
        if self._ids[slot] is not None:
            del self._slot_of[self._ids[slot]]
        self._ids[slot] = pid
        self._slot_of[pid] = slot
        self._first[slot] = now
        self._present[slot] = False
        return slot

    def push(self, keypoint, keypoint_score=None, person_ids: Sequence[Hashable] | None = None
             ) -> list[StreamPrediction]:
        """Add one frame; returns the predictions emitted at this frame (usually none)."""
        kp, score, ids = self._validate(keypoint, keypoint_score, person_ids)
        if self._kp is None:
            if not kp.shape[0]:
                self.frames_seen += 1  # nothing to size the buffers on yet; an empty frame
                return []
            self._allocate(kp.shape[2], score is not None)
        col = self.frames_seen % self.window
        self._kp[:, col] = 0.0
        self._present[:, col] = False
        if self._score is not None:
            self._score[:, col] = 0.0
        for row, pid in enumerate(ids):
            slot = self._slot(pid)
            if slot is None:
                continue
            self._kp[slot, col] = kp[row]
            if self._score is not None:
                self._score[slot, col] = score[row]
            self._present[slot, col] = True
            self._last[slot] = self.frames_seen
        self.frames_seen += 1
        due = self.frames_seen >= self.min_frames and (self.frames_seen - self.min_frames) % self.stride == 0
        return self._emit(strict=False) if due else []

    # ---- windows out ----------------------------------------------------------------------------------

    def _frames(self, length: int) -> np.ndarray:
        """Ring positions of the last ``length`` frames, oldest first."""
        return np.arange(self.frames_seen - length, self.frames_seen) % self.window

    def _sample(self, slots: list[int], length: int) -> dict:
        index = np.ix_(slots, self._frames(length))  # one gather, one copy
        sample = dict(keypoint=self._kp[index], total_frames=length, frame_dir=f"frame{self.frames_seen - 1}")
        if self._score is not None:
            sample["keypoint_score"] = self._score[index]
        if self.img_shape is not None:
            sample["img_shape"] = self.img_shape
        return sample

    def _windows(self) -> list[tuple[tuple, dict]]:
        """(person ids, sample) for each window to classify now."""
        length = min(self.window, self.frames_seen)
        visible = self._present[:, self._frames(length)].sum(1)
        tracked = [i for i in range(self.max_persons) if self._ids[i] is not None and visible[i] > 0]
        if self.mode == "group":
            chosen = sorted(tracked, key=lambda i: (-visible[i], self._first[i], i))
            chosen = chosen[: self.recognizer.num_person]
            return [(tuple(self._ids[i] for i in chosen), self._sample(chosen, length))] if chosen else []
        out = []
        for i in tracked:
            own = min(length, self.frames_seen - int(self._first[i]))
            if own >= self.min_frames:
                out.append(((self._ids[i],), self._sample([i], own)))
        return out

    def _emit(self, strict: bool) -> list[StreamPrediction]:
        windows = self._windows() if self._kp is not None else []
        if not windows:
            if strict:
                raise StgcnError(f"{self._where()}: the window is empty (no person in the last "
                                 f"{min(self.window, self.frames_seen)} frames); push frames with persons "
                                 "first")
            return []
        preds = self.recognizer.predict([sample for _, sample in windows], top_k=self.top_k)
        frame = self.frames_seen - 1
        return [StreamPrediction(frame, ids, sample["total_frames"], pred.top_k, pred.scores)
                for (ids, sample), pred in zip(windows, preds, strict=True)]

    def emit(self) -> list[StreamPrediction]:
        """Classify the current window now, off the stride schedule (e.g. at the end of a stream)."""
        return self._emit(strict=True)
