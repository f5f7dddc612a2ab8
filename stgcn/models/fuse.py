"""Inference fast path: ST-GCN / ST-GCN++ with every BatchNorm folded into the convolution before it.

``fuse_conv_bn(model)`` turns a :class:`~stgcn.models.stgcn.SkeletonGCN` into an eval-only module with
the same call, ``(N, C, T, V, M) -> logits``, equal to ``model.eval()`` up to float rounding
(mmaction2 0.x's ``--fuse-conv-bn`` folds only conv + BN pairs; this goes further):

* ``data_bn`` becomes a per-(joint, channel) scale and shift of the input;
* ``tcn.0`` (the BN after the graph convolution) scales the rows of the 1x1 graph conv; its shift,
  and the conv bias summed through the graph, become one (joint, channel) table that the joint
  aggregation adds (``baddbmm``), so the first ReLU follows the matmul directly;
* ``tcn.3`` folds into the temporal conv ``tcn.2``, the residual BN into the residual conv;
* each block's edge importance is multiplied into ``A`` and the adjacency is stored pre-arranged
  for the aggregation matmul.

ST-GCN++ and the other 1.x blocks (``stgcn.models.stgcnpp``) fold the same way: ``unit_gcn``'s BN into its
graph conv, the ``down`` and ``residual`` BNs into their convs; in ``mstcn`` the branches' 1x1 convs (BN
folded) become one conv, the BN over the concatenation folds into each branch's last conv (a max-pool
branch keeps it as an affine after the pool) and the last BN into the 1x1 conv before it. Per-person data
BatchNorm (``data_bn_type='MVC'``) is refused with a one-line error: such models run unfused.

Weights are buffers (``.to(device)`` moves them, nothing needs gradients). In eager mode a padded
person's features are reused instead of recomputed (``stgcn.models.persons``); under
``torch.jit.trace`` / ``torch.jit.script``, ``torch.compile`` and export the forward runs every person
and has no data-dependent control flow, so they see one static graph.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from stgcn.errors import StgcnError
from stgcn.models.persons import PaddedPersonCache, pooled_persons, skipping_enabled
from stgcn.models.stgcn import ConvTemporalGraphical, SkeletonGCN, STGCNBlock, adjacency_rows
from stgcn.models.stgcnpp import MSTCN, GCNBlock, UnitTCN, temporal_max_pool

RESIDUAL_MODES = {"none": 0, "identity": 1, "conv": 2}


def _bn_affine(bn: nn.Module, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as ``x * scale + shift`` (float64 for exact folding)."""
    if isinstance(bn, nn.Identity):
        return torch.ones(channels, dtype=torch.float64), torch.zeros(channels, dtype=torch.float64)
    if not bn.track_running_stats or bn.running_mean is None:
        raise StgcnError("fuse_conv_bn: a BatchNorm has track_running_stats=False, so eval mode uses "
                         "batch statistics and cannot be folded; run without --fuse-conv-bn")
    var, mean = bn.running_var.double(), bn.running_mean.double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.double()
    shift = -mean * scale
    if bn.affine:
        shift = shift + bn.bias.double()
    return scale, shift


def _fold_affine(conv: nn.Conv2d, scale: torch.Tensor,
                 shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``conv`` followed by ``y * scale + shift`` per output channel as one conv's weight and bias."""
    weight = conv.weight.double() * scale.view(-1, 1, 1, 1)
    bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    return weight, bias


def _fold_conv(conv: nn.Conv2d, bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    return _fold_affine(conv, *_bn_affine(bn, conv.out_channels))


class FusedGraphConv(nn.Module):
    """Graph conv with the BatchNorm after it folded in (pre-activation output): the 1x1 conv rows scaled,
    the conv bias summed through the graph plus the BN shift as one (joint, channel) table."""

    def __init__(self, gcn: ConvTemporalGraphical, A: torch.Tensor, bn: nn.Module) -> None:
        super().__init__()
        k, c_out, conv = gcn.kernel_size, gcn.out_channels, gcn.conv
        v = A.shape[1]
        a = A.double()
        scale, shift = _bn_affine(bn, c_out)
        conv_bias = torch.zeros(conv.out_channels, dtype=torch.float64) if conv.bias is None \
            else conv.bias.double()
        if gcn.conv_pos == "post":  # conv over the aggregated (k, c_in) channels, bias added once
            weight = conv.weight.double().view(c_out, -1) * scale.view(c_out, 1)
            bias = (conv_bias * scale + shift).expand(v, c_out)
            weight = weight.view(c_out, 1, -1).transpose(0, 1)  # (1, c_out, k * c_in): as below, k=1
        else:
            weight = conv.weight.double().view(k, c_out, -1) * scale.view(1, c_out, 1)
            # bias[w, c] = scale[c] * sum_k colsum(A_k)[w] * b[k, c] + shift[c]
            bias = (a.sum(1).unsqueeze(2) * conv_bias.view(k, 1, c_out)).sum(0) * scale + shift
        c_in = weight.shape[2]
        self.kernel_size = k
        self.out_channels = c_out
        self.num_node = v
        self.aggregate_first = bool(gcn.aggregate_first)
        self.register_buffer("adjacency", adjacency_rows(a, self.aggregate_first).contiguous().float())
        if self.aggregate_first:
            self.register_buffer("weight", weight.transpose(0, 1).reshape(c_out, -1, 1, 1).float())
            self.register_buffer("bias", bias.t().reshape(1, c_out, 1, v).float())
        else:
            self.register_buffer("weight", weight.reshape(k * c_out, c_in, 1, 1).float())
            self.register_buffer("bias", bias.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # is_in_onnx_export itself cannot be scripted
            if torch.onnx.is_in_onnx_export():
                return self._forward_nchw(x)
        n, c, t, v = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * t, v, c)  # a view: x is channels-last
        if self.aggregate_first:
            z = torch.bmm(self.adjacency.expand(n * t, -1, -1), rows)
            y = F.conv2d(z.view(n, t, v, -1).permute(0, 3, 1, 2), self.weight)
            return y.add_(self.bias)
        y = F.conv2d(x, self.weight)
        y = y.permute(0, 2, 3, 1).reshape(n * t, v * self.kernel_size, self.out_channels)
        y = torch.baddbmm(self.bias, self.adjacency.expand(n * t, -1, -1), y)
        return y.view(n, t, v, self.out_channels).permute(0, 3, 1, 2)

    @torch.jit.unused
    def _forward_nchw(self, x: torch.Tensor) -> torch.Tensor:
        """The same maths in plain NCHW for ONNX: one matmul aggregates the input over joints into
        ``(N, C_in, T, K*V)``, then a ``(1, K)`` conv with dilation ``V`` mixes the ``(k, c_in)`` channels.
        The channels-last form's two transposes per block (and their shape arithmetic) are gone, and
        onnxruntime spends ~5% less kernel time; its layout reorders around the matmul remain.
        The weights are rearranged here, from the buffers, so the exported graph holds them as constants."""
        k, c_out, v = self.kernel_size, self.out_channels, self.num_node  # ints: the graph folds them
        if self.aggregate_first:  # adjacency[w * K + k, v], weight[o, k * C_in + c], bias (1, C_out, 1, V)
            a = self.adjacency.view(v, k, v).permute(2, 1, 0)
            weight = self.weight.view(c_out, k, -1).transpose(1, 2)
            bias = self.bias
        else:  # adjacency[w, v * K + k], weight[k * C_out + o, c], bias (V, C_out)
            a = self.adjacency.view(v, v, k).permute(1, 2, 0)
            weight = self.weight.view(k, c_out, -1).permute(1, 2, 0)
            bias = self.bias.t().reshape(1, c_out, 1, v)
        z = torch.matmul(x, a.reshape(v, k * v))  # (N, C_in, T, K*V), column k * V + w
        return F.conv2d(z, weight.unsqueeze(2), None, 1, 0, (1, v)) + bias


class FusedBlock(nn.Module):
    """One ST-GCN block, eval only: ``relu(conv9(relu(gcn'(x))) + residual'(x))``."""

    def __init__(self, block: STGCNBlock, A: torch.Tensor) -> None:
        super().__init__()
        self.gcn = FusedGraphConv(block.gcn, A, block.tcn[0])
        conv = block.tcn[2]
        tcn_weight, tcn_bias = _fold_conv(conv, block.tcn[3])
        self.register_buffer("tcn_weight", tcn_weight.float())
        self.register_buffer("tcn_bias", tcn_bias.float())
        self.stride = int(conv.stride[0])
        self.padding = int(conv.padding[0])
        self.residual_mode = RESIDUAL_MODES[block.residual_mode]
        if block.residual_mode == "conv":
            res_weight, res_bias = _fold_conv(block.residual[0], block.residual[1])
        else:  # unused placeholders keep the module scriptable
            res_weight, res_bias = torch.zeros(0), torch.zeros(0)
        self.register_buffer("res_weight", res_weight.float())
        self.register_buffer("res_bias", res_bias.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gcn(x)
        y = F.conv2d(y.relu_(), self.tcn_weight, self.tcn_bias, (self.stride, 1), (self.padding, 0))
        if self.residual_mode == 1:
            y = y.add_(x)
        elif self.residual_mode == 2:
            y = y.add_(F.conv2d(x, self.res_weight, self.res_bias, (self.stride, 1)))
        return y.relu_()


class _MaxTail(nn.Module):
    """An mstcn max-pool branch; the transform BatchNorm's slice stays an affine (max needs its sign)."""

    def __init__(self, pool: nn.MaxPool2d, scale: torch.Tensor, shift: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale.view(1, -1, 1, 1).float())
        self.register_buffer("shift", shift.view(1, -1, 1, 1).float())
        self.kernel, self.stride = int(pool.kernel_size[0]), int(pool.stride[0])
        self.padding = int(pool.padding[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = temporal_max_pool(x, self.kernel, self.stride, self.padding)
        return torch.addcmul(self.shift, y, self.scale)


class _Conv(nn.Module):
    """A (k x 1) conv with what followed it folded in: mstcn branches, unit_tcn, down, residual."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, conv: nn.Conv2d) -> None:
        super().__init__()
        self.register_buffer("weight", weight.float())
        self.register_buffer("bias", bias.float())
        self.stride, self.padding = int(conv.stride[0]), int(conv.padding[0])
        self.dilation = int(conv.dilation[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, (self.stride, 1), (self.padding, 0), (self.dilation, 1))


def _fold_unit_tcn(tcn: nn.Module) -> _Conv:
    return _Conv(*_fold_conv(tcn.conv, tcn.bn if tcn.bn is not None else nn.Identity()), tcn.conv)


class FusedMSTCN(nn.Module):
    """mstcn, eval only: the branches' 1x1 convs (BN folded) as one conv, ReLU, per-branch temporal conv or
    max pool, plain 1x1 branches; the transform BN folded into the branch ends, the last BN into its conv."""

    def __init__(self, tcn: MSTCN) -> None:
        super().__init__()
        scale, shift = _bn_affine(tcn.transform[0], tcn.transform[0].num_features)
        offsets, start = [], 0
        for branch in tcn.branches:
            width = branch.out_channels if isinstance(branch, nn.Conv2d) else branch[0].out_channels
            offsets.append((start, start + width))
            start += width
        heads = [i for i, b in enumerate(tcn.branches) if isinstance(b, nn.Sequential)]
        plain = [i for i, b in enumerate(tcn.branches) if isinstance(b, nn.Conv2d)]
        folded = [_fold_conv(tcn.branches[i][0], tcn.branches[i][1]) for i in heads]
        self.register_buffer("head_weight", torch.cat([w for w, _ in folded]).float())
        self.register_buffer("head_bias", torch.cat([b for _, b in folded]).float())
        self.widths = [tcn.branches[i][0].out_channels for i in heads]
        tails = []
        for i in heads:
            a, b = offsets[i]
            tail = tcn.branches[i][3]
            tails.append(_Conv(*_fold_affine(tail.conv, scale[a:b], shift[a:b]), tail.conv)
                         if isinstance(tail, UnitTCN) else _MaxTail(tail, scale[a:b], shift[a:b]))
        self.tails = nn.ModuleList(tails)
        self.plains = nn.ModuleList(
            _Conv(*_fold_affine(tcn.branches[i], scale[a:b], shift[a:b]), tcn.branches[i])
            for i, (a, b) in ((i, offsets[i]) for i in plain))
        # the fused branches concatenate heads first, then plain branches: the conv's inputs follow
        order = torch.cat([torch.arange(*offsets[i]) for i in heads + plain])
        weight, bias = _fold_conv(tcn.transform[2], tcn.bn)
        self.register_buffer("out_weight", weight[:, order].contiguous().float())
        self.register_buffer("out_bias", bias.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.conv2d(x, self.head_weight, self.head_bias).relu_()
        parts = torch.split(h, self.widths, 1)
        outs: list[torch.Tensor] = []
        for i, tail in enumerate(self.tails):
            outs.append(tail(parts[i]))
        for plain in self.plains:
            outs.append(plain(x))
        return F.conv2d(torch.cat(outs, 1).relu_(), self.out_weight, self.out_bias)


class FusedGCNBlock(nn.Module):
    """One ST-GCN++ (1.x general) block, eval only:
    ``relu(tcn'(relu(gcn'(x) + down'(x))) + residual'(x))``."""

    def __init__(self, block: GCNBlock) -> None:
        super().__init__()
        gcn = block.gcn
        self.gcn = FusedGraphConv(gcn, gcn.adjacency().detach(), gcn.bn)
        self.gcn_res = 0 if not gcn.with_res else (1 if gcn.down is None else 2)
        self.down = _Conv(*_fold_conv(gcn.down[0], gcn.down[1]), gcn.down[0]) if gcn.down is not None \
            else nn.Identity()
        self.tcn = FusedMSTCN(block.tcn) if isinstance(block.tcn, MSTCN) else _fold_unit_tcn(block.tcn)
        self.residual_mode = RESIDUAL_MODES[block.residual_mode]
        self.residual = _fold_unit_tcn(block.residual) if block.residual_mode == "conv" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gcn(x)
        if self.gcn_res == 1:
            y = y.add_(x)
        elif self.gcn_res == 2:
            y = y.add_(self.down(x))
        y = self.tcn(y.relu_())
        if self.residual_mode == 1:
            y = y.add_(x)
        elif self.residual_mode == 2:
            y = y.add_(self.residual(x))
        return y.relu_()


class FusedSkeletonGCN(nn.Module):
    """Eval-only ST-GCN recognizer built by :func:`fuse_conv_bn`: ``(N, C, T, V, M) -> logits``."""

    def __init__(self, model: SkeletonGCN) -> None:
        super().__init__()
        backbone, head = model.backbone, model.cls_head
        self.in_channels = backbone.in_channels
        self.num_node = backbone.num_node
        self.num_person = head.num_person
        self.num_classes = head.num_classes
        self.max_pool = head.spatial_type == "max"
        v, c = self.num_node, self.in_channels
        with torch.no_grad():  # buffers without autograd history (deepcopy refuses graph leaves' results)
            scale, shift = _bn_affine(backbone.data_bn, v * c)
            self.register_buffer("data_scale", scale.view(v, c).float())
            self.register_buffer("data_shift", shift.view(v, c).float())
            blocks = [FusedBlock(block, backbone.block_adjacency(i).detach()) if isinstance(block, STGCNBlock)
                      else FusedGCNBlock(block) for i, block in enumerate(backbone.st_gcn_networks)]
        self.blocks = nn.ModuleList(blocks)
        self.register_buffer("fc_weight", head.fc.weight.detach().view(self.num_classes, -1).clone())
        self.register_buffer("fc_bias", head.fc.bias.detach().clone())
        self.skip_padded_persons = model.skip_padded_persons
        self._padded_cache = PaddedPersonCache()
        self.train(False)

    def train(self, mode: bool = True) -> FusedSkeletonGCN:
        if mode:
            raise StgcnError("a model from fuse_conv_bn is for inference only; train the unfused model")
        return super().train(False)

    @torch.jit.unused
    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels or x.shape[3] != self.num_node \
                or x.shape[4] != self.num_person:
            raise StgcnError(
                f"fused model input must be (N, {self.in_channels}, T, {self.num_node}, {self.num_person}),"
                f" got {tuple(x.shape)}; check the pipeline, graph_cfg.layout and num_person")

    def person_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, T, V, M)`` -> pooled backbone features ``(N*M, 256)``, one row per person."""
        n, c, t, v, m = x.shape
        x = x.to(self.data_scale.dtype).permute(0, 4, 2, 3, 1).reshape(n * m, t, v, c)
        x = torch.addcmul(self.data_shift, x, self.data_scale).permute(0, 3, 1, 2)
        for block in self.blocks:
            x = block(x)
        return x.amax(dim=(2, 3)) if self.max_pool else x.mean(dim=(2, 3))

    @torch.jit.unused
    def _eager_pooled(self, x: torch.Tensor) -> Optional[torch.Tensor]:  # noqa: UP045 (TorchScript)
        """Input check, then padded persons from the cache; None when skipping does not apply."""
        self._check(x)
        if not skipping_enabled(self, x):
            return None
        return pooled_persons(self, self._padded_cache, x, self.person_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled: Optional[torch.Tensor] = None  # noqa: UP045 (TorchScript)
        if not torch.jit.is_scripting() and not torch.jit.is_tracing():
            pooled = self._eager_pooled(x)
        if pooled is None:
            pooled = self.person_features(x).view(x.shape[0], x.shape[4], -1)
        return F.linear(pooled.mean(1), self.fc_weight, self.fc_bias)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """An eval-only copy of ``model`` with BatchNorms folded (the model itself is left unchanged)."""
    if not isinstance(model, SkeletonGCN):
        raise StgcnError(f"fuse_conv_bn expects a SkeletonGCN (from stgcn.build_model), got "
                         f"{type(model).__name__}")
    backbone = model.backbone
    other = sorted({type(b).__name__ for b in backbone.st_gcn_networks
                    if not isinstance(b, (STGCNBlock, GCNBlock))})
    if other or backbone.data_bn_type == "MVC":
        what = f"{', '.join(other)} blocks" if other else "data_bn_type='MVC' (a per-person-slot data BN)"
        raise StgcnError(f"fuse_conv_bn folds ST-GCN and ST-GCN++ blocks only; this model has {what}; "
                         "run it unfused (drop --fuse-conv-bn)")
    return FusedSkeletonGCN(model).to(next(model.parameters()).device)
