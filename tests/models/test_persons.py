"""Eval-time reuse of padded persons: same logits as running every person, cache kept honest."""

import pytest
import torch

import stgcn
from stgcn.models.fuse import fuse_conv_bn
from tests.models.helpers import model_cfg, randomize


def _model(layout="ntu-rgb+d"):
    torch.manual_seed(0)
    model = stgcn.build_model(model_cfg(layout))
    randomize(model)
    return model.eval()


def _mixed_batch(frames=24, v=25):
    """Padding with zeros (3D pipeline) and with -0.5 (2D), in either slot, next to real persons."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, frames, v, 2, generator=gen)
    x[0, ..., 1] = 0.0
    x[1, ..., 1] = -0.5
    x[2, ..., 0] = 0.0
    return x  # sample 3: two real persons


def _full(model, x):
    model.skip_padded_persons = False
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.skip_padded_persons = True


@pytest.mark.parametrize("fused", [False, True])
def test_skipping_padded_persons_gives_the_full_forward(fused):
    model = _model()
    model = fuse_conv_bn(model) if fused else model
    x = _mixed_batch()
    want = _full(model, x)
    with torch.inference_mode():
        first, again = model(x), model(x)  # the second call reads both paddings from the cache
    scale = want.abs().max()
    assert (first - want).abs().max() <= 1e-5 * scale
    assert torch.equal(first, again)
    assert len(model._padded_cache._entries) == 2  # one entry per padding value and clip length


def test_the_cache_follows_weight_changes_and_clip_length():
    model = _model()
    x = _mixed_batch()
    with torch.no_grad():
        model(x)
        model.backbone.st_gcn_networks[3].tcn[2].weight.mul_(1.5)  # e.g. an optimizer step
        got = model(x)
    assert (got - _full(model, x)).abs().max() <= 1e-5 * got.abs().max()
    shorter = _mixed_batch(frames=16)
    with torch.no_grad():
        got = model(shorter)
    assert (got - _full(model, shorter)).abs().max() <= 1e-5 * got.abs().max()


def test_the_cache_follows_load_state_dict():
    model, other = _model(), stgcn.build_model(model_cfg("ntu-rgb+d")).eval()
    x = _mixed_batch()
    with torch.no_grad():
        model(x)
    model.load_state_dict(other.state_dict())
    with torch.no_grad():
        got = model(x)
    assert (got - _full(model, x)).abs().max() <= 1e-5 * got.abs().max()


def test_no_skipping_with_autograd_training_or_one_person():
    model = _model()
    x = _mixed_batch().requires_grad_(True)
    logits = model(x)  # eval mode, autograd on: every person runs, so gradients reach the padding
    logits.sum().backward()
    assert x.grad[0, ..., 1].abs().sum() > 0
    assert len(model._padded_cache._entries) == 0
    model.train()
    with torch.no_grad():
        model(_mixed_batch())
    assert len(model._padded_cache._entries) == 0


def test_nan_persons_are_not_treated_as_padding():
    model = _model()
    x = _mixed_batch()
    x[0, ..., 1] = float("nan")
    with torch.no_grad():
        got = model(x)
    assert torch.isnan(got[0]).all() and torch.isfinite(got[1:]).all()


def test_cached_features_respect_autocast():
    model = fuse_conv_bn(_model())
    x = _mixed_batch()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
    with torch.inference_mode():
        got = model(x)
    assert got.dtype == torch.float32
    assert (got - _full(model, x)).abs().max() <= 1e-5 * got.abs().max()


def test_a_model_built_under_inference_mode_keeps_nothing_between_batches():
    with torch.inference_mode():
        model = _model()
        x = _mixed_batch()
        got = model(x)
        assert len(model._padded_cache._entries) == 2  # reused within the batch only
        model.backbone.data_bn.bias.add_(0.5)  # untracked in-place change
        after = model(x)
    assert (after - _full(model, x)).abs().max() <= 1e-5 * after.abs().max()
    assert not torch.equal(got, after)
