"""mmaction2 1.x / PYSKL models and checkpoints against the real mmaction2 1.2.0 outputs (../shared)."""

import functools
import os
import pickle
import warnings
from collections import OrderedDict

import pytest
import torch

import stgcn
from stgcn.errors import StgcnError
from stgcn.graph import Graph1x
from stgcn.models import remap
from stgcn.models.checkpoint import load_checkpoint, read_checkpoint
from stgcn.models.fuse import fuse_conv_bn
from stgcn.models.stgcn import STGCNBlock
from stgcn.models.stgcnpp import GCNBlock
from tests.conftest import shared_path

FIXTURES = ["stgcn_2d_coco", "stgcn_3d_ntu", "stgcnpp_2d_coco", "stgcnpp_3d_ntu"]


@functools.cache
def _oracle(name):
    return torch.load(shared_path("data", "mmaction2_1x", f"model_{name}.pt"), weights_only=True)


def oracle(name):
    return _oracle(str(name))


def ours(x):
    """Oracle input (N, M, T, V, C) -> the project's (N, C, T, V, M)."""
    return x.permute(0, 4, 2, 3, 1).contiguous()


def loaded(name, tmp_path, state=None):
    """The model built from the oracle's 1.x config, weights loaded from a file through the remaps."""
    d = oracle(name)
    path = tmp_path / f"{name}.pth"
    torch.save({"state_dict": d["state_dict"] if state is None else state}, path)
    model = stgcn.build_model(d["model_cfg"])
    return model, load_checkpoint(model, path)


def assert_logits_close(got, want):
    # float32 sums over up to 256 x 9 terms of values in the hundreds: 1e-5 of the largest logit
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


@pytest.mark.parametrize("name", FIXTURES)
def test_logits_match_mmaction2_1x(name, tmp_path):
    d = oracle(name)
    model, ckpt = loaded(name, tmp_path)
    assert ckpt["remap"] == "mmaction2 1.x"
    kind = GCNBlock if "stgcnpp" in name else STGCNBlock
    assert all(isinstance(b, kind) for b in model.backbone.st_gcn_networks)
    model.eval()
    with torch.no_grad():
        for x, want in zip(d["inputs"], d["logits"], strict=True):
            assert_logits_close(model(ours(x)), want)
        feats = model.backbone(ours(d["inputs"][0]))
        torch.testing.assert_close(feats.view(d["backbone_out"].shape), d["backbone_out"],
                                   rtol=1e-5, atol=1e-5 * float(d["backbone_out"].abs().max()))
        # x1 pads person 1 with zeros: the padded-person reuse gives the full forward's logits
        model.skip_padded_persons = False
        assert_logits_close(model(ours(d["inputs"][1])), d["logits"][1])


@pytest.mark.parametrize("name", FIXTURES)
def test_parameter_count_and_graph(name):
    d = oracle(name)
    model = stgcn.build_model(d["model_cfg"])
    rules = d["randomization_rules"]
    # parameters are what the oracle drew at random except running statistics and kept buffers
    want = sum(v.numel() for k, v in d["state_dict"].items()
               if not rules[k].startswith("kept") and "running_" not in k)
    assert sum(p.numel() for p in model.parameters()) == want
    graph = d["model_cfg"]["backbone"]["graph_cfg"]
    assert torch.equal(torch.from_numpy(Graph1x(**graph).A), d["graph_A"])


@pytest.mark.parametrize("name", FIXTURES)
def test_remap_round_trip(name):
    d = oracle(name)
    model = stgcn.build_model(d["model_cfg"])
    own = {k: v.shape for k, v in model.state_dict().items()}
    to_ours = remap.mmaction2_1x(d["state_dict"], own)
    assert set(to_ours) == set(own)
    back = remap.to_mmaction2_1x(to_ours)
    assert set(back) == set(d["state_dict"])
    for k, v in d["state_dict"].items():
        assert torch.equal(back[k], v), k
    if "stgcnpp" not in name:  # ST-GCN maths: the 0.x names, and back again
        assert "backbone.st_gcn_networks.4.tcn.0.running_var" in to_ours
        assert "backbone.edge_importance.9" in to_ours and "backbone.A" in to_ours
        again = remap.mmaction2_1x(remap.to_mmaction2_1x(to_ours), own)
        assert all(torch.equal(again[k], v) for k, v in to_ours.items())


def test_pyskl_head_name_and_0x_names_load(tmp_path):
    d = oracle("stgcn_2d_coco")
    pyskl = OrderedDict((k.replace("cls_head.fc.", "cls_head.fc_cls."), v)
                        for k, v in d["state_dict"].items())
    model, ckpt = loaded("stgcn_2d_coco", tmp_path, pyskl)
    assert ckpt["remap"] == "PYSKL"
    x = ours(d["inputs"][0])
    with torch.no_grad():
        assert_logits_close(model.eval()(x), d["logits"][0])
        # the same weights saved under 0.x names (a 1x1-conv head) load through the native remap
        zero_x = model.state_dict()
        zero_x["cls_head.fc.weight"] = zero_x["cls_head.fc.weight"][:, :, None, None]
        other, ckpt = loaded("stgcn_2d_coco", tmp_path, zero_x)
        assert ckpt["remap"] == "mmaction2 0.x"
        assert_logits_close(other.eval()(x), d["logits"][0])
        ddp = OrderedDict(("module." + k, v) for k, v in d["state_dict"].items())
        with pytest.raises(StgcnError, match="DDP 'module.' prefix: .*missing keys"):
            loaded("stgcn_2d_coco", tmp_path, ddp)  # DDP strips the prefix only; 1.x names stay


def test_mismatch_names_what_each_remap_got_wrong(tmp_path):
    with pytest.raises(StgcnError) as err:
        model = stgcn.build_model(oracle("stgcn_2d_coco")["model_cfg"])
        torch.save({"state_dict": oracle("stgcnpp_2d_coco")["state_dict"]}, tmp_path / "pp.pth")
        load_checkpoint(model, tmp_path / "pp.pth")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(tmp_path / "pp.pth"))
    assert "mmaction2 0.x: 165 missing keys" in msg
    assert "DDP 'module.' prefix: keys do not all start with 'module.'" in msg
    assert "original ST-GCN: no bare 'st_gcn_networks.<i>' keys" in msg
    assert "mmaction2 1.x: backbone.gcn.0.gcn.down.0.weight has no ST-GCN counterpart" in msg
    assert "PYSKL: no 'cls_head.fc_cls' head" in msg
    state = OrderedDict(oracle("stgcn_2d_coco")["state_dict"])
    state["backbone.gcn.3.gcn.A"] = state["backbone.gcn.3.gcn.A"] * 1.5
    with pytest.raises(StgcnError, match=r"mmaction2 1.x: the blocks' gcn.A differ"):
        loaded("stgcn_2d_coco", tmp_path, state)
    with pytest.raises(StgcnError, match=r"cls_head.fc.weight has shape \(60, 256\) but the model "
                                         r"needs \(5, 256\).*--load-from"):
        cfg = oracle("stgcnpp_2d_coco")["model_cfg"]
        model = stgcn.build_model({**cfg, "cls_head": {**cfg["cls_head"], "num_classes": 5}})
        torch.save({"state_dict": oracle("stgcnpp_2d_coco")["state_dict"]}, tmp_path / "pp60.pth")
        load_checkpoint(model, tmp_path / "pp60.pth")


def test_mmengine_runner_checkpoint_loads_without_its_objects():
    path = shared_path("data", "mmaction2_1x", "runner_best_acc_top1_epoch_1.pth")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    model = stgcn.build_model(oracle("stgcn_2d_coco")["model_cfg"])
    with pytest.warns(UserWarning, match=r"skipped objects of types .*HistoryBuffer") as caught:
        ckpt = load_checkpoint(model, path)
    assert len([w for w in caught if "skipped" in str(w.message)]) == 1
    assert ckpt["remap"] == "mmaction2 1.x"
    meta = ckpt["meta"]
    assert meta["epoch"] == 1 and meta["seed"] == 0 and "type='RecognizerGCN'" in meta["cfg"]
    raw = ckpt["state_dict"]
    assert torch.equal(model.backbone.st_gcn_networks[7].tcn[3].running_var,
                       raw["backbone.gcn.7.tcn.bn.running_var"])
    assert torch.equal(model.cls_head.fc.weight, raw["cls_head.fc.weight"])


class _System:
    def __reduce__(self):
        return (os.system, ("touch pwned_marker",))


def test_crafted_checkpoints_run_no_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"state_dict": {"w": torch.ones(2)}, "meta": {"epoch": 3, "evil": _System()}}, "meta.pth")
    with pytest.warns(UserWarning, match=r"skipped objects of types posix.system|nt.system"):
        ckpt = read_checkpoint("meta.pth")
    assert ckpt["meta"] == {"epoch": 3} and torch.equal(ckpt["state_dict"]["w"], torch.ones(2))
    torch.save({"state_dict": {"w": _System()}}, "weights.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(StgcnError, match="objects other than tensors"):
            read_checkpoint("weights.pth")
    # protocol-0 opcodes calling builtins.eval, outside torch's container format
    code = b"__import__('os').system('touch pwned_marker')"
    (tmp_path / "eval.pth").write_bytes(b"cbuiltins\neval\n(S\"" + code + b"\"\ntR.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(StgcnError, match="eval.pth"):
            read_checkpoint("eval.pth")
    assert not (tmp_path / "pwned_marker").exists()


@pytest.mark.parametrize("name", FIXTURES)
def test_fuse_serves_1x_stgcn_and_stgcnpp(name, tmp_path):
    d = oracle(name)
    model, _ = loaded(name, tmp_path)
    fused = fuse_conv_bn(model)
    with torch.no_grad():
        for x, want in zip(d["inputs"], d["logits"], strict=True):
            assert_logits_close(fused(ours(x)), want)


def test_fuse_refuses_per_person_data_bn():
    model = stgcn.build_model(_tiny_1x(data_bn_type="MVC"))
    with pytest.raises(StgcnError, match="data_bn_type='MVC'.*drop --fuse-conv-bn"):
        fuse_conv_bn(model)


def _tiny_1x(**backbone):
    return dict(type="RecognizerGCN",
                backbone=dict(type="STGCN", graph_cfg=dict(layout="coco", mode="spatial"),
                              base_channels=8, num_stages=3, inflate_stages=(3,), down_stages=(3,),
                              **backbone),
                cls_head=dict(type="GCNHead", num_classes=4, in_channels=16, dropout=0.1))


@pytest.mark.parametrize("options", [
    dict(gcn_adaptive="offset", gcn_conv_pos="post", tcn_dropout=0.1),
    dict(gcn_adaptive=None, data_bn_type="MVC", tcn_type="mstcn", gcn_with_res=True),
    dict(gcn_adaptive=("importance", "init", "offset"), data_bn_type=None),
])
def test_other_1x_options_train_a_step(options):
    torch.manual_seed(0)
    model = stgcn.build_model(_tiny_1x(**options))
    x, labels = torch.randn(2, 3, 8, 17, 2), torch.tensor([1, 3])
    loss = model.loss(model(x), labels)["loss_cls"]
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.backbone.st_gcn_networks[-1].gcn.conv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 4)


def test_mvc_data_bn_is_per_person_slot():
    model = stgcn.build_model(_tiny_1x(data_bn_type="MVC")).eval()
    assert model.backbone.data_bn.num_features == 2 * 3 * 17
    with torch.no_grad():
        model.backbone.data_bn.running_mean[:51] = 5.0  # person slot 0 only
        x = torch.zeros(1, 3, 8, 17, 2)
        x[..., 0] = 5.0  # slot 0 normalises to 0, as slot 1's zeros do
        pooled = model.backbone(x).mean(dim=(2, 3))
    torch.testing.assert_close(pooled[0], pooled[1])
    with pytest.raises(StgcnError, match="data_bn_type='MVC' needs num_person=2"):
        model.backbone(torch.zeros(1, 3, 8, 17, 3))


def test_1x_config_errors_are_one_line():
    with pytest.raises(StgcnError, match="did you mean 'gcn_adaptive'"):
        stgcn.build_model(_tiny_1x(gcn_adaptve="init"))
    with pytest.raises(StgcnError, match="graph_cfg.mode.*valid: stgcn_spatial, spatial, binary_adj"):
        stgcn.build_model({**_tiny_1x(), "backbone": {"type": "STGCN", "graph_cfg": dict(layout="coco",
                                                                                         mode="agcn")}})
    with pytest.raises(StgcnError, match="tcn_type must be 'unit_tcn' or 'mstcn'"):
        stgcn.build_model(_tiny_1x(tcn_type="tcn"))


def test_1x_graph_modes_and_custom_layout():
    binary = Graph1x("openpose", "binary_adj").A
    assert binary.shape == (1, 18, 18) and (binary == binary[0].T).all() and binary.sum() == 2 * 17
    custom = Graph1x(dict(num_node=3, inward=[(1, 0), (2, 1)], center=0), "spatial").A
    assert custom.shape == (3, 3, 3) and custom[1, 0, 1] == 1.0 and custom[2, 1, 0] == 1.0
    assert Graph1x("nturgb+d", "stgcn_spatial").A.shape == (3, 25, 25)


def test_backbone_pretrained_from_a_1x_file(tmp_path):
    d = oracle("stgcnpp_3d_ntu")
    torch.save({"state_dict": d["state_dict"]}, tmp_path / "pp.pth")
    cfg = d["model_cfg"]
    model = stgcn.build_model({**cfg, "backbone": {**cfg["backbone"], "pretrained": str(tmp_path / "pp.pth")},
                               "cls_head": {**cfg["cls_head"], "num_classes": 7}})
    assert torch.equal(model.backbone.st_gcn_networks[4].tcn.branches[1][3].conv.weight,
                       d["state_dict"]["backbone.gcn.4.tcn.branches.1.3.conv.weight"])
    assert model.cls_head.fc.weight.shape == (7, 256)
