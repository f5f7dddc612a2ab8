"""ST-GCN++ blocks: the joint multi-scale temporal conv against its branch modules; BN folding."""

import copy

import numpy as np
import pytest
import torch

import stgcn
from stgcn.models.fuse import fuse_conv_bn
from stgcn.models.stgcn import STGCNBlock
from stgcn.models.stgcnpp import MSTCN, joinable, temporal_max_pool
from tests.models.helpers import randomize


def _per_branch(mstcn, x):
    """The 1.x definition: every branch module on its own, concatenated, then the transform."""
    y = torch.cat([branch(x) for branch in mstcn.branches], dim=1)
    return mstcn.bn(mstcn.transform(y))


@pytest.mark.parametrize("stride", [1, 2])
def test_mstcn_joint_heads_equal_the_branch_modules_in_training(stride):
    torch.manual_seed(0)
    fast = MSTCN(24, 24, stride=stride).to(memory_format=torch.channels_last)
    randomize(fast)
    slow = copy.deepcopy(fast)
    x = (torch.randn(3, 24, 10, 5) + 2.0).to(memory_format=torch.channels_last)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    got, want = fast(xa), _per_branch(slow, xb)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(got)
    got.backward(grad)
    want.backward(grad)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)
    # (a bias right before a training BN has a zero gradient up to rounding: compare on one scale)
    scale = max(float(q.grad.abs().max()) for q in slow.parameters())
    for (name, p), q in zip(fast.named_parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5 * scale, msg=name)
    for (name, b), c in zip(fast.named_buffers(), slow.buffers(), strict=True):
        torch.testing.assert_close(b, c, rtol=1e-5, atol=1e-6, msg=name)  # running stats updated alike
    assert int(fast.branches[0][1].num_batches_tracked) == 1
    fast.eval()
    slow.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), _per_branch(slow, x), rtol=1e-5, atol=1e-5)


def test_mstcn_joint_heads_under_bf16_autocast_update_the_same_statistics():
    torch.manual_seed(0)
    fast = MSTCN(12, 12).to(memory_format=torch.channels_last)
    randomize(fast)
    for branch in fast.branches[:5]:
        branch[1].momentum = None  # cumulative average: follows num_batches_tracked
    slow = copy.deepcopy(fast)
    x = torch.randn(2, 12, 8, 5).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", torch.bfloat16):
        got, want = fast(x), _per_branch(slow, x)
    torch.testing.assert_close(got.float(), want.float(), rtol=2e-2, atol=2e-2)
    assert joinable([b[1] for b in fast.branches[:5]])
    for (name, b), c in zip(fast.named_buffers(), slow.buffers(), strict=True):
        torch.testing.assert_close(b.float(), c.float(), rtol=1e-2, atol=1e-3, msg=name)


def _tiny(**backbone):
    options = dict(type="STGCN", graph_cfg=dict(layout="coco", mode="spatial"), base_channels=12,
                   num_stages=3, inflate_stages=(3,), down_stages=(3,))
    model = stgcn.build_model(dict(
        type="RecognizerGCN", backbone={**options, **backbone},
        cls_head=dict(type="GCNHead", num_classes=4, in_channels=24)))
    randomize(model, seed=1)
    return model.eval()


PLUS = dict(gcn_adaptive="init", gcn_with_res=True, tcn_type="mstcn")
VARIANTS = {
    "stgcn++": PLUS,
    "offset, post, unit_tcn": dict(gcn_adaptive="offset", gcn_conv_pos="post", gcn_with_res=True),
    "mstcn, 1x1 first, no gcn residual": dict(
        gcn_adaptive="importance", gcn_with_res=False, tcn_type="mstcn",
        tcn_ms_cfg=("1x1", (3, 1), ("max", 3), (5, 2)), tcn_mid_channels=0.25),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fused_stgcnpp_equals_the_unfused_eval_model_and_scripts(variant):
    model = _tiny(**VARIANTS[variant])
    if "1x1" in variant:  # negative BN scales: the max-pool branch must keep its affine after the pool
        with torch.no_grad():
            model.backbone.st_gcn_networks[1].tcn.transform[0].weight.neg_()
    assert not any(isinstance(b, STGCNBlock) for b in model.backbone.st_gcn_networks)
    fused = fuse_conv_bn(model)
    assert list(fused.parameters()) == []
    x = torch.randn(2, 3, 9, 17, 2)
    x[1, ..., 1] = 0.0  # a padded person
    scripted = torch.jit.script(fused)
    with torch.no_grad():
        want = model(x)
        for got in (fused(x), scripted(x)):
            assert float((got - want).abs().max() / want.abs().max()) <= 1e-5


EXPORT_VARIANTS = {
    **VARIANTS,
    # K = 1 partition, and a first block that narrows 20 -> 12 channels (convolves before aggregating)
    "binary_adj, narrowing": dict(PLUS, in_channels=20, graph_cfg=dict(layout="coco", mode="binary_adj")),
}


@pytest.mark.parametrize("variant", list(EXPORT_VARIANTS))
def test_stgcnpp_exports_to_onnx(variant):
    pytest.importorskip("onnxruntime")  # the [onnx] extra
    from stgcn.inference import export

    model = _tiny(**EXPORT_VARIANTS[variant])
    session = export.onnx_session(export.onnx_bytes(model))
    for frames in (7, 20):
        x = torch.randn(3, model.backbone.in_channels, frames, 17, 2)
        with torch.no_grad():
            want = model(x)
        got = torch.from_numpy(session.run(None, {export.INPUT_NAME: x.numpy()})[0])
        assert float((got - want).abs().max() / want.abs().max()) <= 1e-5


@pytest.mark.parametrize("kernel,stride,padding", [(3, 1, 1), (3, 2, 1), (5, 2, 2), (2, 1, 0)])
def test_temporal_max_pool_equals_max_pool2d(kernel, stride, padding):
    x = torch.randn(2, 5, 11, 4).to(memory_format=torch.channels_last)
    want = torch.nn.functional.max_pool2d(x, (kernel, 1), (stride, 1), (padding, 0))
    assert torch.equal(temporal_max_pool(x, kernel, stride, padding), want)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    got = temporal_max_pool(xa, kernel, stride, padding)
    ref = torch.nn.functional.max_pool2d(xb, (kernel, 1), (stride, 1), (padding, 0))
    assert torch.equal(got, want)
    g = torch.randn_like(got)
    got.backward(g)
    ref.backward(g)
    assert torch.equal(xa.grad, xb.grad)


def test_mstcn_relus_get_channels_last_gradients(monkeypatch):
    """Every ReLU inside the block gets its gradient in its output's (channels-last) layout: on mixed
    layouts the elementwise backward kernels run ~25x slower (chained maxima for the pool branch gave the
    branch heads' ReLU a contiguous gradient)."""
    layouts = []
    relu_ = torch.relu_

    def watched(t):
        y = relu_(t)
        if y.requires_grad:
            y.register_hook(lambda g: layouts.append(g.is_contiguous(memory_format=torch.channels_last)
                                                     and not g.is_contiguous()))
        return y

    monkeypatch.setattr(torch, "relu_", watched)
    torch.manual_seed(0)
    block = MSTCN(64, 64).train()
    x = torch.randn(4, 64, 12, 20).to(memory_format=torch.channels_last).requires_grad_()
    y = block(x)
    y.backward(torch.randn_like(y))
    assert len(layouts) == 2 and all(layouts)  # the joint heads' ReLU and the transform's


def test_stgcnpp_int8_export_runs_and_leaves_no_scratch_files(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")  # the [onnx] extra
    import onnx

    from stgcn.inference import export
    from stgcn.models.fuse import fuse_conv_bn

    monkeypatch.chdir(tmp_path)  # onnxruntime's shape inference writes scratch files into the cwd
    model = fuse_conv_bn(_tiny(**PLUS).eval())
    calib = [torch.randn(1, 3, 12, 17, 2).numpy() for _ in range(4)]
    path = export.export(model, tmp_path / "out" / "int8.onnx", "onnx", calibration=calib)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    out = export.onnx_session(path).run(None, {export.INPUT_NAME: calib[0]})[0]
    assert out.shape[0] == 1 and np.isfinite(out).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
