"""The demo loop: video (or webcam) -> poses -> action labels -> the video with skeletons and labels drawn.

Two ways to label, both on :mod:`stgcn.inference`:

* whole clip (no window): a first pass estimates and tracks the poses of every frame, the clip is
  classified once (one sample of the model's persons, or one sample per person with ``per_person``),
  and a second pass draws that label on every frame;
* sliding window: one pass; a :class:`~stgcn.inference.stream.StreamRecognizer` receives every frame's
  persons and emits a prediction every ``stride`` frames over the last ``window``; each frame shows the
  latest one. This is the only mode for a webcam.

Poses come from a backend (``stgcn.video.backends``) or a pose file, in their own layout, and are
mapped onto the checkpoint's layout (``stgcn.layouts_map``) before drawing and classifying.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from stgcn.errors import StgcnError
from stgcn.layouts_map import JointMap, joint_map, map_keypoints
from stgcn.progress import Progress
from stgcn.video.backends import file_detections
from stgcn.video.draw import draw_label, draw_skeleton, label_origin, person_color
from stgcn.video.extract import select_persons, to_sample
from stgcn.video.io import FrameSource, VideoSink
from stgcn.video.posefile import PoseTrack, from_detections
from stgcn.video.tracker import Tracker

Detections = list[tuple[np.ndarray, np.ndarray, int]]  # (keypoints [V, 2], scores [V], person id)


@dataclass
class DemoResult:
    """What a demo run did: frames read and written, and every prediction made (JSON-ready rows)."""

    frames_read: int = 0
    frames_written: int = 0
    predictions: list[dict] = field(default_factory=list)


def _row(pred, frame: int | None, person_id: int | None) -> dict:
    return {"frame": frame, "person_id": None if person_id is None else int(person_id),
            "top_k": [[int(i), name, round(float(s), 6)] for i, name, s in pred.top_k]}


def _caption(pred) -> str:
    index, name, score = pred.top_k[0]
    return f"{name if name is not None else f'class {index}'} {score:.2f}"


def posed_frames(source: FrameSource, backend=None, track: PoseTrack | None = None,
                 mapping: JointMap | None = None) -> Iterator[tuple[np.ndarray, Detections]]:
    """Each frame of ``source`` with its tracked persons, mapped by ``mapping`` (backend or pose file)."""
    if (backend is None) == (track is None):
        raise ValueError("give exactly one of backend, track")
    if track is not None:
        rows = file_detections(track)
    else:
        backend.reset()
        tracker = Tracker()
    for frame in source:
        if track is not None:
            dets = next(rows, [])
        else:
            found = backend.detect(frame)
            dets = [(kp, sc, pid) for (kp, sc), pid in zip(found, tracker.update(found), strict=True)]
        if mapping is not None:
            dets = [(*map_keypoints(kp, sc, mapping), pid) for kp, sc, pid in dets]
        yield frame, dets


def _draw(frame: np.ndarray, dets: Detections, layout: str, captions: dict, per_person: bool) -> None:
    for kp, sc, pid in dets:
        draw_skeleton(frame, kp, sc, layout, person_color(pid))
        if per_person and pid in captions:
            draw_label(frame, f"#{pid} {captions[pid]}", label_origin(kp, sc, frame), person_color(pid))
    if not per_person and None in captions:
        draw_label(frame, captions[None], (8, 8), (255, 255, 255))


def _emitted(preds: list, per_person: bool) -> Iterator[tuple[int | None, object]]:
    """``(person id or None for the scene, prediction)`` of what the stream emitted this frame."""
    for pred in preds:
        yield (pred.person_ids[0] if per_person else None), pred


def _layout_of(recognizer, source_layout: str, drop: tuple[str, ...]) -> tuple[str, JointMap]:
    layout = recognizer.layout
    if not isinstance(layout, str):
        raise StgcnError("checkpoint: its graph layout is a custom dict; the demo needs a named 2D layout "
                         "(e.g. coco) to map the poses onto")
    return layout, joint_map(source_layout, layout, drop)


def classify_clip(recognizer, rows: list[Detections], layout: str, img_shape: tuple[int, int],
                  per_person: bool, top_k: int = 5) -> dict:
    """Whole-clip predictions: ``{None: pred}`` for the scene, or ``{person_id: pred}`` per person."""
    track = from_detections(rows, layout, img_shape)
    ids = sorted({pid for dets in rows for *_, pid in dets if pid >= 0})
    if not ids:
        return {}
    if not per_person:
        sample = to_sample(track, layout, "clip", 0, recognizer.num_person)
        return {None: recognizer.predict([sample], top_k=top_k)[0]}
    slots = select_persons(track.keypoint_score, len(ids))
    samples = [to_sample(PoseTrack(layout, track.img_shape, track.keypoint[:, [s]],
                                   track.keypoint_score[:, [s]]), layout, f"person{ids[s]}", 0, 1)
               for s in slots]
    return {ids[s]: p for s, p in zip(slots, recognizer.predict(samples, top_k=top_k), strict=True)}


def run_clip_demo(video: str, out: str, recognizer, backend=None, track: PoseTrack | None = None,
                  per_person: bool = False, drop: tuple[str, ...] = (),
                  progress: bool | None = None) -> DemoResult:
    """Whole-clip mode: pass 1 poses, one classification, pass 2 draws; returns the :class:`DemoResult`."""
    source = FrameSource(video)
    layout, mapping = _layout_of(recognizer, backend.layout if backend is not None else track.layout, drop)
    result = DemoResult()
    bar = Progress(total=2 * source.frame_count or None, desc="demo frames", enabled=progress)
    rows = []
    for _, dets in posed_frames(source, backend, track, mapping):
        rows.append(dets)
        bar.update(1)
    result.frames_read = len(rows)
    preds = classify_clip(recognizer, rows, layout, (source.height, source.width), per_person)
    captions = {pid: _caption(p) for pid, p in preds.items()}
    result.predictions = [_row(p, None, pid) for pid, p in preds.items()]
    second = FrameSource(video)
    with VideoSink(out, source.fps, (source.width, source.height)) as sink:
        for t, frame in enumerate(second):
            _draw(frame, rows[t] if t < len(rows) else [], layout, captions, per_person)
            sink.write(frame)
            bar.update(1)
        result.frames_written = sink.frames
    bar.close()
    return result


def run_window_demo(source: FrameSource, out: str, stream, recognizer, backend=None,
                    track: PoseTrack | None = None, per_person: bool = False, max_frames: int = 0,
                    drop: tuple[str, ...] = (), progress: bool | None = None) -> DemoResult:
    """Sliding-window mode with ``stream`` (a StreamRecognizer); ends at ``max_frames`` or Ctrl-C."""
    layout, mapping = _layout_of(recognizer, backend.layout if backend is not None else track.layout, drop)
    result, captions = DemoResult(), {}
    bar = Progress(total=source.frame_count or None, desc="demo frames", enabled=progress)
    num_joints = len(mapping.parts)
    with VideoSink(out, source.fps, (source.width, source.height)) as sink:
        try:
            for t, (frame, dets) in enumerate(posed_frames(source, backend, track, mapping)):
                result.frames_read += 1
                kp = np.stack([d[0] for d in dets]) if dets else np.zeros((0, num_joints, 2), np.float32)
                sc = np.stack([d[1] for d in dets]) if dets else np.zeros((0, num_joints), np.float32)
                for pid, pred in _emitted(stream.push(kp, sc, [d[2] for d in dets]), per_person):
                    captions[pid] = _caption(pred)
                    result.predictions.append(_row(pred, t, pid))
                _draw(frame, dets, layout, captions, per_person)
                sink.write(frame)
                bar.update(1)
                if max_frames and result.frames_read >= max_frames:
                    break
        except KeyboardInterrupt:  # a webcam runs until Ctrl-C: keep what was recorded
            source.close()
        result.frames_written = sink.frames
    bar.close()
    return result
