"""The mmaction2 1.x / PYSKL model vocabulary: ``STGCN`` options, ST-GCN++ blocks, ``GCNHead``.

``build_stgcn_1x(**backbone_cfg)`` reads a 1.x ``backbone=dict(type='STGCN', ...)`` and returns the
project's one backbone class (:class:`~stgcn.models.stgcn.GCNBackbone`):

* options that are 0.x ST-GCN maths (``gcn_adaptive`` 'importance' or None, ``gcn_conv_pos='pre'``,
  no ``gcn_with_res``, ``tcn_type='unit_tcn'``) build the 0.x :class:`STGCNBlock` (1.x ``gcn.bn`` +
  ReLU is 0.x ``tcn.0``/``tcn.1``; 1.x ``gcn.PA`` is 0.x ``edge_importance``), so the fast and fused
  paths serve them; ``stgcn.models.remap`` renames the weights;
* any other choice builds :class:`GCNBlock` (ST-GCN++, Duan et al. 2022 / PYSKL): ``unit_gcn``
  with its own adjacency (``init``: learned ``A``; ``offset``: ``A + PA``), the ``down`` residual
  around the graph conv, and the multi-scale temporal conv :class:`MSTCN`. State-dict names under
  ``st_gcn_networks.<i>`` are mmaction2 1.x's. The graph conv is the same channels-last
  :class:`ConvTemporalGraphical` as ST-GCN's.

Shapes as in ``stgcn.models.stgcn``: input ``(N, C, T, V, M)``; blocks run channels-last ``(N*M, C, T, V)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stgcn.errors import StgcnError
from stgcn.graph import Graph1x
from stgcn.models import batchnorm
from stgcn.models.batchnorm import BatchNorm2d
from stgcn.models.stgcn import ConvTemporalGraphical, GCNBackbone, STGCNBlock, build_loss, classification_loss

MS_CFG = ((3, 1), (3, 2), (3, 3), (3, 4), ("max", 3), "1x1")
ADAPTIVE = (None, "init", "offset", "importance")
EPS = 1e-4  # 1.x rounds base_channels * ch_ratio**i up through int(x + EPS)


class UnitGCN(ConvTemporalGraphical):
    """1.x ``unit_gcn``: ``relu(bn(graph_conv(x, A')) + down(x))`` with ``A'`` from ``adaptive``."""

    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor, adaptive: str | None,
                 conv_pos: str = "pre", with_res: bool = False) -> None:
        super().__init__(in_channels, out_channels, A.shape[0], conv_pos)
        if adaptive not in ADAPTIVE:
            raise StgcnError(f"backbone.gcn_adaptive must be one of {list(ADAPTIVE)}, got {adaptive!r}")
        self.adaptive = adaptive
        if adaptive == "init":
            self.A = nn.Parameter(A.clone())
        else:
            self.register_buffer("A", A.clone())
        if adaptive == "importance":
            self.PA = nn.Parameter(torch.ones_like(A))
        elif adaptive == "offset":
            self.PA = nn.Parameter(torch.empty_like(A).uniform_(-1e-6, 1e-6))
        self.bn = BatchNorm2d(out_channels)
        self.with_res = with_res
        self.down = None
        if with_res and in_channels != out_channels:
            self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), BatchNorm2d(out_channels))

    def adjacency(self) -> torch.Tensor:
        if self.adaptive == "offset":
            return self.A + self.PA
        if self.adaptive == "importance":
            return self.A * self.PA
        return self.A

    def forward(self, x: torch.Tensor, A: torch.Tensor | None = None) -> torch.Tensor:
        y = self.bn(super().forward(x, self.adjacency()))
        if self.with_res:  # in place: BatchNorm's backward needs its input, not its output
            y = y.add_(x if self.down is None else self.down(x))
        return torch.relu_(y)


class UnitTCN(nn.Module):
    """1.x ``unit_tcn``: temporal conv (k x 1, stride, dilation), BN (unless ``norm=False``), dropout."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1,
                 dilation: int = 1, norm: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        pad = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel_size, 1), (stride, 1), (pad, 0),
                              (dilation, 1))
        self.bn = BatchNorm2d(out_channels) if norm else None
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.dropout(x, self.dropout, self.training, inplace=True) if self.dropout > 0 else x


def joint_batch_norm(x: torch.Tensor, bns: list[nn.Module]) -> torch.Tensor:
    """BatchNorms of consecutive channel groups of ``x`` as one kernel: the same per-channel maths, and
    each module's running statistics updated as its own forward would."""
    first = bns[0]
    weight, bias = torch.cat([bn.weight for bn in bns]), torch.cat([bn.bias for bn in bns])
    if not first.training:
        return F.batch_norm(x, torch.cat([bn.running_mean for bn in bns]),
                            torch.cat([bn.running_var for bn in bns]), weight, bias, False, 0.0, first.eps)
    widths = [bn.num_features for bn in bns]
    if batchnorm._use_accurate_path(first, x):
        out, mean, var = batchnorm._BatchNormFn.apply(x, weight, bias, first.eps)
        count = x.numel() // x.shape[1]
        for bn, m, v in zip(bns, mean.detach().split(widths), var.detach().split(widths), strict=True):
            batchnorm._update_running_stats(bn, m, v, count)
        return out
    for bn in bns:
        bn.num_batches_tracked.add_(1)
    momentum = first.momentum if first.momentum is not None else 1.0 / float(first.num_batches_tracked)
    mean, var = torch.cat([bn.running_mean for bn in bns]), torch.cat([bn.running_var for bn in bns])
    out = F.batch_norm(x, mean, var, weight, bias, True, momentum, first.eps)
    with torch.no_grad():
        for bn, m, v in zip(bns, mean.split(widths), var.split(widths), strict=True):
            bn.running_mean.copy_(m)
            bn.running_var.copy_(v)
    return out


def joinable(bns: list[nn.Module]) -> bool:
    """Whether :func:`joint_batch_norm` can run these BatchNorms as one (same eps and momentum)."""
    return all(isinstance(bn, nn.BatchNorm2d) and bn.affine and bn.track_running_stats
               and (bn.eps, bn.momentum) == (bns[0].eps, bns[0].momentum) for bn in bns)


def temporal_max_pool(x: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    """``MaxPool2d((kernel, 1), (stride, 1), (padding, 0))``. Without autograd it is :func:`shifted_max`,
    ~5x faster than the pooling kernel on channels-last CPU tensors. Under autograd it is the pooling
    kernel, whose backward is ~8x faster than that of the chained maxima and keeps the gradient
    channels-last (a tie's gradient goes to one input, as in 1.x). An ONNX export gets the pooling
    operator: the shifted views need -inf padding, which int8 calibration cannot give a range."""
    use_kernel = x.requires_grad and torch.is_grad_enabled()
    if not torch.jit.is_scripting():  # is_in_onnx_export itself cannot be scripted
        use_kernel = use_kernel or torch.onnx.is_in_onnx_export()
    if use_kernel:
        return F.max_pool2d(x, (kernel, 1), (stride, 1), (padding, 0))
    return shifted_max(x, kernel, stride, padding)


def shifted_max(x: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    """The temporal max pool as a maximum of shifted views (the same values as the pooling kernel)."""
    t_out = x.shape[2] + 2 * padding - kernel + 1
    padded = F.pad(x, (0, 0, padding, padding), value=float("-inf")) if padding else x
    y = padded[:, :, :t_out]
    for i in range(1, kernel):
        y = torch.maximum(y, padded[:, :, i:i + t_out])
    return y[:, :, ::stride] if stride > 1 else y


def _tail(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.MaxPool2d) and module.dilation in (1, (1, 1)) and not module.ceil_mode:
        return temporal_max_pool(x, module.kernel_size[0], module.stride[0], module.padding[0])
    return module(x)


class MSTCN(nn.Module):
    """1.x ``mstcn``: parallel branches (1x1 conv, BN, ReLU, then a dilated temporal conv or a max
    pool; or a plain strided 1x1 conv), concatenated, then BN, ReLU, 1x1 conv, BN, dropout.

    The branches' leading 1x1 convs read the same input, so they run as ONE conv (weights concatenated
    on the fly), their BatchNorms as one, their ReLU once; only the temporal convs and the pool run per
    branch, on channel slices. Same maths and state-dict keys as the branch-by-branch modules.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: float | None = None,
                 dropout: float = 0.0, ms_cfg=MS_CFG, stride: int = 1) -> None:
        super().__init__()
        n = len(ms_cfg)
        if mid_channels is None:
            mid = out_channels // n
            first = out_channels - mid * (n - 1)
        else:
            mid = first = int(out_channels * mid_channels)
        branches = []
        for i, cfg in enumerate(ms_cfg):
            c = first if i == 0 else mid
            if cfg == "1x1":
                branches.append(nn.Conv2d(in_channels, c, 1, stride=(stride, 1)))
                continue
            if not (isinstance(cfg, (tuple, list)) and len(cfg) == 2):
                raise StgcnError(f"backbone.tcn_ms_cfg entries are (kernel, dilation), ('max', k) or "
                                 f"'1x1', got {cfg!r}")
            head = [nn.Conv2d(in_channels, c, 1), BatchNorm2d(c), nn.ReLU(inplace=True)]
            if cfg[0] == "max":
                head.append(nn.MaxPool2d((cfg[1], 1), (stride, 1), (1, 0)))
            else:
                head.append(UnitTCN(c, c, int(cfg[0]), stride, int(cfg[1]), norm=False))
            branches.append(nn.Sequential(*head))
        self.branches = nn.ModuleList(branches)
        width = mid * (n - 1) + first
        self.transform = nn.Sequential(BatchNorm2d(width), nn.ReLU(inplace=True),
                                       nn.Conv2d(width, out_channels, 1))
        self.bn = BatchNorm2d(out_channels)
        self.dropout = dropout

    def _heads(self) -> list[nn.Sequential]:
        return [b for b in self.branches if isinstance(b, nn.Sequential)]

    def branch_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each branch's output, in ``ms_cfg`` order (the shared 1x1 convs and BNs run jointly)."""
        heads = self._heads()
        if len(heads) < 2 or not joinable([h[1] for h in heads]):
            return [branch(x) for branch in self.branches]
        weight = torch.cat([h[0].weight for h in heads])
        bias = torch.cat([h[0].bias for h in heads])
        y = torch.relu_(joint_batch_norm(F.conv2d(x, weight, bias), [h[1] for h in heads]))
        parts = iter(y.split([h[0].out_channels for h in heads], dim=1))
        return [_tail(branch[3], next(parts)) if isinstance(branch, nn.Sequential) else branch(x)
                for branch in self.branches]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat(self.branch_outputs(x), dim=1)
        y = self.bn(self.transform(y))
        return F.dropout(y, self.dropout, self.training, inplace=True) if self.dropout > 0 else y


class GCNBlock(nn.Module):
    """1.x ``STGCNBlock`` in its general form: ``relu(tcn(unit_gcn(x)) + residual(x))``."""

    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor, stride: int = 1,
                 residual: bool = True, adaptive: str | None = "importance", conv_pos: str = "pre",
                 with_res: bool = False, tcn_type: str = "unit_tcn", dropout: float = 0.0,
                 ms_cfg=MS_CFG, mid_channels: float | None = None) -> None:
        super().__init__()
        self.gcn = UnitGCN(in_channels, out_channels, A, adaptive, conv_pos, with_res)
        if tcn_type == "unit_tcn":
            self.tcn = UnitTCN(out_channels, out_channels, 9, stride, dropout=dropout)
        elif tcn_type == "mstcn":
            self.tcn = MSTCN(out_channels, out_channels, mid_channels, dropout, ms_cfg, stride)
        else:
            raise StgcnError(f"backbone.tcn_type must be 'unit_tcn' or 'mstcn', got {tcn_type!r}")
        self.residual_mode = "none" if not residual else (
            "identity" if in_channels == out_channels and stride == 1 else "conv")
        if self.residual_mode == "conv":
            self.residual = UnitTCN(in_channels, out_channels, 1, stride)

    def forward(self, x: torch.Tensor, A: torch.Tensor | None = None) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        if self.residual_mode == "identity":
            y = y.add_(x)
        elif self.residual_mode == "conv":
            y = y.add_(self.residual(x))
        return torch.relu_(y)


def _stage_plan(in_channels: int, base_channels: int, num_stages: int, inflate_stages, down_stages,
                ch_ratio: float) -> list[tuple[int, int, int, int]]:
    """(in, out, stride, stage index) per block, as 1.x lays the stages out."""
    plan = []
    if in_channels != base_channels:
        plan.append((in_channels, base_channels, 1, 0))
    inflate_times, c = 0, base_channels
    for i in range(2, num_stages + 1):
        inflate_times += i in inflate_stages
        out = int(base_channels * ch_ratio ** inflate_times + EPS)
        plan.append((c, out, 1 + (i in down_stages), i - 1))
        c = out
    return plan


def build_stgcn_1x(graph_cfg: dict, in_channels: int = 3, base_channels: int = 64, num_stages: int = 10,
                   inflate_stages=(5, 8), down_stages=(5, 8), data_bn_type: str | None = "VC",
                   ch_ratio: float = 2, num_person: int = 2, pretrained: str | None = None,
                   init_cfg: dict | None = None, gcn_adaptive="importance", gcn_conv_pos="pre",
                   gcn_with_res=False, tcn_type="unit_tcn", tcn_dropout=0.0, tcn_ms_cfg=MS_CFG,
                   tcn_mid_channels=None) -> GCNBackbone:
    """A 1.x / PYSKL ``STGCN`` backbone. A ``gcn_*``/``tcn_*`` value given as a tuple of
    ``num_stages`` entries sets each stage (1.x rule); the first stage never has ``tcn_dropout``."""
    if init_cfg is not None:
        raise StgcnError("backbone.init_cfg is not supported; use load_from (a checkpoint) or "
                         "backbone.pretrained='file.pth'")
    if not isinstance(graph_cfg, dict):
        raise StgcnError(f"backbone.graph_cfg must be a dict(layout=..., mode=...), got {graph_cfg!r}")
    unknown = set(graph_cfg) - {"layout", "mode", "max_hop"}
    if unknown:
        raise StgcnError(f"backbone.graph_cfg: unknown keys {sorted(unknown)}; 1.x graphs take layout, "
                         f"mode, max_hop")
    graph = Graph1x(**graph_cfg)
    A = torch.tensor(graph.A, dtype=torch.float32)
    options = dict(adaptive=gcn_adaptive, conv_pos=gcn_conv_pos, with_res=gcn_with_res,
                   tcn_type=tcn_type, dropout=tcn_dropout, ms_cfg=tcn_ms_cfg, mid_channels=tcn_mid_channels)
    per_stage = [{k: (v[i] if isinstance(v, tuple) and len(v) == num_stages else v)
                  for k, v in options.items()} for i in range(num_stages)]
    per_stage[0]["dropout"] = 0.0
    plan = _stage_plan(in_channels, base_channels, num_stages, inflate_stages, down_stages, ch_ratio)
    stages = [per_stage[i] for *_, i in plan]
    adaptive = {s["adaptive"] for s in stages}
    plain = all(s["adaptive"] in ("importance", None) and s["conv_pos"] == "pre" and not s["with_res"]
                and s["tcn_type"] == "unit_tcn" for s in stages) and len(adaptive) == 1
    blocks = []
    for (c_in, c_out, stride, i), opts in zip(plan, stages, strict=True):
        residual = i != 0
        if plain:
            blocks.append(STGCNBlock(c_in, c_out, (9, A.shape[0]), stride, opts["dropout"], residual))
        else:
            blocks.append(GCNBlock(c_in, c_out, A, stride, residual, **opts))
    return GCNBackbone(graph, in_channels, blocks, edge_importance=adaptive == {"importance"},
                       data_bn_type=data_bn_type, num_person=num_person, pretrained=pretrained)


class GCNHead(nn.Module):
    """1.x / PYSKL ``GCNHead``: average pool over (T, V), mean over persons, dropout, Linear ``fc``."""

    def __init__(self, num_classes: int, in_channels: int = 256, loss_cls: dict | None = None,
                 dropout: float = 0.0, init_std: float = 0.01, average_clips: str | None = "prob",
                 multi_class: bool = False, label_smooth_eps: float = 0.0,
                 topk: tuple[int, ...] = (1, 5)) -> None:
        super().__init__()
        if multi_class:
            raise StgcnError("cls_head.multi_class=True is not supported for skeleton recognition")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_person = 2  # the recognizer sets the backbone's num_person
        self.spatial_type = "avg"
        self.average_clips = average_clips
        self.label_smooth_eps = label_smooth_eps
        self.topk = tuple(topk)
        self.loss_cls = build_loss(loss_cls or {"type": "CrossEntropyLoss"})
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.fc = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, init_std)
        nn.init.zeros_(self.fc.bias)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features ``(N*M, C, T, V)`` -> one vector per person ``(N*M, C)``."""
        return x.mean(dim=(2, 3))

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """Per-person vectors ``(N, M, C)`` -> logits: the mean over persons (padding included), fc."""
        x = pooled.mean(1)
        return self.fc(x if self.dropout is None else self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nm, c = x.shape[:2]
        return self.classify(self.pool(x).view(nm // self.num_person, self.num_person, c))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict:
        return classification_loss(self, logits, labels)
