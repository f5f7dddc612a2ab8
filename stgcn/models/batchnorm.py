"""Training-mode BatchNorm for channels-last CPU tensors with accurate batch statistics.

PyTorch's CPU kernel for channels-last (and 2-D ``(rows, C)``) inputs accumulates the batch mean
naively in float32; when a channel's mean is large against its spread (zero-padded persons,
un-centred coordinates) the normalised output and every gradient above it drift by 1e-3 relative
from the NCHW kernel the reference runs. Here the mean comes from a pairwise-summed reduction and
the variance, normalisation and backward from the native kernels, at the same speed. Parameters,
buffers and state-dict keys are those of ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``.
"""

from __future__ import annotations

import torch
from torch import nn


class _BatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        c = x.shape[1]
        rows = x.permute(0, 2, 3, 1).reshape(-1, c) if x.dim() == 4 else x
        mean = rows.mean(0)
        _, var = torch.batch_norm_update_stats(x, None, None, 0.0)  # biased variance
        out = torch.native_batch_norm(x, weight, bias, mean, var, False, 0.0, eps)[0]
        invstd = torch.rsqrt(var + eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return out, mean, var

    @staticmethod
    def backward(ctx, grad, _grad_mean, _grad_var):
        x, weight, mean, invstd = ctx.saved_tensors
        needs = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
            grad, x, weight, None, None, mean, invstd, True, ctx.eps, needs)
        return gx, gw, gb, None


def _use_accurate_path(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> bool:
    if not (bn.training and bn.track_running_stats and bn.affine) or x.device.type != "cpu":
        return False
    if x.dtype != torch.float32:
        return False
    return x.dim() == 2 or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
                            and not x.is_contiguous())


def _update_running_stats(bn: nn.modules.batchnorm._BatchNorm, mean, var, count: int) -> None:
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        momentum = bn.momentum
        if momentum is None:  # cumulative moving average
            momentum = 1.0 / float(bn.num_batches_tracked)
        unbiased = var * (count / max(count - 1, 1))
        bn.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        bn.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)


def _forward(bn, x: torch.Tensor) -> torch.Tensor:
    if not _use_accurate_path(bn, x):
        return nn.modules.batchnorm._BatchNorm.forward(bn, x)
    out, mean, var = _BatchNormFn.apply(x, bn.weight, bn.bias, bn.eps)
    _update_running_stats(bn, mean.detach(), var.detach(), x.numel() // x.shape[1])
    return out


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with accurate batch statistics for channels-last CPU training."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        return _forward(self, x)


class BatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` with accurate batch statistics for ``(rows, C)`` CPU training."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        return _forward(self, x)
