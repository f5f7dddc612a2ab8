"""The Kinetics-skeleton config on a tiny hand-written release: convert with the command, keep the two
most confident persons through the config's pipeline, and train one epoch through tools/train.py's entry."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from stgcn.cli import main as cli_main
from stgcn.commands.train import main as cli_train
from stgcn.data.dataset import build_dataset
from stgcn.engine.config import load_config
from stgcn.models import build_model
from tests.engine.tiny import ROOT

CONFIG = ROOT / "configs/skeleton/stgcn/stgcn_kinetics_openpose18.py"
NPY_CONFIG = ROOT / "configs/skeleton/stgcn/stgcn_kinetics_openpose18_npy.py"
NUM_FRAMES = 6
# per person: (x = y of every joint, score of every detected joint); listed least confident first
PERSONS = [(0.2, 0.3), (0.4, 0.95), (0.6, 0.1), (0.8, 0.7)]


def person(value: float, score: float) -> dict:
    return {"pose": [value] * 36, "score": [score] * 18}


def write_split(root, name: str, labels: list[int]) -> tuple[str, str]:
    folder = root / f"kinetics_{name}"
    folder.mkdir()
    label_file = {}
    for i, label in enumerate(labels):
        # the listing order changes each frame, so only the scores can pick the persons
        frames = [{"frame_index": t, "skeleton": [person(*PERSONS[(t + k) % 4]) for k in range(4)]}
                  for t in range(NUM_FRAMES)]
        (folder / f"{name}{i}.json").write_text(json.dumps({"data": frames, "label_index": label}))
        label_file[f"{name}{i}"] = {"has_skeleton": True, "label": str(label), "label_index": label}
    path = root / f"kinetics_{name}_label.json"
    path.write_text(json.dumps(label_file))
    return str(folder), str(path)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinetics")
    train, train_labels = write_split(root, "train", [0, 1, 2, 3])
    val, val_labels = write_split(root, "val", [1, 2])
    outs = {}
    for num_person in (2, 4):  # the default, and more persons than the model takes
        outs[num_person] = root / f"kinetics_{num_person}.pkl"
        assert cli_main(["convert", "kinetics", str(outs[num_person]), "--data", train, val, "--labels",
                         train_labels, val_labels, "--split-names", "train", "val",
                         "--num-person", str(num_person)]) == 0
    return outs


def test_config_states_the_kinetics_setting():
    cfg = load_config(CONFIG)
    backbone, head = cfg["model"]["backbone"], cfg["model"]["cls_head"]
    assert backbone["graph_cfg"] == {"layout": "openpose-18", "strategy": "spatial"}
    assert backbone["in_channels"] == 3 and head["num_classes"] == 400 and head["num_person"] == 2
    assert cfg["data"]["test"]["pipeline"][0] == {"type": "PaddingWithLoop", "clip_len": 300}
    assert cfg["data"]["train"]["pipeline"][0]["clip_len"] == 150
    assert {step["type"] for step in cfg["data"]["train"]["pipeline"]} >= {"RandomRot", "RandomScale"}
    assert (cfg["optimizer"]["lr"], cfg["optimizer"]["weight_decay"]) == (0.1, 0.0001)
    assert (cfg["lr_config"]["step"], cfg["total_epochs"]) == ([20, 30, 40], 50)
    assert cfg["data"]["videos_per_gpu"] == 256


@pytest.mark.parametrize("num_person", [2, 4])
def test_pipeline_keeps_the_two_most_confident_persons(converted, num_person):
    ann = converted[num_person]
    cfg = load_config(CONFIG, {"data.test.ann_file": str(ann), "data.test.pipeline.0.clip_len": 8})
    dataset = build_dataset(cfg["data"]["test"], test_mode=True)
    sample = dataset[0]
    x = sample["keypoint"]
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    assert x.shape == (3, 8, 18, 2)  # C (x, y, score), T, V, M
    # the best two by score are (0.4, 0.95) then (0.8, 0.7); PreNormalize2D maps v -> 2v - 1
    np.testing.assert_allclose(x[2, :, :, 0], 0.95, rtol=1e-6)
    np.testing.assert_allclose(x[2, :, :, 1], 0.7, rtol=1e-6)
    np.testing.assert_allclose(x[0, :, :, 0], 2 * 0.4 - 1, atol=1e-6)
    np.testing.assert_allclose(x[1, :, :, 1], 2 * 0.8 - 1, atol=1e-6)


def test_full_size_config_runs_on_converted_clips(converted):
    """The config as shipped (150-frame training window, 400 classes) on a converted clip."""
    cfg = load_config(CONFIG, {"data.train.ann_file": str(converted[2])})
    np.random.seed(0)
    x = build_dataset(cfg["data"]["train"])[0]["keypoint"]
    assert tuple(x.shape) == (3, 150, 18, 2)
    model = build_model(cfg["model"]).eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(x)[None])
    assert logits.shape == (1, 400) and torch.isfinite(logits).all()


def test_one_epoch_trains_with_the_config(converted, tmp_path, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    ann = converted[2]
    work = tmp_path / "work"
    options = [f"data.{split}.ann_file={ann}" for split in ("train", "val", "test")] + [
        "model.cls_head.num_classes=4", "data.train.pipeline.0.clip_len=8", "data.val.pipeline.0.clip_len=8",
        "data.test.pipeline.0.clip_len=8", "data.videos_per_gpu=2", "data.workers_per_gpu=0",
        "total_epochs=1", "checkpoint_config.interval=1", "log_config.interval=1"]
    assert cli_train([str(CONFIG), "--work-dir", str(work), "--device", "cpu", "--seed", "0",
                      "--cfg-options", *options]) == 0
    state = torch.load(work / "latest.pth", map_location="cpu", weights_only=True)
    assert state["meta"]["epoch"] == 1 and state["meta"]["iter"] == 2  # 4 clips / batch 2
    assert state["state_dict"]["cls_head.fc.weight"].shape[0] == 4
    (log,) = work.glob("*.log.json")
    losses = [json.loads(line)["loss"] for line in log.read_text().splitlines() if '"loss"' in line]
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_npy_form_keeps_st_gcn_centred_coordinates(tmp_path):
    """The release's arrays are already centred with undetected joints at 0; the .npy config keeps them."""
    data = np.zeros((2, 3, 10, 18, 2), np.float32)  # N, C (x, y, score), T (zero-padded), V, M
    data[:, :, :6, :17, 0] = np.array([0.1, -0.2, 0.9])[:, None, None]
    data[:, :, :6, :17, 1] = np.array([-0.3, 0.4, 0.5])[:, None, None]
    np.save(tmp_path / "val_data.npy", data)
    with open(tmp_path / "val_label.pkl", "wb") as f:
        pickle.dump((["clipA", "clipB"], [7, 2]), f)
    ann = tmp_path / "kinetics_npy.pkl"
    assert cli_main(["convert", "numpy", str(ann), "--score-channel", "--layout", "openpose-18", "--data",
                     str(tmp_path / "val_data.npy"), "--labels", str(tmp_path / "val_label.pkl"),
                     "--split-names", "val"]) == 0
    cfg = load_config(NPY_CONFIG, {"data.test.ann_file": str(ann), "data.test.pipeline.0.clip_len": 6})
    assert cfg["model"] == load_config(CONFIG)["model"]
    sample = build_dataset(cfg["data"]["test"], test_mode=True)[0]
    x = np.asarray(sample["keypoint"])
    assert x.shape == (3, 6, 18, 2) and int(sample["label"]) == 7
    np.testing.assert_allclose(x[:, :, :17], data[0, :, :6, :17], atol=1e-6)
    assert not x[:, :, 17].any()  # undetected joints stay at the centre, as st-gcn feeds them
