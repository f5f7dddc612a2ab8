"""Config loading: every shipped config, _base_ inheritance, _delete_, --cfg-options and key checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from stgcn.engine.config import (
    config_to_text,
    dump_config,
    load_config,
    merge_cfg_options,
    parse_cfg_options,
    parse_option_value,
)
from stgcn.errors import StgcnError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").rglob("*.py"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads_and_round_trips(path, tmp_path):
    cfg = load_config(path)
    for key in ("model", "data", "optimizer", "lr_config", "total_epochs", "checkpoint_config", "evaluation",
                "log_config"):
        assert key in cfg, key
    dumped = dump_config(cfg, tmp_path / path.name)
    assert load_config(dumped) == cfg


def test_seed_configs_match_the_reference_recipe():
    d2 = load_config(ROOT / "configs/skeleton/stgcn/stgcn_80e_ntu60_xsub_keypoint.py")
    d3 = load_config(ROOT / "configs/skeleton/stgcn/stgcn_80e_ntu60_xsub_keypoint_3d.py")
    assert d2["model"]["backbone"]["graph_cfg"] == {"layout": "coco", "strategy": "spatial"}
    assert d3["model"]["backbone"]["graph_cfg"] == {"layout": "ntu-rgb+d", "strategy": "spatial"}
    assert (d2["data"]["videos_per_gpu"], d3["data"]["videos_per_gpu"]) == (16, 32)
    for cfg, interval in ((d2, 5), (d3, 3)):
        assert cfg["data"]["workers_per_gpu"] == 2
        assert cfg["data"]["test_dataloader"] == {"videos_per_gpu": 1}
        assert cfg["data"]["test"]["ann_file"] == cfg["data"]["val"]["ann_file"]
        assert cfg["optimizer"] == dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
        assert cfg["lr_config"] == dict(policy="step", step=[10, 50])
        assert cfg["total_epochs"] == 80
        assert cfg["checkpoint_config"]["interval"] == interval
        assert cfg["evaluation"] == dict(interval=interval, metrics=["top_k_accuracy"])
        assert cfg["log_config"]["interval"] == 100
        assert cfg["workflow"] == [("train", 1)]
    norm2 = [t["type"] for t in d2["data"]["train"]["pipeline"]]
    norm3 = [t["type"] for t in d3["data"]["train"]["pipeline"]]
    assert "PoseNormalize" in norm2 and "PoseNormalize" not in norm3


def test_base_inheritance_merges_and_delete_replaces(tmp_path):
    write(tmp_path, "base/runtime.py", "log_level = 'INFO'\nlog_config = dict(interval=100, hooks=[])\n")
    write(tmp_path, "base/model.py",
          "model = dict(type='SkeletonGCN', backbone=dict(type='STGCN', in_channels=3), cls_head=dict(k=1))\n"
          "optimizer = dict(type='SGD', lr=0.1, momentum=0.9)\n")
    child = write(tmp_path, "child.py",
                  "_base_ = ['base/model.py', 'base/runtime.py']\n"
                  "model = dict(backbone=dict(in_channels=2))\n"
                  "optimizer = dict(_delete_=True, type='Adam', lr=0.001)\n"
                  "log_config = dict(interval=5)\n")
    cfg = load_config(child)
    backbone = dict(type="STGCN", in_channels=2)
    assert cfg["model"] == dict(type="SkeletonGCN", backbone=backbone, cls_head=dict(k=1))
    assert cfg["optimizer"] == dict(type="Adam", lr=0.001)
    assert cfg["log_config"] == dict(interval=5, hooks=[])
    assert cfg["log_level"] == "INFO"


def test_base_as_string_and_nested_bases(tmp_path):
    write(tmp_path, "a.py", "total_epochs = 80\nlog_level = 'INFO'\n")
    write(tmp_path, "b.py", "_base_ = './a.py'\ntotal_epochs = 10\n")
    cfg = load_config(write(tmp_path, "c.py", "_base_ = 'b.py'\nlog_level = 'DEBUG'\n"))
    assert cfg == {"total_epochs": 10, "log_level": "DEBUG"}


def test_base_errors(tmp_path):
    write(tmp_path, "a.py", "total_epochs = 1\n")
    write(tmp_path, "b.py", "total_epochs = 2\n")
    with pytest.raises(StgcnError, match="several _base_ files"):
        load_config(write(tmp_path, "c.py", "_base_ = ['a.py', 'b.py']\n"))
    with pytest.raises(StgcnError, match="not found"):
        load_config(write(tmp_path, "d.py", "_base_ = 'missing.py'\n"))
    write(tmp_path, "loop1.py", "_base_ = 'loop2.py'\n")
    write(tmp_path, "loop2.py", "_base_ = 'loop1.py'\n")
    with pytest.raises(StgcnError, match="loop"):
        load_config(tmp_path / "loop1.py")
    write(tmp_path, "e.py", "optimizer = 3\n")
    with pytest.raises(StgcnError, match="_delete_=True"):
        load_config(write(tmp_path, "f.py", "_base_ = 'e.py'\noptimizer = dict(lr=1)\n"))


def test_unknown_top_level_key_gets_a_suggestion(tmp_path):
    with pytest.raises(StgcnError, match="unknown top-level config key 'optimzer'; did you mean 'optimizer'"):
        load_config(write(tmp_path, "typo.py", "optimzer = dict(type='SGD', lr=0.1)\n"))
    with pytest.raises(StgcnError, match="total_epochs"):
        load_config(write(tmp_path, "typo2.py", "total_epoch = 80\n"))


def test_helper_variables_are_accepted(tmp_path):
    cfg = load_config(write(tmp_path, "helpers.py",
                            "import os\n"
                            "clip_len = 123\n"
                            "my_pipe = [dict(type='PaddingWithLoop', clip_len=clip_len)]\n"
                            "data = dict(train=dict(pipeline=my_pipe))\n"
                            "def helper():\n    return 1\n"))
    assert cfg["clip_len"] == 123 and "os" not in cfg and "helper" not in cfg


def test_non_plain_values_and_broken_files_are_rejected(tmp_path):
    with pytest.raises(StgcnError, match="model.backbone"):
        load_config(write(tmp_path, "obj.py", "model = dict(backbone=object())\n"))
    with pytest.raises(StgcnError, match="syntax error"):
        load_config(write(tmp_path, "syntax.py", "model = dict(\n"))
    with pytest.raises(StgcnError, match="NameError"):
        load_config(write(tmp_path, "name.py", "model = undefined_name\n"))
    with pytest.raises(StgcnError, match=r"\.py"):
        load_config(write(tmp_path, "cfg.yaml", "model: 1\n"))


@pytest.mark.parametrize("text, value", [
    ("1", 1), ("-2", -2), ("0.5", 0.5), ("1e-4", 1e-4), ("true", True), ("False", False), ("None", None),
    ("abc", "abc"), ("'quoted'", "quoted"), ("1,2", [1, 2]), ("[1,2]", [1, 2]), ("[]", []), ("(1,2)", (1, 2)),
    ("[(1,2),(3,4)]", [(1, 2), (3, 4)]), ("[a,[b,c]]", ["a", ["b", "c"]]), ("x,1.5,true", ["x", 1.5, True]),
])
def test_option_values_follow_mmcv_dict_action(text, value):
    assert parse_option_value(text) == value
    assert type(parse_option_value(text)) is type(value)


def test_cfg_options_nested_keys_and_list_indices(tmp_path):
    cfg = load_config(ROOT / "configs/skeleton/stgcn/stgcn_80e_ntu60_xsub_keypoint.py",
                      parse_cfg_options(["total_epochs=3", "data.train.pipeline.0.clip_len=100",
                                         "lr_config.step=[1,2]", "optimizer.lr=0.05",
                                         "lr_config.warmup=linear", "data.test_dataloader.videos_per_gpu=4"]))
    assert cfg["total_epochs"] == 3
    assert cfg["data"]["train"]["pipeline"][0] == dict(type="PaddingWithLoop", clip_len=100)
    assert cfg["data"]["val"]["pipeline"][0]["clip_len"] == 300  # separate lists after loading
    assert cfg["lr_config"] == dict(policy="step", step=[1, 2], warmup="linear")
    assert cfg["optimizer"]["lr"] == 0.05
    assert cfg["data"]["test_dataloader"] == {"videos_per_gpu": 4}


def test_cfg_options_errors():
    cfg = {"data": {"train": {"pipeline": [{"a": 1}]}}, "total_epochs": 1}
    with pytest.raises(StgcnError, match="did you mean 'total_epochs'"):
        merge_cfg_options(cfg, {"total_epoch": 2})
    with pytest.raises(StgcnError, match="not a valid index"):
        merge_cfg_options(cfg, {"data.train.pipeline.3.a": 2})
    with pytest.raises(StgcnError, match="KEY=VALUE"):
        parse_cfg_options(["total_epochs"])
    with pytest.raises(StgcnError, match="unbalanced"):
        parse_option_value("[1,2")
    assert merge_cfg_options(cfg, {"seed": 3})["seed"] == 3  # known keys may be added


def test_dump_is_atomic_pretty_and_loadable(tmp_path):
    cfg = {"model": dict(type="X", layers=list(range(60)), inf=float("inf")), "workflow": [("train", 1)],
           "data": {"weird key": 1, 2: "two", "class": (1,)}, "log_level": "INFO"}
    path = dump_config(cfg, tmp_path / "out" / "cfg.py")
    assert load_config(path) == cfg
    text = config_to_text(cfg)
    assert "float('inf')" in text and max(len(line) for line in text.splitlines()) <= 100
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["cfg.py"]  # no temp files left


def test_nw_ucla_stream_configs_only_add_their_features_to_the_joint_recipe():
    """The bone/motion configs copy the joint pipelines (mmaction configs cannot patch a list item);
    guard against the copies drifting from the joint recipe."""
    root = Path(__file__).resolve().parents[2] / "configs" / "skeleton" / "stgcn"
    joint = load_config(root / "stgcn_nwucla_xview_joint_3d.py")
    for stream, feats in (("bone", ["b"]), ("jm", ["jm"]), ("bm", ["bm"])):
        cfg = load_config(root / f"stgcn_nwucla_xview_{stream}_3d.py")
        for part in ("train", "val", "test"):
            steps = cfg["data"][part]["pipeline"]
            extra = [s for s in steps if s["type"] == "GenSkeFeat"]
            assert extra == [dict(type="GenSkeFeat", dataset="nw-ucla", feats=feats)], (stream, part)
            assert [s for s in steps if s["type"] != "GenSkeFeat"] == joint["data"][part]["pipeline"]
        assert {k: v for k, v in cfg.items() if k not in ("data", "work_dir", "train_pipeline",
                                                         "test_pipeline")} == \
               {k: v for k, v in joint.items() if k not in ("data", "work_dir", "train_pipeline",
                                                           "test_pipeline")}


def test_cfg_options_fill_a_none_section():
    cfg = {"optimizer_config": {"grad_clip": None}}
    merged = merge_cfg_options(cfg, {"optimizer_config.grad_clip.max_norm": 35})
    assert merged == {"optimizer_config": {"grad_clip": {"max_norm": 35}}}
    assert cfg == {"optimizer_config": {"grad_clip": None}}
