"""Recognizer: scores equal tools/test.py's, class names, batching, the fused path and input errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from stgcn import Recognizer, StgcnError
from stgcn.commands import test as test_command
from stgcn.data import dump_pickle
from stgcn.engine.config import load_config
from tests.engine.tiny import TINY_CONFIG
from tests.inference.helpers import NUM_CLASSES, make_checkpoint, make_samples, softmax


def _tools_test_logits(tmp_path, ckpt, samples) -> np.ndarray:
    """tools/test.py CONFIG CHECKPOINT --out on an annotation file holding `samples`."""
    ann = tmp_path / "ann.pkl"
    dump_pickle(samples, ann)
    config = tmp_path / "test_cfg.py"
    config.write_text(TINY_CONFIG + f"data['test'] = dict(type='PoseDataset', ann_file={str(ann)!r}, "
                                    "pipeline=test_pipeline)\n")
    out = tmp_path / "logits.pkl"
    assert test_command.main([str(config), str(ckpt), "--out", str(out), "--device", "cpu"]) == 0
    with open(out, "rb") as f:
        return np.stack(pickle.load(f))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(directory, checkpoint, Recognizer) built once for the module."""
    directory = tmp_path_factory.mktemp("tiny")
    ckpt = make_checkpoint(directory)
    return directory, ckpt, Recognizer.from_checkpoint(str(ckpt))


def test_scores_equal_softmax_of_tools_test_out(tmp_path, tiny):
    _, ckpt, rec = tiny
    samples = make_samples(7)
    expected = softmax(_tools_test_logits(tmp_path, ckpt, samples))
    assert rec.fast_model is not None  # the fused path is what is compared
    scores = rec.scores(samples, batch_size=3)
    assert scores.shape == (7, NUM_CLASSES) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, atol=1e-5, rtol=0)
    assert not np.allclose(scores, scores[0])  # samples really differ


def test_batching_fusion_and_person_axis_do_not_change_scores(tiny):
    rec = tiny[2]
    plain = Recognizer(rec.model, rec.cfg, device="cpu", fuse=False)
    samples = make_samples(4)
    one_by_one = np.concatenate([plain.scores(s) for s in samples])
    np.testing.assert_allclose(rec.scores(samples, batch_size=2), one_by_one, atol=1e-5, rtol=0)
    first = samples[0]
    single = dict(first, keypoint=first["keypoint"][0], keypoint_score=first["keypoint_score"][0])
    np.testing.assert_array_equal(rec.scores(single), rec.scores(samples[0]))


def test_predict_top_k_names_frame_dir_and_label(tmp_path):
    names = ["walk", "run", "jump", "sit"]
    rec = Recognizer.from_checkpoint(str(make_checkpoint(tmp_path, class_names=names)))
    assert rec.class_names == names
    assert (rec.num_joints, rec.in_channels, rec.num_person, rec.layout) == (17, 3, 1, "coco")
    samples = make_samples(3)
    del samples[2]["label"], samples[2]["frame_dir"]
    preds = rec.predict(samples, top_k=3)
    scores = rec.scores(samples)
    for pred, row in zip(preds, scores, strict=True):
        np.testing.assert_array_equal(pred.scores, row)
        assert [c for c, _, _ in pred.top_k] == list(np.argsort(-row)[:3])
        assert [n for _, n, _ in pred.top_k] == [names[c] for c, _, _ in pred.top_k]
        assert pred.top_k[0][2] == pytest.approx(float(row.max()))
    assert (preds[0].frame_dir, preds[0].label) == ("clip0", 0)
    assert (preds[2].frame_dir, preds[2].label) == (None, None)
    assert len(rec.predict(samples[0], top_k=50)[0].top_k) == NUM_CLASSES


def test_class_names_from_label_map_config_or_none(tmp_path, tiny):
    directory, ckpt, rec = tiny
    assert rec.class_names is None
    label_map = tmp_path / "labels.txt"
    label_map.write_text("a\nb\nc\nd\n")
    assert Recognizer.from_checkpoint(str(ckpt), label_map=str(label_map)).class_names == ["a", "b", "c", "d"]
    cfg = load_config(directory / "tiny.py")
    cfg["class_names"] = ["w", "x", "y", "z"]
    assert Recognizer.from_checkpoint(str(ckpt), config=cfg).class_names == ["w", "x", "y", "z"]
    label_map.write_text("a\nb\nc\n")
    with pytest.raises(StgcnError, match=r"3 class names but the model has num_classes=4"):
        Recognizer.from_checkpoint(str(ckpt), label_map=str(label_map))


def test_checkpoint_without_config_needs_one(tmp_path):
    ckpt = make_checkpoint(tmp_path, with_config=False)
    with pytest.raises(StgcnError, match=r"carries no config.*--config CONFIG"):
        Recognizer.from_checkpoint(str(ckpt))
    rec = Recognizer.from_checkpoint(str(ckpt), config=str(tmp_path / "tiny.py"))
    assert rec.scores(make_samples(1)).shape == (1, NUM_CLASSES)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(keypoint=s["keypoint"][:, :, :13], keypoint_score=s["keypoint_score"][:, :, :13]),
     r"keypoint has V=13 joints but the checkpoint's layout coco has 17"),
    (lambda s: s.update(keypoint=np.concatenate([s["keypoint"], s["keypoint"][..., :1]], -1)),
     r"\(keypoint \(1, 17, 17, 3\) \+ keypoint_score\).*in_channels=3"),
    (lambda s: s["keypoint"].__setitem__((0, 3, 2, 0), np.nan), r"keypoint holds NaN/inf values"),
    (lambda s: s.update(keypoint=s["keypoint"][:, :0], keypoint_score=s["keypoint_score"][:, :0]),
     r"keypoint is empty .*T=0"),
    (lambda s: s.pop("keypoint"), r"no 'keypoint'"),
    (lambda s: s.update(keypoint_score=s["keypoint_score"][:, :5]), r"keypoint_score has shape"),
    (lambda s: s.update(keypoint=[[[1.0, 2.0]] * 17, [[1.0, 2.0]] * 16]), r"keypoint is not a numeric array"),
    (lambda s: s.update(label="golf"), r"label='golf' is not a class index"),
    (lambda s: s.update(label=7), r"label=7 is outside 0..3"),
    (lambda s: s.update(img_shape=480), r"img_shape=480 is not \(height, width\)"),
    (lambda s: s.update(img_shape=(0, 0)), r"img_shape=\(0, 0\) must be positive"),
])
def test_bad_samples_give_one_line_errors(tiny, change, message):
    rec = tiny[2]
    samples = make_samples(2)
    change(samples[1])
    with pytest.raises(StgcnError, match=message) as info:
        rec.predict(samples[1:])
    assert "\n" not in str(info.value) and "clip1" in str(info.value)


def _two_clips(results: dict) -> dict:
    """A test-pipeline step as 1.x multi-clip sampling ends: (C, 2T', V, M) -> (2, C, T', V, M)."""
    x = results["keypoint"]
    c, t, v, m = x.shape
    results["keypoint"] = x.reshape(c, 2, t // 2, v, m).permute(1, 0, 2, 3, 4).contiguous()
    return results


@pytest.mark.parametrize("mode", ["prob", "score"])
def test_several_clips_per_sample_are_averaged(tiny, mode):
    """1.x/PYSKL configs say how clips merge (test_cfg.average_clips), exactly as tools/test.py does."""
    _, _, rec = tiny
    cfg = _two_clip_config(rec)
    cfg["converted_from"] = {"format": "1.x"}
    cfg["test_cfg"] = dict(average_clips=mode)
    clips_rec = Recognizer(rec.model, cfg, device="cpu")
    samples = make_samples(3)
    with torch.inference_mode():
        logits = [rec.model(_two_clips({"keypoint": x})["keypoint"]) for x in _inputs(rec, samples)]
    if mode == "score":
        expected = [torch.softmax(z.mean(0), -1) for z in logits]
    else:
        expected = [torch.softmax(z, -1).mean(0) for z in logits]
    np.testing.assert_allclose(clips_rec.scores(samples), torch.stack(expected).numpy(), atol=1e-5, rtol=0)


def test_several_clips_without_a_merge_rule_is_one_line(tiny):
    _, _, rec = tiny
    with pytest.raises(StgcnError, match="average_clips"):
        Recognizer(rec.model, _two_clip_config(rec), device="cpu").scores(make_samples(1))


def _two_clip_config(rec) -> dict:
    return dict(rec.cfg, data=dict(rec.cfg["data"], test=dict(
        rec.cfg["data"]["test"], pipeline=[*rec.cfg["data"]["test"]["pipeline"], _two_clips])))


def _inputs(rec, samples) -> list:
    """Each sample through the plain test pipeline: (C, T, V, M) tensors."""
    from stgcn.data import build_pipeline

    pipeline = build_pipeline(rec.cfg["data"]["test"]["pipeline"])
    return [pipeline(dict(s, start_index=0, modality="Pose"))["keypoint"] for s in samples]


def test_onnxruntime_backend_matches_torch_and_refuses_bad_settings(tiny):
    pytest.importorskip("onnxruntime")  # the [onnx] extra; CI installs it
    _, ckpt, rec = tiny
    samples = make_samples(3)
    ort = Recognizer.from_checkpoint(str(ckpt), backend="onnxruntime")
    got, want = ort.scores(samples), rec.scores(samples)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert [p.top_k[0][0] for p in ort.predict(samples)] == list(want.argmax(1))
    with pytest.raises(StgcnError, match="backend 'tensorrt' is not valid; use one of torch, onnxruntime"):
        Recognizer(rec.model, rec.cfg, backend="tensorrt")


def test_onnx_model_file_runs_in_place_of_the_checkpoint_graph(tiny, tmp_path):
    pytest.importorskip("onnxruntime")  # the [onnx] extra; CI installs it
    import onnx
    from onnx import TensorProto, helper

    from stgcn.inference import export as ex

    _, ckpt, rec = tiny
    samples = make_samples(3)
    path = ex.export(rec.model, tmp_path / "m.onnx")
    ort = Recognizer.from_checkpoint(str(ckpt), onnx_model=path)
    assert ort.backend == "onnxruntime"
    np.testing.assert_allclose(ort.scores(samples), rec.scores(samples), rtol=1e-5, atol=1e-7)
    with pytest.raises(StgcnError, match="not found; write one with stgcn export"):
        Recognizer(rec.model, rec.cfg, onnx_model=tmp_path / "missing.onnx")
    with pytest.raises(StgcnError, match="runs on backend='onnxruntime', not 'torch'"):
        Recognizer(rec.model, rec.cfg, backend="torch", onnx_model=path)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(StgcnError, match="onnxruntime cannot load it") as err:
        Recognizer(rec.model, rec.cfg, onnx_model=garbage).scores(samples)
    assert "\n" not in str(err.value)
    # A graph for another layout (V=25): refused with the shapes, before any sample runs.
    x = helper.make_tensor_value_info("keypoint", TensorProto.FLOAT, ["batch", 3, "frames", 25, 1])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3, "frames", 25, 1])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Identity", ["keypoint"], ["logits"])],
                                                  "g", [x], [y])), str(other))
    with pytest.raises(StgcnError, match=r"takes \(N, 3, T, 17, 1\); export the ONNX model from this"):
        Recognizer(rec.model, rec.cfg, onnx_model=other).scores(samples)


def _with_prenormalize(rec, **step) -> Recognizer:
    cfg = dict(rec.cfg, data=dict(rec.cfg["data"]))
    test = dict(cfg["data"]["test"])
    test["pipeline"] = [dict(type="PreNormalize2D", **step), *test["pipeline"]]
    cfg["data"]["test"] = test
    return Recognizer(rec.model, cfg, device="cpu")


def test_frame_size_is_required_where_the_pipeline_divides_by_it(tiny):
    from stgcn import StreamRecognizer

    rec = _with_prenormalize(tiny[2])
    sample = make_samples(1)[0]
    small = dict(sample, keypoint=sample["keypoint"] / 4, img_shape=(270, 480))
    expected = rec.scores(small)
    np.testing.assert_allclose(expected, rec.scores(sample), atol=1e-5)  # same clip at another size
    del small["img_shape"]
    with pytest.raises(StgcnError, match=r"sample clip0: no img_shape;.*PreNormalize2D.*--img-shape H W"):
        rec.scores(small)
    with pytest.raises(StgcnError, match=r"StreamRecognizer: img_shape is needed"):
        StreamRecognizer(rec)
    assert StreamRecognizer(rec, img_shape=(270, 480)).img_shape == (270, 480)
    # a pipeline that states its frame size, or none that reads one, needs none from the sample
    assert _with_prenormalize(tiny[2], img_shape=(270, 480)).scores(small).shape == (1, NUM_CLASSES)
    assert tiny[2].scores(small).shape == (1, NUM_CLASSES)


def test_the_config_nan_policy_zero_lets_nan_joints_through_as_absent(tiny):
    rec = tiny[2]
    cfg = dict(rec.cfg, data=dict(rec.cfg["data"]))
    cfg["data"]["test"] = dict(cfg["data"]["test"], nan_policy="zero")
    lenient = Recognizer(rec.model, cfg, device="cpu")
    sample = make_samples(1)[0]
    holes = dict(sample, keypoint=sample["keypoint"].copy(), keypoint_score=sample["keypoint_score"].copy())
    holes["keypoint"][0, 3, 2] = np.nan
    zeroed = dict(holes, keypoint=np.nan_to_num(holes["keypoint"], nan=0.0))
    zeroed["keypoint_score"][0, 3, 2] = 0
    with pytest.raises(StgcnError, match="nan_policy='zero'"):
        rec.scores(holes)
    with pytest.warns(UserWarning, match="set to 0 with score 0"):
        got = lenient.scores(holes)
    np.testing.assert_allclose(got, lenient.scores(zeroed), atol=1e-6)
