"""CI-sized real-data check: Penn Action through the converter, the shipped config's pipeline, tools/train.py
and tools/test.py learns well above chance in a few epochs (skipped when ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stgcn.commands import test as test_command
from stgcn.commands import train as train_command
from stgcn.data import dump_pickle, load_pickle
from stgcn.data.convert.penn_action import convert_penn_action
from stgcn.engine.metrics import top_k_accuracy
from tests.conftest import shared_path

CONFIG = str(Path(__file__).resolve().parents[1] / "configs/skeleton/stgcn/stgcn_penn_action_joint_2d.py")
CLASSES = (2, 7, 8, 10, 11)  # bench press, jumping jacks, pull-up, sit-up, squat: chance is 1/5
PER_CLASS = {"train": 24, "test": 20}


def _subset(ann: dict) -> dict:
    """The first PER_CLASS[split] clips of each class in CLASSES, labels renumbered from 0."""
    by_name = {a["frame_dir"]: a for a in ann["annotations"]}
    keep, split = [], {}
    for name, ids in ann["split"].items():
        counts = dict.fromkeys(CLASSES, 0)
        split[name] = []
        for fid in ids:
            label = by_name[fid]["label"]
            if label in counts and counts[label] < PER_CLASS[name]:
                counts[label] += 1
                split[name].append(fid)
                keep.append(dict(by_name[fid], label=CLASSES.index(label)))
    return {"split": split, "annotations": keep}


def test_penn_action_learns_well_above_chance(tmp_path):
    ann, _ = convert_penn_action(shared_path("data", "penn_action", "labels"), progress=False)
    subset = _subset(ann)
    assert {k: len(v) for k, v in subset["split"].items()} == {"train": 120, "test": 100}
    ann_file = tmp_path / "penn_subset.pkl"
    dump_pickle(subset, ann_file)
    options = [f"data.{part}.ann_file={ann_file}" for part in ("train", "val", "test")] + [
        f"data.{part}.pipeline.0.clip_len=8" for part in ("train", "val", "test")] + [
        "model.cls_head.num_classes=5", "class_names=None", "total_epochs=8", "lr_config.warmup_iters=1",
        "data.videos_per_gpu=8", "data.workers_per_gpu=0", "log_config.interval=50"]
    work = tmp_path / "work"
    assert train_command.main([CONFIG, "--seed", "0", "--device", "cpu", "--work-dir", str(work),
                               "--cfg-options", *options]) == 0
    out = tmp_path / "result.pkl"
    assert test_command.main([CONFIG, str(work / "latest.pth"), "--device", "cpu", "--out", str(out),
                              "--cfg-options", *options]) == 0
    scores = np.stack(load_pickle(out))
    label_of = {a["frame_dir"]: a["label"] for a in subset["annotations"]}
    labels = [label_of[fid] for fid in subset["split"]["test"]]
    assert scores.shape == (100, 5)
    top1 = top_k_accuracy(scores, labels, (1,))[0]
    print(f"real-data check: top-1 {top1:.3f} on 5 classes")
    assert top1 >= 0.5, f"top-1 {top1:.3f} on 5 classes (chance 0.2)"


def test_penn_quick_recipe_mirrors_and_averages_test_clips(tmp_path):
    from stgcn.data import build_dataset
    from stgcn.engine.config import load_config

    quick = CONFIG.replace("joint_2d.py", "joint_2d_quick.py")
    ann, _ = convert_penn_action(shared_path("data", "penn_action", "labels"), progress=False)
    subset = _subset(ann)
    ann_file = tmp_path / "penn_subset.pkl"
    dump_pickle(subset, ann_file)
    options = [f"data.{part}.ann_file={ann_file}" for part in ("train", "val", "test")] + [
        "model.cls_head.num_classes=5", "class_names=None", "total_epochs=1", "data.videos_per_gpu=8",
        "data.workers_per_gpu=0", "checkpoint_config.interval=1", "evaluation.interval=1"]
    cfg = load_config(quick, dict(o.split("=", 1) for o in options[:3]))
    clips = build_dataset(cfg["data"]["test"], test_mode=True)[0]["keypoint"].numpy()
    assert clips.shape == (20, 3, 16, 17, 1)  # 10 clips, then the same 10 mirrored
    np.testing.assert_allclose(clips[10:, 0, :, 5], -clips[:10, 0, :, 6])  # left shoulder <- right, x negated
    work = tmp_path / "work"
    assert train_command.main([quick, "--seed", "0", "--device", "cpu", "--work-dir", str(work),
                               "--cfg-options", *options]) == 0
    out = tmp_path / "result.pkl"
    assert test_command.main([quick, str(work / "latest.pth"), "--device", "cpu", "--out", str(out),
                              "--cfg-options", *options]) == 0
    scores = np.stack(load_pickle(out))
    assert scores.shape == (100, 5)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)  # averaged probabilities, not logits
