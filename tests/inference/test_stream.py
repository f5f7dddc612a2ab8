"""StreamRecognizer: emission schedule, window contents, persons entering/leaving, bounded memory, errors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from stgcn.errors import StgcnError
from stgcn.inference.stream import StreamRecognizer

V = 5


@dataclass
class _Pred:
    scores: np.ndarray
    top_k: list


class RecordingRecognizer:
    """Records the samples it is asked to classify; scores are 2 classes, deterministic in the input."""

    num_joints, in_channels, num_classes = V, 3, 2

    def __init__(self, num_person: int = 1) -> None:
        self.num_person = num_person
        self.calls: list[list[dict]] = []

    def predict(self, samples, top_k=5):
        self.calls.append(samples)
        out = []
        for s in samples:
            p = 1.0 / (1.0 + np.exp(-float(s["keypoint"].mean())))
            scores = np.array([1 - p, p], np.float32)
            out.append(_Pred(scores, [(int(scores.argmax()), None, float(scores.max()))]))
        return out


def frame(value: float, persons: int = 1) -> tuple[np.ndarray, np.ndarray]:
    return np.full((persons, V, 2), value, np.float32), np.ones((persons, V), np.float32)


def test_emits_every_stride_over_the_last_window_frames():
    rec = RecordingRecognizer()
    stream = StreamRecognizer(rec, window=8, stride=4, min_frames=4)
    emitted = {}
    for t in range(21):
        out = stream.push(*frame(t))
        if out:
            emitted[t] = out
    assert sorted(emitted) == [3, 7, 11, 15, 19]
    assert [e[0].num_frames for e in emitted.values()] == [4, 8, 8, 8, 8]
    last = rec.calls[-1][0]
    np.testing.assert_array_equal(last["keypoint"][0, :, 0, 0], np.arange(12, 20))  # oldest first
    assert last["keypoint"].shape == (1, 8, V, 2) and last["keypoint_score"].shape == (1, 8, V)
    assert last["total_frames"] == 8 and emitted[19][0].frame_index == 19
    assert emitted[19][0].person_ids == (0,)


def test_group_mode_takes_the_most_visible_persons():
    rec = RecordingRecognizer(num_person=2)
    stream = StreamRecognizer(rec, window=6, stride=6, min_frames=6)
    for t in range(6):
        ids = ["a", "b", "c"] if t >= 3 else ["a", "c"]  # b seen on 3 frames, a and c on 6
        kp, score = frame(t, len(ids))
        out = stream.push(kp, score, person_ids=ids)
    assert out[0].person_ids == ("a", "c")
    assert rec.calls[-1][0]["keypoint"].shape[0] == 2


def test_absent_frames_are_zero_and_absent_persons_are_dropped():
    rec = RecordingRecognizer()
    stream = StreamRecognizer(rec, window=4, stride=1, min_frames=2, mode="per-person")
    stream.push(*frame(5.0), person_ids=["a"])
    stream.push(*frame(6.0, 2), person_ids=["a", "b"])  # b enters
    out = stream.push(*frame(7.0), person_ids=["b"])  # a misses this frame
    by_id = {p.person_ids: p for p in out}
    assert set(by_id) == {("a",), ("b",)}
    assert by_id[("a",)].num_frames == 3 and by_id[("b",)].num_frames == 2  # b's window starts when b entered
    a_window = next(s for s in rec.calls[-1] if s["keypoint"].shape[1] == 3)
    np.testing.assert_array_equal(a_window["keypoint"][0, :, 0, 0], [5.0, 6.0, 0.0])
    np.testing.assert_array_equal(a_window["keypoint_score"][0, :, 0], [1.0, 1.0, 0.0])
    for _ in range(4):  # a absent for a whole window
        out = stream.push(*frame(8.0), person_ids=["b"])
    assert [p.person_ids for p in out] == [("b",)]
    stream.push(*frame(9.0, 2), person_ids=["a", "b"])  # a returns: a new track, no emission yet
    out = stream.push(*frame(9.0, 2), person_ids=["a", "b"])
    assert {p.person_ids: p.num_frames for p in out} == {("a",): 2, ("b",): 4}


def test_memory_is_bounded_on_a_long_stream_with_many_persons():
    stream = StreamRecognizer(RecordingRecognizer(), window=8, stride=8, max_persons=3)
    stream.push(*frame(0.0))
    buffers = (stream._kp, stream._score, stream._present)
    for t in range(1, 400):
        stream.push(*frame(float(t % 7), 2), person_ids=[t // 10, 1000 + t // 25])  # ids keep changing
    assert (stream._kp, stream._score, stream._present) == buffers  # the same arrays, never reallocated
    assert len(stream._slot_of) <= 3 and stream._kp.shape == (3, 8, V, 2)


def test_more_persons_than_slots_keeps_the_tracked_ones():
    rec = RecordingRecognizer(num_person=2)
    stream = StreamRecognizer(rec, window=2, stride=2, min_frames=2, max_persons=2)
    stream.push(*frame(1.0, 3), person_ids=["a", "b", "c"])
    out = stream.push(*frame(1.0, 3), person_ids=["a", "b", "c"])
    assert out[0].person_ids == ("a", "b")


def test_nothing_before_min_frames_and_nothing_for_an_empty_scene():
    rec = RecordingRecognizer()
    stream = StreamRecognizer(rec, window=8, stride=2, min_frames=6)
    assert all(stream.push(*frame(1.0)) == [] for _ in range(5))
    assert stream.push(*frame(1.0))
    empty = np.zeros((0, V, 2), np.float32)
    for _ in range(8):
        out = stream.push(empty, np.zeros((0, V), np.float32))
    assert out == [] and stream.frames_seen == 14
    with pytest.raises(StgcnError, match="window is empty"):
        stream.emit()


@pytest.mark.parametrize("kp, score, match", [
    (np.zeros((1, V + 1, 2)), np.ones((1, V + 1)), "expected \\[M, 5, C\\]"),
    (np.zeros((1, V, 3)), np.ones((1, V)), "C=3 coordinates"),
    (np.zeros((1, V, 2)), None, "with keypoint_score"),
    (np.full((1, V, 2), np.nan), np.ones((1, V)), "NaN"),
    (np.zeros((1, V, 2)), np.ones((2, V)), "keypoint_score has shape"),
])
def test_bad_frames_raise_one_line_errors(kp, score, match):
    stream = StreamRecognizer(RecordingRecognizer(), window=4, stride=2)
    with pytest.raises(StgcnError, match=match) as err:
        stream.push(kp, score)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs", [dict(mode="each"), dict(window=0), dict(min_frames=9, window=8),
                                    dict(stride=0)])
def test_bad_settings_raise(kwargs):
    with pytest.raises(StgcnError, match="StreamRecognizer"):
        StreamRecognizer(RecordingRecognizer(), **kwargs)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_emissions_equal_the_recognizer_on_the_same_window(tmp_path, backend):
    import stgcn
    from stgcn.data import make_synthetic
    from stgcn.engine.config import load_config
    from stgcn.inference.api import Recognizer
    from tests.engine.tiny import write_tiny_config

    cfg = load_config(str(write_tiny_config(tmp_path)))
    model = stgcn.build_model(cfg["model"])
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime")  # the [onnx] extra; CI installs it
    rec = Recognizer(model, cfg, backend=backend)
    sample = make_synthetic(1, 4, "coco", min_frames=30, max_frames=30)["annotations"][0]
    kp, score = sample["keypoint"], sample["keypoint_score"]
    stream = StreamRecognizer(rec, window=20, stride=5, min_frames=10, top_k=3)
    emitted = []
    for t in range(30):
        emitted += stream.push(kp[:, t], score[:, t])
    assert [p.frame_index for p in emitted] == [9, 14, 19, 24, 29]
    want = rec.scores(dict(keypoint=kp[:, 10:], keypoint_score=score[:, 10:], total_frames=20))[0]
    np.testing.assert_allclose(emitted[-1].scores, want, rtol=1e-6)
    assert emitted[-1].num_frames == 20 and len(emitted[-1].top_k) == 3
    assert emitted[-1].top_k[0][0] == int(want.argmax())


def test_the_test_pipeline_is_built_once_for_all_emissions(tmp_path, monkeypatch):
    import stgcn
    from stgcn.data import make_synthetic
    from stgcn.engine.config import load_config
    from stgcn.inference import api
    from tests.engine.tiny import write_tiny_config

    cfg = load_config(str(write_tiny_config(tmp_path)))
    model = stgcn.build_model(cfg["model"])
    builds = []
    real_build = api.build_pipeline
    monkeypatch.setattr(api, "build_pipeline", lambda steps: builds.append(1) or real_build(steps))
    rec = api.Recognizer(model, cfg)
    sample = make_synthetic(1, 4, "coco", min_frames=30, max_frames=30)["annotations"][0]
    kp, score = sample["keypoint"], sample["keypoint_score"]
    stream = StreamRecognizer(rec, window=12, stride=4, min_frames=8)
    emitted = []
    for t in range(30):
        emitted += stream.push(kp[:, t], score[:, t])
    assert len(emitted) == 6 and len(builds) == 1
    fresh = api.Recognizer(model, cfg)  # builds its own pipeline: the reused one must give the same
    for pred in emitted:
        end = pred.frame_index + 1
        window = dict(keypoint=kp[:, end - 12:end], keypoint_score=score[:, end - 12:end], total_frames=12)
        if end < 12:
            window = dict(keypoint=kp[:, :end], keypoint_score=score[:, :end], total_frames=end)
        np.testing.assert_allclose(pred.scores, fresh.scores(window)[0], rtol=1e-6)
