"""`stgcn init-config`: the written config loads, builds and trains a step; each choice follows the data;
bad data is refused in one line before anything is written."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from stgcn import build_model
from stgcn.autoconfig.recipe import MAX_EPOCHS, build_recipe, choose_precision, choose_schedule
from stgcn.autoconfig.render import joint_config
from stgcn.autoconfig.survey import survey_annotations
from stgcn.autoconfig.timing import StepTimes
from stgcn.cli import main
from stgcn.data import build_dataset
from stgcn.engine.config import load_config

pytestmark = pytest.mark.usefixtures("one_thread")


def coco(name: str, label: int, frames: int, persons: int = 1) -> dict:
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    return {"frame_dir": name, "label": label, "total_frames": frames, "img_shape": (120, 160),
            "keypoint": rng.uniform(10, 100, (persons, frames, 17, 2)).astype(np.float32),
            "keypoint_score": rng.uniform(0.5, 1, (persons, frames, 17)).astype(np.float32)}


def ucla(name: str, label: int, frames: int) -> dict:
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    return {"frame_dir": name, "label": label, "total_frames": frames,
            "keypoint": rng.normal(0, 0.5, (1, frames, 20, 3)).astype(np.float32) + 3}


def write_ann(path, make, classes=3, train_per_class=5, test_per_class=2, **overrides) -> str:
    samples, split = [], {"train": [], "test": []}
    for c in range(classes):
        for k in range(train_per_class + test_per_class):
            part = "train" if k < train_per_class else "test"
            name = f"{part}_{c}_{k}"
            samples.append(make(name, c, 20 + 4 * k))
            split[part].append(name)
    for index, sample in overrides.items():
        samples[int(index)] = sample
    path.write_bytes(pickle.dumps({"split": split, "annotations": samples}, protocol=4))
    return str(path)


def generate(tmp_path, ann, *extra) -> dict:
    out = tmp_path / "gen.py"
    assert main(["init-config", ann, str(out), "--step-seconds", "0.05", "--budget-min", "1", *extra]) == 0
    return load_config(str(out))


def one_step(cfg: dict) -> float:
    model = build_model(cfg["model"]).train()
    dataset = build_dataset(cfg["data"]["train"])
    batch = torch.utils.data.default_collate([dataset[i] for i in range(2)])
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["optimizer"]["lr"])
    loss = model.loss(model(batch["keypoint"]), batch["label"])["loss_cls"]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_2d_config_loads_builds_and_trains_a_step(tmp_path, capsys):
    cfg = generate(tmp_path, write_ann(tmp_path / "ann.pkl", coco))
    backbone, head = cfg["model"]["backbone"], cfg["model"]["cls_head"]
    assert backbone["graph_cfg"]["layout"] == "coco" and backbone["in_channels"] == 3
    assert head["num_classes"] == 3 and head["num_person"] == 1
    assert cfg["data"]["train"]["split"] == "train" and cfg["data"]["test"]["split"] == "test"
    types = [t["type"] for t in cfg["data"]["train"]["pipeline"]]
    assert "CenterScale" in types and "RandomRot" in types
    assert "RandomRot" not in [t["type"] for t in cfg["data"]["test"]["pipeline"]]
    assert cfg["total_epochs"] >= 1 and cfg["total_epochs"] % cfg["evaluation"]["interval"] == 0
    assert np.isfinite(one_step(cfg))
    text = (tmp_path / "gen.py").read_text()
    assert "# - labels 0..2: num_classes = 3" in text and "--step-seconds" in text
    assert "wrote" in capsys.readouterr().out


def test_3d_two_persons_and_streams(tmp_path):
    def two(name, label, frames):
        s = ucla(name, label, frames)
        if label == 0:  # a second actor in class 0
            s["keypoint"] = np.concatenate([s["keypoint"], s["keypoint"] + 1])
        return s

    cfg = generate(tmp_path, write_ann(tmp_path / "ann.pkl", two), "--streams", "j,bm")
    assert cfg["model"]["backbone"]["graph_cfg"]["layout"] == "nw-ucla"
    assert cfg["model"]["cls_head"]["num_person"] == 2
    assert cfg["data"]["train"]["pipeline"][0]["type"] == "PreNormalize3D"
    bone_motion = load_config(str(tmp_path / "gen_bm.py"))
    feats = [t for t in bone_motion["data"]["train"]["pipeline"] if t["type"] == "GenSkeFeat"]
    assert feats == [{"type": "GenSkeFeat", "dataset": "nw-ucla", "feats": ["bm"]}]
    assert bone_motion["model"] == cfg["model"]
    assert np.isfinite(one_step(bone_motion))
    assert "stgcn ensemble result_j.pkl result_bm.pkl --weights 2 1" in (tmp_path / "gen.py").read_text()


def test_clip_length_follows_the_data(tmp_path):
    long = write_ann(tmp_path / "long.pkl", lambda n, c, t: coco(n, c, 5 * t))  # 100..220 frames
    cfg = generate(tmp_path, long)
    assert cfg["data"]["train"]["pipeline"][0] == {"type": "UniformSampleFrames", "clip_len": 64}
    short = write_ann(tmp_path / "short.pkl", lambda n, c, t: coco(n, c, t - 10))  # train: 10..26 frames
    cfg = generate(tmp_path, short, "--overwrite")
    assert cfg["data"]["train"]["pipeline"][0] == {"type": "RandomSampleFrames", "clip_len": 16}


def test_schedule_fits_the_budget():
    epochs, warmup, interval, why = choose_schedule(step=0.5, eval_batch=0.2, num_train=1600, num_test=800,
                                                    batch=16, budget_min=20)
    # 100 steps x 0.5 s = 50 s an epoch; a test pass is 25 batches x 0.2 s = 5 s; 95% of 20 min = 1140 s.
    # 22 epochs split into 3..6 passes by no interval; 21 = 3 x 7: 1050 + 15 s fits
    assert (epochs, warmup, interval) == (21, 2, 7)
    assert "take about 17.8 of the 20 min" in why
    epochs, _, _, why = choose_schedule(step=10.0, eval_batch=1.0, num_train=1600, num_test=800, batch=16,
                                        budget_min=1)
    assert epochs == 1 and "shorter than one epoch" in why
    epochs, _, interval, why = choose_schedule(step=0.01, eval_batch=0.01, num_train=32, num_test=8,
                                               batch=16, budget_min=60)
    assert (epochs, interval) == (MAX_EPOCHS, 40) and "at most" in why


def test_bf16_is_chosen_only_when_it_pays():
    amp, step, eval_batch, why = choose_precision(StepTimes(fp32=0.40, bf16=0.17, eval_batch=0.1))
    assert (amp, step, eval_batch) == ("bf16", 0.17, 0.1) and "2.4x" in why
    amp, step, eval_batch, why = choose_precision(StepTimes(fp32=0.40, bf16=0.38, eval_batch=0.1))
    assert amp is None and step == 0.40 and eval_batch == pytest.approx(0.1 * 0.40 / 0.38)
    assert "too little" in why
    # back-to-back pairs decide when timed: medians of a loaded machine can disagree with them
    amp, step, _, why = choose_precision(StepTimes(fp32=0.40, bf16=0.38, eval_batch=0.1, bf16_speedup=2.0))
    assert (amp, step) == ("bf16", 0.38) and "2.0x faster" in why
    amp, step, _, why = choose_precision(StepTimes(fp32=0.40, bf16=None, eval_batch=0.1))
    assert amp is None and step == 0.40 and "no native bf16" in why


def test_a_bf16_recipe_writes_the_autocast_key_and_more_epochs(tmp_path):
    survey = survey_annotations(write_ann(tmp_path / "ann.pkl", coco, train_per_class=40))
    cfgs = {}
    for bf16 in (None, 0.1):
        recipe = build_recipe(survey, "coco", "coco", "train", "test", 1,
                              lambda r, bf16=bf16: StepTimes(fp32=0.4, bf16=bf16, eval_batch=0.1))
        out = tmp_path / f"gen_{bf16}.py"
        out.write_text(joint_config(recipe, str(tmp_path / "ann.pkl"), out, "note", False))
        cfgs[bf16] = load_config(str(out))
    assert "fp16" not in cfgs[None] and cfgs[0.1]["fp16"] == {"loss_scale": "dynamic"}
    # 120 clips: 15 steps of batch 8; a test pass 0.1 s; 95% of 1 min = 57 s: fp32 9 epochs (6 s each),
    # bf16 36 (1.5 s each; 37 is prime: no interval gives 3..6 test passes)
    assert (cfgs[None]["total_epochs"], cfgs[0.1]["total_epochs"]) == (9, 36)


def test_steps_and_test_batches_are_timed_on_the_config(tmp_path):
    ann = write_ann(tmp_path / "ann.pkl", coco)
    out = tmp_path / "gen.py"
    assert main(["init-config", ann, str(out), "--budget-min", "0.5", "--timing-steps", "1"]) == 0
    text = " ".join(line.lstrip("# ") for line in out.read_text().splitlines())
    step = re.search(r"data loading included\) measured ([0-9.]+) s and a test batch ([0-9.]+) s", text)
    assert step and float(step[1]) > 0 and float(step[2]) > 0, text[:2000]
    assert ("bf16 autocast: this CPU" in text or "fp32: " in text) and "take about" in text


def _named(ann: str) -> str:
    """`ann` with the label map extract-pose writes beside it."""
    (tmp := Path(ann)).with_name(tmp.stem + ".classes.txt").write_text("pullup\npushup\nsquat\n")
    return ann


def _listed(ann: str) -> str:
    """`ann` with a label map naming one class more than the labels use (extract-pose --classes)."""
    (tmp := Path(ann)).with_name(tmp.stem + ".classes.txt").write_text("pullup\npushup\nsquat\nsitup\n")
    return ann


def _mixed_v(tmp):
    return write_ann(tmp / "a.pkl", coco, **{"0": ucla("train_0_0", 0, 20)})


def _mixed_c(tmp):
    s = coco("train_0_0", 0, 20)
    s["keypoint"] = np.zeros((1, 20, 17, 3), np.float32)
    return write_ann(tmp / "a.pkl", coco, **{"0": s})


BAD = [
    ("too-few", lambda tmp: [write_ann(tmp / "a.pkl", coco, train_per_class=3)],
     "too few training samples in split 'train' for class 0: 3, 1: 3, 2: 3; each class needs at least 5"),
    ("too-few-named", lambda tmp: [_named(write_ann(tmp / "a.pkl", coco, train_per_class=3))],
     "for class 0 (pullup): 3, 1 (pushup): 3, 2 (squat): 3"),
    ("one-class", lambda tmp: [write_ann(tmp / "a.pkl", coco, classes=1)],
     "every sample has label 0: a classifier needs at least two classes"),
    ("class-missing", lambda tmp: [write_ann(tmp / "a.pkl", coco, **{
        str(k): coco(f"train_1_{k - 7}", 2, 20) for k in range(7, 12)})], "class 1 has no sample"),
    ("class-list-gap", lambda tmp: [_listed(write_ann(tmp / "a.pkl", coco))],
     "class 3 (situp) has no sample in the training split 'train' (labels run 0..3); add videos of it, or "
     "run extract-pose without --classes"),
    ("mixed-v", lambda tmp: [_mixed_v(tmp)], "samples differ in joint count V (17 in 20 samples, 20 in 1"),
    ("mixed-c", lambda tmp: [_mixed_c(tmp)], "samples differ in coordinate count C"),
    ("no-split", lambda tmp: [write_ann(tmp / "a.pkl", coco), "--split-test", "tset"],
     "--split-test 'tset' does not exist (did you mean 'test'?)"),
    ("ambiguous-layout", lambda tmp: [write_ann(tmp / "a.pkl", lambda n, c, t: dict(
        coco(n, c, t), keypoint=np.ones((1, t, 25, 2), np.float32), keypoint_score=np.ones((1, t, 25))))],
     "fit several layouts (openpose-25, ntu-rgb+d); choose one with --layout"),
]


@pytest.mark.parametrize("make, expect", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_data_is_one_line_and_writes_nothing(make, expect, tmp_path, capsys):
    out = tmp_path / "out.py"
    assert main(["init-config", *make(tmp_path), str(out), "--step-seconds", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expect in err, err
    assert not out.exists()


def test_a_packed_directory_gives_the_same_recipe(tmp_path):
    ann = write_ann(tmp_path / "ann.pkl", coco)
    assert main(["pack", ann, str(tmp_path / "packed")]) == 0
    from_pickle = generate(tmp_path, ann)
    out = tmp_path / "packed.py"
    assert main(["init-config", str(tmp_path / "packed"), str(out), "--step-seconds", "0.05",
                 "--budget-min", "1"]) == 0
    from_packed = load_config(str(out))
    for key in ("model", "total_epochs", "optimizer", "lr_config", "evaluation"):
        assert from_packed[key] == from_pickle[key], key
    assert from_packed["train_pipeline"] == from_pickle["train_pipeline"]


def test_a_file_with_only_a_training_split_is_told_to_hold_out_samples():
    from types import SimpleNamespace

    from stgcn.autoconfig.survey import pick_splits
    from stgcn.errors import StgcnError

    survey = SimpleNamespace(source="mine.pkl", splits={"train": ["a", "b"]})
    with pytest.raises(StgcnError, match=r"mine.pkl: the file has only the split 'train'; .*--val-fraction"):
        pick_splits(survey, None, None)
