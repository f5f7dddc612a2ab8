"""BN-folded inference path: equal to the unfused eval model and the oracle, scriptable, eval only."""

import copy

import pytest
import torch

import stgcn
from stgcn.errors import StgcnError
from stgcn.models.fuse import fuse_conv_bn
from tests.models.helpers import LAYOUT_V, model_cfg, paired_models, pipeline_like_input, randomize


def _rel(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


@pytest.mark.parametrize("layout", ["coco", "ntu-rgb+d"])
@pytest.mark.parametrize("batch,frames,persons", [(1, 37, 1), (3, 24, 2)])
def test_fused_equals_unfused_eval_and_reference(reference, layout, batch, frames, persons):
    ours, ref = paired_models(reference, layout)
    ours.eval()
    ref.eval()
    fused = fuse_conv_bn(ours)
    x = pipeline_like_input(batch, frames, LAYOUT_V[layout], persons)
    with torch.no_grad():
        got, unfused, want = fused(x), ours(x), ref(x)
    assert got.shape == (batch, 60)
    assert _rel(got, unfused) <= 1e-5
    assert _rel(got, want) <= 1e-5


def test_fuse_leaves_the_model_unchanged_and_has_no_parameters(reference):
    ours, _ = paired_models(reference, "coco")
    ours.train()
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    fused = fuse_conv_bn(ours)
    assert ours.training and not fused.training
    assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())
    assert list(fused.parameters()) == []
    # BN of the unfused model in training mode must not matter: folding uses running stats.
    x = pipeline_like_input(2, 20, 17, 2)
    with torch.no_grad():
        assert _rel(fused(x), ours.eval()(x)) <= 1e-5


def test_fused_model_refuses_training_and_bad_inputs():
    fused = fuse_conv_bn(stgcn.build_model(model_cfg("coco")))
    with pytest.raises(StgcnError, match="inference only"):
        fused.train()
    fused.eval()  # allowed
    with pytest.raises(StgcnError, match=r"\(N, 3, T, 17, 2\)"):
        fused(torch.randn(1, 3, 10, 25, 2))
    with pytest.raises(StgcnError, match="SkeletonGCN"):
        fuse_conv_bn(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("variant", ["no_edge_importance", "no_data_bn", "max_pool", "dropout"])
def test_fused_config_variants(variant):
    cfg = model_cfg("coco", num_classes=7)
    if variant == "no_edge_importance":
        cfg["backbone"]["edge_importance_weighting"] = False
    elif variant == "no_data_bn":
        cfg["backbone"]["data_bn"] = False
    elif variant == "max_pool":
        cfg["cls_head"]["spatial_type"] = "max"
    else:
        cfg["backbone"]["dropout"] = 0.5
    model = stgcn.build_model(cfg)
    randomize(model, seed=3)
    model.eval()
    x = pipeline_like_input(2, 16, 17, 2, seed=2)
    with torch.no_grad():
        assert _rel(fuse_conv_bn(model)(x), model(x)) <= 1e-5


def test_fused_model_scripts_and_traces():
    model = stgcn.build_model(model_cfg("ntu-rgb+d", num_classes=5))
    randomize(model, seed=1)
    fused = fuse_conv_bn(model.eval())
    x = pipeline_like_input(2, 20, 25, 2)
    other = pipeline_like_input(3, 28, 25, 1, seed=4)  # another batch and length than traced
    with torch.no_grad():
        want, want_other = fused(x), fused(other)
        scripted = torch.jit.script(fused)
        traced = torch.jit.trace(fused, x)
        assert torch.allclose(scripted(x), want, rtol=0, atol=1e-6)
        assert torch.allclose(traced(other), want_other, rtol=0, atol=1e-6)


def test_fused_model_deep_copies():
    model = stgcn.build_model(model_cfg("coco", num_classes=5))
    randomize(model, seed=6)
    fused = fuse_conv_bn(model.eval())
    assert not any(b.requires_grad or b.grad_fn is not None for b in fused.buffers())
    x = pipeline_like_input(1, 12, 17, 2)
    with torch.no_grad():
        assert torch.equal(copy.deepcopy(fused)(x), fused(x))


def test_fused_state_moves_with_to():
    fused = fuse_conv_bn(stgcn.build_model(model_cfg("coco"))).to(torch.float64)
    assert all(b.dtype == torch.float64 for b in fused.buffers())
    x = pipeline_like_input(1, 12, 17, 2).double()
    assert fused(x).dtype == torch.float64


@pytest.mark.parametrize("strategy", ["uniform", "distance"])
def test_other_partition_strategies_match_reference(reference, strategy):
    """K = 1 and K = 2 partitions through both the aggregate-first and the conv-first blocks."""
    ref = reference.Reference(60, 3, "coco", strategy)
    randomize(ref, seed=5)
    cfg = model_cfg("coco")
    cfg["backbone"]["graph_cfg"]["strategy"] = strategy
    ours = stgcn.build_model(cfg)
    ours.load_state_dict(ref.state_dict())
    ours.eval()
    ref.eval()
    x = pipeline_like_input(2, 20, 17, 2, seed=6)
    with torch.no_grad():
        want = ref(x)
        assert _rel(ours(x), want) <= 1e-5
        assert _rel(fuse_conv_bn(ours)(x), want) <= 1e-5
