"""`stgcn predict` (every input kind, table, accuracy, --out files) and `stgcn zoo`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from stgcn import Recognizer, build_model
from stgcn.cli import main
from stgcn.data import dump_pickle, pack
from stgcn.data.classes import BUILTIN
from stgcn.hub import hash_prefix
from stgcn.models.zoo import ZOO
from tests.inference.helpers import make_checkpoint, make_samples

NAMES = ["walk", "run", "jump", "sit"]


@pytest.fixture(autouse=True)
def _load_each_checkpoint_once(monkeypatch):
    """The command loads through Recognizer.from_checkpoint (tested in tests/inference); reuse its result
    per argument set so that each test pays for one load."""
    real, cache = Recognizer.from_checkpoint, _LOADED

    def cached(checkpoint, config=None, device="cpu", label_map=None, backend=None, onnx_model=None,
               precision="fp32"):
        key = (checkpoint, config, device, label_map, backend, onnx_model, precision)
        if key not in cache:
            cache[key] = real(checkpoint, config, device, label_map, backend=backend, onnx_model=onnx_model,
                              precision=precision)
        return cache[key]

    monkeypatch.setattr(Recognizer, "from_checkpoint", staticmethod(cached))


_LOADED: dict = {}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(folder, checkpoint with class names, Recognizer, split annotation file) built once."""
    folder = tmp_path_factory.mktemp("predict")
    ckpt = make_checkpoint(folder, class_names=NAMES)
    samples = make_samples(6)
    ann = folder / "ann.pkl"
    dump_pickle({"split": {"a": ["clip0", "clip1"], "b": [f"clip{i}" for i in range(2, 6)]},
                 "annotations": samples}, ann)
    return folder, ckpt, Recognizer.from_checkpoint(str(ckpt)), ann


def test_table_accuracy_and_out_files(tiny, tmp_path, capsys):
    _, ckpt, rec, ann = tiny
    samples = make_samples(6)[2:]
    scores = rec.scores(samples)
    out = tmp_path / "preds.json"
    assert main(["predict", str(ckpt), str(ann), "--split", "b", "--top-k", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    labels = np.array([s["label"] for s in samples])
    correct = int((scores.argmax(1) == labels).sum())
    assert f"top-1 accuracy {correct / 4:.4f} ({correct}/4)" in text
    top = NAMES[int(scores[0].argmax())]
    row = next(line for line in text.splitlines() if line.startswith("clip2 "))
    assert row.split()[1:3] == [NAMES[samples[0]["label"]], top]
    saved = json.loads(out.read_text())
    assert saved["class_names"] == NAMES and [p["sample"] for p in saved["predictions"]] == [
        "clip2", "clip3", "clip4", "clip5"]
    np.testing.assert_allclose([p["scores"] for p in saved["predictions"]], scores, atol=1e-7)
    assert saved["predictions"][0]["top_k"][0]["name"] == top

    assert main(["predict", str(ckpt), str(ann), "--split", "b", "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    out_csv = tmp_path / "preds.csv"
    assert main(["predict", str(ckpt), str(ann), "--split", "a", "--out", str(out_csv)]) == 0
    rows = list(csv.reader(out_csv.open()))
    assert rows[0][:5] == ["sample", "label", "pred", "pred_name", "pred_score"] and len(rows) == 3
    assert rows[0][5:] == [f"score_{n}" for n in NAMES]


def test_onnx_model_flag_runs_the_exported_file(tiny, tmp_path):
    pytest.importorskip("onnxruntime")  # the [onnx] extra; CI installs it
    from stgcn.inference.export import export

    _, ckpt, rec, ann = tiny
    model = export(rec.model, tmp_path / "m.onnx")
    out = tmp_path / "preds.json"
    assert main(["predict", str(ckpt), str(ann), "--split", "b", "--onnx-model", str(model),
                 "--out", str(out)]) == 0
    saved = json.loads(out.read_text())["predictions"]
    np.testing.assert_allclose([p["scores"] for p in saved], rec.scores(make_samples(6)[2:]), rtol=1e-5,
                               atol=1e-7)
    assert main(["predict", str(ckpt), str(ann), "--onnx-model", str(tmp_path / "none.onnx")]) == 2


def test_npy_npz_and_packed_inputs(tiny, tmp_path, capsys):
    folder, ckpt, rec, ann = tiny
    s = make_samples(1, labels=False)[0]
    expected = rec.scores(s)[0]
    npz = tmp_path / "one.npz"
    np.savez(npz, keypoint=s["keypoint"][0], keypoint_score=s["keypoint_score"][0], img_shape=[1080, 1920])
    npy = tmp_path / "xys.npy"  # x, y and the score as a third coordinate: [M, T, V, 3]
    np.save(npy, np.concatenate([s["keypoint"], s["keypoint_score"][..., None]], -1))
    for path in (npz, npy):
        out = tmp_path / f"{path.stem}.json"
        assert main(["predict", str(ckpt), str(path), "--out", str(out)]) == 0
        got = json.loads(out.read_text())["predictions"][0]
        assert got["sample"] == path.stem and got["label"] is None
        np.testing.assert_allclose(got["scores"], expected, atol=1e-6)
    assert "accuracy" not in capsys.readouterr().out
    packed = tmp_path / "ann.packed"
    pack(ann, packed, progress=False)
    assert main(["predict", str(ckpt), str(packed), "--split", "a", "--out", str(tmp_path / "p.json")]) == 0
    got = json.loads((tmp_path / "p.json").read_text())["predictions"]
    np.testing.assert_allclose([p["scores"] for p in got], rec.scores(make_samples(6)[:2]), atol=1e-6)


def test_img_shape_flag_fills_in_samples_without_one(tiny, tmp_path, monkeypatch):
    from stgcn.inference import inputs

    s = make_samples(1, labels=False)[0]
    npy = tmp_path / "xys.npy"
    np.save(npy, np.concatenate([s["keypoint"], s["keypoint_score"][..., None]], -1))
    seen = []
    real = inputs.load_samples
    monkeypatch.setattr(inputs, "load_samples", lambda *a: seen.append(real(*a)) or seen[-1])
    assert main(["predict", str(tiny[1]), str(npy), "--img-shape", "720", "1280"]) == 0
    assert seen[-1][0]["img_shape"] == (720, 1280)
    ann = tmp_path / "ann.pkl"
    dump_pickle([dict(s, img_shape=(1080, 1920)), {k: v for k, v in s.items() if k != "img_shape"}], ann)
    assert main(["predict", str(tiny[1]), str(ann), "--img-shape", "720", "1280"]) == 0
    assert [x["img_shape"] for x in seen[-1]] == [(1080, 1920), (720, 1280)]  # a sample's own one wins


def test_empty_or_truncated_arrays_are_one_line(tiny, tmp_path, capsys):
    for name in ("empty.npy", "empty.npz"):
        (tmp_path / name).write_bytes(b"")
        assert main(["predict", str(tiny[1]), str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert name in err and "Traceback" not in err and err.count("\n") == 1
    np.savez(tmp_path / "nokp.npz", score=np.zeros(3))
    assert main(["predict", str(tiny[1]), str(tmp_path / "nokp.npz")]) == 2
    err = capsys.readouterr().err
    assert "an .npz needs 'keypoint'" in err and "not a readable numpy file" not in err


def test_pose_files_videos_and_extra_arrays_get_their_own_line(tiny, tmp_path, capsys):
    from stgcn.video.posefile import PoseTrack, save_npz

    kp = np.ones((4, 1, 17, 2), np.float32)
    save_npz(PoseTrack("coco", (240, 320), kp, np.ones((4, 1, 17), np.float32)), tmp_path / "pose.npz")
    np.savez(tmp_path / "extra.npz", keypoint=np.ones((1, 4, 17, 2), np.float32), boxes=np.zeros(3))
    (tmp_path / "clip.mp4").write_bytes(b"not decoded")
    cases = {"pose.npz": "a pose file ([T, P, V, 2] with its layout",
             "extra.npz": "unexpected array(s) boxes in the .npz",
             "clip.mp4": "a video; predict reads poses. Classify the video with `stgcn demo"}
    for name, message in cases.items():
        assert main(["predict", str(tiny[1]), str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("argv, message", [
    (["--split", "a", "--img-shape", "0", "640"], "--img-shape 0 640: give the frame height and width"),
    (["--split", "nope"], "no split 'nope'"),
    ([], "has splits a, b; pick one with --split NAME"),
    (["--split", "a", "--out", "x.txt"], "use .json or .csv"),
    (["--split", "a", "--top-k", "0"], "--top-k must be at least 1"),
])
def test_predict_flag_errors(tiny, capsys, argv, message):
    _, ckpt, _, ann = tiny
    assert main(["predict", str(ckpt), str(ann), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_zoo_lists_and_shows_entries(capsys):
    assert main(["zoo"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ZOO)
    assert main(["zoo", "stgcn_80e_ntu60_xsub_keypoint_3d"]) == 0
    shown = capsys.readouterr().out
    assert ZOO["stgcn_80e_ntu60_xsub_keypoint_3d"].url in shown and "ntu-rgb+d" in shown
    assert main(["zoo", "stgcn_80e_ntu60"]) == 2
    assert "did you mean" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_entry_is_consistent(name):
    entry = ZOO[name]
    assert hash_prefix(entry.url) and entry.url.startswith("https://download.openmmlab.com/mmaction/")
    assert entry.classes in BUILTIN and 0 < entry.top1 < 100
    model = build_model(entry.model_config())
    assert sum(p.numel() for p in model.parameters()) == entry.num_params
    assert model.backbone.layout == entry.layout
    assert model.cls_head.num_classes == len(BUILTIN[entry.classes])
