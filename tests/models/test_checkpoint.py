"""Checkpoint I/O: mmaction2-style files, foreign layouts, strictness, safety, atomic writes."""

import os
import pickle
import stat
from collections import OrderedDict

import numpy as np
import pytest
import torch

import stgcn
from stgcn.errors import StgcnError
from stgcn.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from tests.models.helpers import model_cfg, paired_models, pipeline_like_input


def _logits(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def test_round_trip_keeps_weights_meta_and_optimizer(tmp_path):
    model = stgcn.build_model(model_cfg("coco", num_classes=5))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 17, 2)).sum().backward()
    opt.step()
    path = tmp_path / "epoch_1.pth"
    save_checkpoint(path, model, opt, meta={"epoch": 1, "seed": 0})
    other = stgcn.build_model(model_cfg("coco", num_classes=5))
    ckpt = load_checkpoint(other, path)
    assert ckpt["meta"] == {"epoch": 1, "seed": 0} and "optimizer" in ckpt
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"meta", "state_dict", "optimizer"} and len(raw["state_dict"]) == 172


def test_mmaction2_style_checkpoint_from_the_oracle(reference, tmp_path):
    """{'meta' with numpy scalars as mmcv writes them, 'state_dict', 'optimizer'} -> same logits."""
    ours, ref = paired_models(reference, "ntu-rgb+d")
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    ckpt = {"meta": {"mmaction_version": "0.24.1", "epoch": 80, "iter": 100240,
                     "hook_msgs": {"best_score": np.float64(0.8461), "last_ckpt": "epoch_80.pth"},
                     "config": "model = dict(...)"},
            "state_dict": OrderedDict((k, v.clone()) for k, v in ref.state_dict().items()),
            "optimizer": opt.state_dict()}
    path = tmp_path / "stgcn_80e_ntu60_xsub_keypoint_3d.pth"
    torch.save(ckpt, path)
    fresh = stgcn.build_model(model_cfg("ntu-rgb+d"))
    meta = load_checkpoint(fresh, path)["meta"]
    assert meta["epoch"] == 80
    x = pipeline_like_input(2, 40, 25, 2)
    torch.testing.assert_close(_logits(fresh, x), _logits(ref, x), rtol=1e-5, atol=1e-5)


def test_ddp_prefix_and_bare_state_dict(reference, tmp_path):
    _, ref = paired_models(reference, "coco")
    torch.save(OrderedDict(("module." + k, v) for k, v in ref.state_dict().items()), tmp_path / "ddp.pth")
    model = stgcn.build_model(model_cfg("coco"))
    load_checkpoint(model, tmp_path / "ddp.pth")
    x = pipeline_like_input(1, 30, 17, 1)
    torch.testing.assert_close(_logits(model, x), _logits(ref, x), rtol=1e-5, atol=1e-5)


def test_original_stgcn_checkpoint_is_renamed(reference, tmp_path):
    _, ref = paired_models(reference, "ntu-rgb+d")
    original = OrderedDict()
    for k, v in ref.state_dict().items():
        original[k.replace("backbone.", "", 1).replace("cls_head.fc.", "fcn.")] = v
    assert "fcn.weight" in original and "st_gcn_networks.0.gcn.conv.weight" in original
    torch.save(original, tmp_path / "st_gcn.ntu-xsub.pt")
    model = stgcn.build_model(model_cfg("ntu-rgb+d"))
    load_checkpoint(model, tmp_path / "st_gcn.ntu-xsub.pt")
    x = pipeline_like_input(1, 30, 25, 2)
    torch.testing.assert_close(_logits(model, x), _logits(ref, x), rtol=1e-5, atol=1e-5)


def test_class_count_mismatch_is_explained_and_can_reinitialise_the_head(tmp_path):
    save_checkpoint(tmp_path / "k60.pth", stgcn.build_model(model_cfg("coco", num_classes=60)))
    model = stgcn.build_model(model_cfg("coco", num_classes=7))
    with pytest.raises(StgcnError, match=r"cls_head.fc.weight has shape \(60, 256, 1, 1\).*--load-from"):
        load_checkpoint(model, tmp_path / "k60.pth")
    head_before = model.cls_head.fc.weight.clone()
    with pytest.warns(UserWarning, match="re-initialised head"):
        load_checkpoint(model, tmp_path / "k60.pth", reinit_head=True)
    assert torch.equal(model.cls_head.fc.weight, head_before)


def test_layout_mismatch_names_the_graph(tmp_path):
    save_checkpoint(tmp_path / "coco.pth", stgcn.build_model(model_cfg("coco")))
    with pytest.raises(StgcnError, match="graph layout"):
        load_checkpoint(stgcn.build_model(model_cfg("ntu-rgb+d")), tmp_path / "coco.pth")


def test_missing_keys_are_reported_not_ignored(tmp_path):
    state = stgcn.build_model(model_cfg("coco")).state_dict()
    del state["backbone.st_gcn_networks.3.tcn.2.weight"]
    torch.save({"state_dict": state}, tmp_path / "partial.pth")
    with pytest.raises(StgcnError, match="1 missing keys"):
        load_checkpoint(stgcn.build_model(model_cfg("coco")), tmp_path / "partial.pth")


def test_missing_and_corrupt_files(tmp_path):
    model = stgcn.build_model(model_cfg("coco"))
    with pytest.raises(StgcnError, match="not found"):
        load_checkpoint(model, tmp_path / "nope.pth")
    for name, data in (("junk.pth", b"not a checkpoint"), ("text.pth", b"hello\n"), ("short.pth", b"abc")):
        (tmp_path / name).write_bytes(data)  # torch raises KeyError / IndexError on the last two
        with pytest.raises(StgcnError, match=f"{name}: not a readable PyTorch checkpoint") as info:
            load_checkpoint(model, tmp_path / name)
        assert "\n" not in str(info.value)
    save_checkpoint(tmp_path / "ok.pth", model)
    data = (tmp_path / "ok.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(StgcnError, match="cut.pth"):
        load_checkpoint(model, tmp_path / "cut.pth")


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned_marker",))


def test_checkpoint_with_code_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"state_dict": {}, "meta": _Payload()}, tmp_path / "evil.pth")
    with open(tmp_path / "evil_plain.pth", "wb") as f:
        pickle.dump({"state_dict": {}, "x": _Payload()}, f)
    with pytest.warns(UserWarning, match="skipped objects of types .*system"):
        assert read_checkpoint(tmp_path / "evil.pth")["meta"] == {}
    with pytest.raises(StgcnError, match="refused|not a readable"):
        read_checkpoint(tmp_path / "evil_plain.pth")
    assert not (tmp_path / "pwned_marker").exists()


def test_saved_files_are_atomic_and_readable_by_others(tmp_path):
    path = tmp_path / "latest.pth"
    save_checkpoint(path, stgcn.build_model(model_cfg("coco", num_classes=3)))
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pth"]  # no temp files left behind


def test_non_strict_load_warns_about_what_it_left_out(tmp_path):
    source = stgcn.build_model(model_cfg("coco"))
    state = source.state_dict()
    del state["backbone.st_gcn_networks.3.tcn.2.weight"]
    state["backbone.extra"] = torch.zeros(1)
    torch.save({"state_dict": state}, tmp_path / "partial.pth")
    model = stgcn.build_model(model_cfg("coco"))
    with pytest.warns(UserWarning, match=r"missing keys \['backbone.st_gcn_networks.3.tcn.2.weight'\], "
                                         r"unexpected keys \['backbone.extra'\]"):
        assert load_checkpoint(model, tmp_path / "partial.pth", strict=False)["remap"] == "mmaction2 0.x"
    assert torch.equal(model.backbone.st_gcn_networks[4].tcn[2].weight,
                       source.backbone.st_gcn_networks[4].tcn[2].weight)
