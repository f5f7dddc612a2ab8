"""Optimizer construction and the mmcv LR schedule formulas at key epochs and iterations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stgcn.engine.optim import build_grad_clip, build_lr_schedule, build_optimizer, clip_grads, set_lr
from stgcn.errors import StgcnError


def schedule_lr(lr_config, epoch, it, max_epochs=80, iters=10, base=0.1):
    return build_lr_schedule(lr_config, max_epochs, iters).lr(base, epoch, it)


def test_step_policy_matches_the_seed_recipe():
    cfg = dict(policy="step", step=[10, 50])
    # 1-based epochs 1-10 -> 0.1, 11-50 -> 0.01, 51-80 -> 0.001 (0-based epoch index below)
    for epoch, want in ((0, 0.1), (9, 0.1), (10, 0.01), (49, 0.01), (50, 0.001), (79, 0.001)):
        assert schedule_lr(cfg, epoch, epoch * 10) == pytest.approx(want)


def test_step_int_gamma_and_min_lr():
    assert schedule_lr(dict(policy="step", step=3, gamma=0.5), 7, 0) == pytest.approx(0.1 * 0.5**2)
    assert schedule_lr(dict(policy="step", step=[1], min_lr=0.05), 5, 0) == pytest.approx(0.05)


def test_cosine_by_epoch_and_by_iteration():
    cfg = dict(policy="CosineAnnealing", min_lr=0.0)
    assert schedule_lr(cfg, 0, 0) == pytest.approx(0.1)
    assert schedule_lr(cfg, 40, 0) == pytest.approx(0.05)
    assert schedule_lr(dict(cfg, min_lr_ratio=0.1, min_lr=None), 80, 0) == pytest.approx(0.01)
    per_iter = dict(policy="CosineAnnealing", min_lr=0.0, by_epoch=False)
    # 80 epochs x 10 iterations: iteration 200 is a quarter of the way
    assert schedule_lr(per_iter, 20, 200) == pytest.approx(0.1 * 0.5 * (math.cos(math.pi / 4) + 1))
    assert schedule_lr(per_iter, 20, 201) < schedule_lr(per_iter, 20, 200)


def test_fixed_poly_exp():
    assert schedule_lr(dict(policy="fixed"), 70, 700) == 0.1
    assert schedule_lr(dict(policy="poly", power=2.0), 40, 0) == pytest.approx(0.1 * 0.25)
    assert schedule_lr(dict(policy="exp", gamma=0.9), 3, 0) == pytest.approx(0.1 * 0.9**3)


def test_warmup_variants():
    base = dict(policy="step", step=[10, 50], warmup_iters=100, warmup_ratio=0.1)
    linear = dict(base, warmup="linear")
    assert schedule_lr(linear, 0, 0) == pytest.approx(0.01)
    assert schedule_lr(linear, 0, 50) == pytest.approx(0.1 * (1 - 0.5 * 0.9))
    assert schedule_lr(linear, 0, 100) == pytest.approx(0.1)
    assert schedule_lr(dict(base, warmup="constant"), 0, 99) == pytest.approx(0.01)
    assert schedule_lr(dict(base, warmup="exp"), 0, 50) == pytest.approx(0.1 * 0.1**0.5)
    by_epoch = dict(linear, warmup_iters=2, warmup_by_epoch=True)  # 2 epochs x 10 iterations
    assert schedule_lr(by_epoch, 1, 10) == pytest.approx(0.1 * (1 - 0.5 * 0.9))
    assert schedule_lr(by_epoch, 2, 20) == pytest.approx(0.1)


def test_schedule_errors_list_the_valid_choices():
    with pytest.raises(StgcnError, match="valid: step, CosineAnnealing"):
        build_lr_schedule(dict(policy="cyclic"), 10, 1)
    with pytest.raises(StgcnError, match="warm-up"):
        build_lr_schedule(dict(policy="step", step=[1], warmup="cosine", warmup_iters=5), 10, 1)
    with pytest.raises(StgcnError, match="unknown keys"):
        build_lr_schedule(dict(policy="step", step=[1], stepz=3), 10, 1)
    with pytest.raises(StgcnError, match="step"):
        build_lr_schedule(dict(policy="step"), 10, 1)
    with pytest.raises(StgcnError, match="exactly one"):
        build_lr_schedule(dict(policy="CosineAnnealing"), 10, 1)


def test_sgd_decays_every_parameter_and_set_lr_uses_initial_lr():
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    opt = build_optimizer(model, dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True))
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["weight_decay"] == 1e-4
    assert len(opt.param_groups[0]["params"]) == 4  # conv weight/bias, BN weight/bias
    schedule = build_lr_schedule(dict(policy="step", step=[1]), 2, 1)
    assert set_lr(opt, schedule, 1, 1) == pytest.approx(0.01)
    assert set_lr(opt, schedule, 0, 0) == pytest.approx(0.1)  # from initial_lr, not the current lr
    with pytest.raises(StgcnError, match="valid: SGD"):
        build_optimizer(model, dict(type="LARS", lr=0.1))
    with pytest.raises(StgcnError, match="optimizer"):
        build_optimizer(model, dict(type="SGD", lr=0.1, betas=(0.9, 0.99)))


def test_grad_clip():
    assert build_grad_clip(dict(grad_clip=None)) is None
    clip = build_grad_clip(dict(grad_clip=dict(max_norm=1.0, norm_type=2)))
    model = nn.Linear(3, 1)
    model.weight.grad = torch.full_like(model.weight, 10.0)
    model.bias.grad = torch.zeros_like(model.bias)
    norm = clip_grads(model, clip)
    assert norm == pytest.approx(math.sqrt(300))
    assert model.weight.grad.norm().item() == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(StgcnError, match="grad_clip"):
        build_grad_clip(dict(grad_clip=dict(norm=3)))
