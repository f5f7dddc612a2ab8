"""ST-GCN++ blocks: the joint multi-scale temporal conv against its branch-by-branch modules."""

import copy

import pytest
import torch

from stgcn.models.stgcnpp import MSTCN, joinable
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
