"""ST-GCN (Yan et al., AAAI 2018) with mmaction2 0.x's module and state-dict names.

Same maths as mmaction2 0.x's ``STGCN`` / ``STGCNHead`` / ``SkeletonGCN`` operation for
operation, laid out for speed: activations and conv weights stay in channels-last memory,
``(N*M, C, T, V)`` with ``C`` innermost, so that

* the 1x1 graph convolution is one oneDNN/cuDNN convolution over ``(N*M*T*V, C_in)`` rows (on
  CPU oneDNN's fp32 GEMM is ~2x MKL's ``F.linear`` here),
* the aggregation over joints and partitions is one batched matmul per block against the
  expanded adjacency, on the narrower side of the block (see ConvTemporalGraphical), with no
  permute or ``.contiguous()`` copy,
* the 9x1 temporal convolutions and BatchNorms run on oneDNN/cuDNN's channels-last kernels.

The backbone class :class:`GCNBackbone` also serves the mmaction2 1.x / PYSKL ``STGCN``
(``stgcn.models.stgcnpp`` builds it; ``stgcn.models.remap`` renames 1.x weights to these names).
benchmarks/README.md has the measurements behind each choice; ``stgcn.models.fuse`` is the
BN-folded inference path, and in eval mode without autograd ``SkeletonGCN`` does not recompute
padded persons (``stgcn.models.persons``).

Shapes: input ``(N, C, T, V, M)``; backbone output ``(N*M, 256, T/4, V)``; logits ``(N, classes)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stgcn.errors import StgcnError
from stgcn.graph import Graph
from stgcn.models.batchnorm import BatchNorm1d, BatchNorm2d
from stgcn.models.persons import PaddedPersonCache, pooled_persons, skipping_enabled
from stgcn.models.remap import REMAPS

# (in, out, temporal stride) of the ten blocks after the first; the first maps in_channels -> 64.
BLOCK_PLAN = ((64, 64, 1), (64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1),
              (128, 256, 2), (256, 256, 1), (256, 256, 1))


def adjacency_rows(A: torch.Tensor, aggregate_first: bool) -> torch.Tensor:
    """(K, V, V) adjacency laid out for the aggregation matmul of :class:`ConvTemporalGraphical`.

    Aggregate-first: rows ``(w, k)`` over input joints ``v`` (``(V*K, V)``); conv-first: rows ``w``
    over the conv output's ``(v, k)`` rows (``(V, V*K)``).
    """
    k, v = A.shape[0], A.shape[1]
    if aggregate_first:
        return A.permute(2, 0, 1).reshape(v * k, v)
    return A.permute(1, 0, 2).reshape(v * k, v).t()


class ConvTemporalGraphical(nn.Module):
    """Graph convolution: 1x1 conv to ``K * C_out`` channels, then sum over partitions and joints.

    Both steps are linear, so they commute: a widening block (``C_in < C_out``) aggregates its
    input over joints first and convolves ``K * C_in`` channels to ``C_out`` (the joint mixing runs
    on the narrow side and the ``K * C_out`` intermediate never exists); other blocks convolve
    first. The conv bias, which the reference sums through the graph, is added after the
    aggregation as the (joint, channel) table ``sum_k colsum(A_k)[w] * b[k, c]``.

    ``conv_pos='post'`` (mmaction2 1.x) is the other order as a layer: the conv maps the aggregated
    ``K * C_in`` channels to ``C_out`` (weight ``(C_out, K*C_in)``), its bias added once.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, conv_pos: str = "pre") -> None:
        super().__init__()
        if conv_pos not in ("pre", "post"):
            raise StgcnError(f"gcn_conv_pos must be 'pre' or 'post', got {conv_pos!r}")
        self.kernel_size = kernel_size
        self.out_channels = out_channels
        self.conv_pos = conv_pos
        if conv_pos == "pre":
            self.conv = nn.Conv2d(in_channels, out_channels * kernel_size, kernel_size=1)
        else:
            self.conv = nn.Conv2d(in_channels * kernel_size, out_channels, kernel_size=1)
        self.aggregate_first = conv_pos == "post" or in_channels < out_channels

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        k, c_out = self.kernel_size, self.out_channels
        weight, bias = self.conv.weight, self.conv.bias
        if self.conv_pos == "post":
            bias_wc = None if bias is None else bias.view(1, c_out).expand(v, c_out)
        else:
            bias_wc = None if bias is None else (A.sum(1).unsqueeze(2) * bias.view(k, 1, c_out)).sum(0)
        # x is channels-last, so (n*t, v, c) is a free view; both matmuls batch over frames
        # against the expanded (stride-0) adjacency.
        a = adjacency_rows(A, self.aggregate_first)
        if self.aggregate_first:
            z = torch.bmm(a.expand(n * t, v * k, v), x.permute(0, 2, 3, 1).reshape(n * t, v, c))
            if self.conv_pos == "pre":
                weight = weight.view(k, c_out, c).transpose(0, 1).reshape(c_out, k * c, 1, 1)
            out = F.conv2d(z.view(n, t, v, k * c).permute(0, 3, 1, 2), weight)
            if bias_wc is None:
                return out
            # Added on the (frame, joint * channel) rows view: the bias gradient is then a sum over
            # rows, ~25x faster than reducing a broadcast over a channels-last 4-D tensor.
            # In the activation's dtype: under autocast the fp32 table would promote the bf16
            # output (and every BN, ReLU and cast after it) to fp32.
            bias_rows = bias_wc.reshape(1, v * c_out).to(out.dtype)
            rows = out.permute(0, 2, 3, 1).reshape(n * t, v * c_out) + bias_rows
            return rows.view(n, t, v, c_out).permute(0, 3, 1, 2)
        y = F.conv2d(x, weight)  # channels-last (n, t, v, k*c_out): rows (v, k) of each frame
        y = y.permute(0, 2, 3, 1).reshape(n * t, v * k, c_out)
        a = a.expand(n * t, v, v * k)
        out = torch.bmm(a, y) if bias_wc is None else torch.baddbmm(bias_wc, a, y)
        return out.view(n, t, v, c_out).permute(0, 3, 1, 2)


class STGCNBlock(nn.Module):
    """``relu(tcn(gcn(x, A)) + residual(x))`` with tcn = BN, ReLU, Conv(9x1), BN, Dropout."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int],
                 stride: int = 1, dropout: float = 0.0, residual: bool = True) -> None:
        super().__init__()
        t_kernel, k = kernel_size
        if t_kernel % 2 != 1:
            raise StgcnError(f"temporal kernel size must be odd, got {t_kernel}")
        self.gcn = ConvTemporalGraphical(in_channels, out_channels, k)
        self.tcn = nn.Sequential(
            BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (t_kernel, 1), (stride, 1), ((t_kernel - 1) // 2, 0)),
            BatchNorm2d(out_channels),
            nn.Dropout(dropout, inplace=True),
        )
        self.dropout = dropout
        if not residual:
            self.residual_mode = "none"
        elif in_channels == out_channels and stride == 1:
            self.residual_mode = "identity"
        else:
            self.residual_mode = "conv"
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
                BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        y = self.gcn(x, A)
        bn1, relu, conv, bn2, drop = self.tcn
        y = bn2(conv(relu(bn1(y))))
        if self.dropout > 0:
            y = drop(y)
        # In place: BatchNorm's backward needs its input, not its output.
        if self.residual_mode == "identity":
            y = y.add_(x)
        elif self.residual_mode == "conv":
            y = y.add_(self.residual(x))
        return torch.relu_(y)


class GCNBackbone(nn.Module):
    """Data BatchNorm, then a list of graph blocks, with the 0.x state-dict names.

    ``data_bn_type``: ``'VC'`` (per joint and channel), ``'MVC'`` (also per person slot, 1.x) or None.
    ST-GCN blocks (:class:`STGCNBlock`) share the graph buffer ``A``, scaled per block by
    ``edge_importance[i]`` when ``edge_importance`` is set; blocks that carry their own adjacency
    (``stgcn.models.stgcnpp``) get ``None``.
    """

    def __init__(self, graph, in_channels: int, blocks: list[nn.Module], edge_importance: bool = True,
                 data_bn_type: str | None = "VC", num_person: int = 2, pretrained: str | None = None) -> None:
        super().__init__()
        if data_bn_type not in ("VC", "MVC", None):
            raise StgcnError(f"backbone.data_bn_type must be 'VC', 'MVC' or None, got {data_bn_type!r}")
        self.graph = graph
        self.in_channels = in_channels
        self.num_node = graph.num_node
        self.num_person = num_person
        self.layout = graph.layout_name
        self.data_bn_type = data_bn_type
        # A person's features depend on its slot when data_bn normalises per slot (MVC).
        self.persons_independent = data_bn_type != "MVC"
        shared_graph = any(isinstance(b, STGCNBlock) for b in blocks)
        if shared_graph:
            self.register_buffer("A", torch.tensor(graph.A, dtype=torch.float32))
        else:
            self.register_buffer("A", None)
        v = graph.num_node
        width = {"VC": in_channels * v, "MVC": num_person * in_channels * v}.get(data_bn_type)
        self.data_bn = BatchNorm1d(width) if width else nn.Identity()
        self.st_gcn_networks = nn.ModuleList(blocks)
        if edge_importance and shared_graph:
            self.edge_importance = nn.ParameterList(
                nn.Parameter(torch.ones(self.A.shape)) for _ in self.st_gcn_networks)
        else:
            self.edge_importance = None
        self.pretrained = pretrained
        self.init_weights()
        # Channels-last conv weights match the activations: oneDNN then neither reorders the
        # weights on every call nor copies their gradients back (values and keys are unchanged).
        self.to(memory_format=torch.channels_last)

    def init_weights(self) -> None:
        """Kaiming-normal (fan_out, relu) convs with zero bias, BN weight 1 / bias 0 (mmaction2 0.x)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.pretrained is not None:
            from stgcn.models.checkpoint import load_pretrained_backbone
            load_pretrained_backbone(self, self.pretrained)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> normalised channels-last (N*M, C, T, V)."""
        n, c, t, v, m = x.shape
        if v != self.num_node or c != self.in_channels:
            raise StgcnError(
                f"input has C={c}, V={v} but the backbone expects in_channels={self.in_channels}, "
                f"{self.num_node} joints; check the pipeline and graph_cfg.layout")
        x = x.to(self.st_gcn_networks[0].gcn.conv.weight.dtype)
        if self.data_bn_type == "MVC":
            if m != self.num_person:
                raise StgcnError(f"input has M={m} persons but data_bn_type='MVC' needs num_person="
                                 f"{self.num_person}; set FormatGCNInput(num_person=...) to match")
            x = self.data_bn(x.permute(0, 2, 4, 3, 1).reshape(n * t, m * v * c))  # columns (m, v, c)
            x = x.view(n, t, m, v, c).transpose(1, 2).reshape(n * m, t, v, c)
        else:
            x = self.data_bn(x.permute(0, 4, 2, 3, 1).reshape(n * m * t, v * c))  # joint-major (v, c)
        return x.view(n * m, t, v, c).permute(0, 3, 1, 2)

    def block_adjacency(self, i: int) -> torch.Tensor | None:
        """The adjacency block ``i`` aggregates with (None: the block holds its own)."""
        if not isinstance(self.st_gcn_networks[i], STGCNBlock):
            return None
        return self.A if self.edge_importance is None else self.A * self.edge_importance[i]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for i, block in enumerate(self.st_gcn_networks):
            x = block(x, self.block_adjacency(i))
        return x


class STGCN(GCNBackbone):
    """The mmaction2 0.x ST-GCN backbone: data BatchNorm, ten ST-GCN blocks, edge importance."""

    def __init__(self, in_channels: int, graph_cfg: dict, edge_importance_weighting: bool = True,
                 data_bn: bool = True, pretrained: str | None = None, dropout: float = 0.0,
                 temporal_kernel_size: int = 9) -> None:
        graph = Graph(**graph_cfg)
        kernel = (temporal_kernel_size, graph.A.shape[0])
        blocks = [STGCNBlock(in_channels, 64, kernel, 1, dropout=0.0, residual=False)]
        blocks += [STGCNBlock(ci, co, kernel, s, dropout=dropout) for ci, co, s in BLOCK_PLAN]
        super().__init__(graph, in_channels, blocks, edge_importance_weighting,
                         "VC" if data_bn else None, pretrained=pretrained)


class STGCNHead(nn.Module):
    """Pool over (T, V), average the ``num_person`` rows of each sample, then a 1x1 conv "fc"."""

    def __init__(self, num_classes: int, in_channels: int = 256, loss_cls: dict | None = None,
                 spatial_type: str = "avg", num_person: int = 2, init_std: float = 0.01,
                 multi_class: bool = False, label_smooth_eps: float = 0.0,
                 topk: tuple[int, ...] = (1, 5)) -> None:
        super().__init__()
        if spatial_type not in ("avg", "max"):
            raise StgcnError(f"cls_head.spatial_type must be 'avg' or 'max', got {spatial_type!r}")
        if multi_class:
            raise StgcnError("cls_head.multi_class=True is not supported for skeleton recognition")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.spatial_type = spatial_type
        self.num_person = num_person
        self.init_std = init_std
        self.label_smooth_eps = label_smooth_eps
        self.topk = tuple(topk)
        self.loss_cls = build_loss(loss_cls or {"type": "CrossEntropyLoss"})
        self.fc = nn.Conv2d(in_channels, num_classes, kernel_size=1)
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.normal_(self.fc.weight, 0.0, self.init_std)
        nn.init.zeros_(self.fc.bias)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features ``(N*M, C, T, V)`` -> one vector per person ``(N*M, C)``."""
        return x.mean(dim=(2, 3)) if self.spatial_type == "avg" else x.amax(dim=(2, 3))

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """Per-person vectors ``(N, M, C)`` -> logits: the mean over persons (padding included), fc."""
        return F.linear(pooled.mean(1), self.fc.weight.view(self.num_classes, -1), self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nm, c = x.shape[:2]
        return self.classify(self.pool(x).view(nm // self.num_person, self.num_person, c))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict:
        return classification_loss(self, logits, labels)


def classification_loss(head: nn.Module, logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """``{'topK_acc': float, ..., 'loss_cls': tensor}`` from ``head.topk``, ``head.loss_cls``."""
    labels = labels.view(-1)
    losses = {}
    with torch.no_grad():
        for k in head.topk:
            kk = min(k, logits.shape[1])
            hit = (logits.topk(kk, dim=1).indices == labels[:, None]).any(1)
            losses[f"top{k}_acc"] = hit.float().mean().item()
    losses["loss_cls"] = head.loss_cls(logits, labels, head.label_smooth_eps)
    return losses


class CrossEntropyLoss(nn.Module):
    """Mean cross-entropy times ``loss_weight``; optional class weights and label smoothing."""

    def __init__(self, loss_weight: float = 1.0, class_weight: list[float] | None = None) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.class_weight = None if class_weight is None else torch.tensor(class_weight)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, label_smooth_eps: float = 0.0):
        weight = None if self.class_weight is None else self.class_weight.to(logits)
        loss = F.cross_entropy(logits.float(), labels, weight=weight, label_smoothing=label_smooth_eps)
        return loss * self.loss_weight


LOSSES = {"CrossEntropyLoss": CrossEntropyLoss}


def build_loss(cfg: dict) -> nn.Module:
    from stgcn.registry import build_from_table
    return build_from_table(cfg, LOSSES, "cls_head.loss_cls")


class SkeletonGCN(nn.Module):
    """Recognizer: ``logits = cls_head(backbone(x))``; ``loss()`` gives loss_cls and batch accuracy."""

    checkpoint_remaps = REMAPS  # the foreign layouts load_checkpoint may apply

    def __init__(self, backbone: GCNBackbone, cls_head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.cls_head = cls_head
        # Eval-mode inference without autograd reuses the features of padded persons
        # (stgcn.models.persons); set to False to always run every person.
        self.skip_padded_persons = True
        self._padded_cache = PaddedPersonCache()

    def forward(self, keypoint: torch.Tensor) -> torch.Tensor:
        if keypoint.dim() != 5:
            raise StgcnError(f"model input must be (N, C, T, V, M), got shape {tuple(keypoint.shape)}")
        m = keypoint.shape[-1]
        if m != self.cls_head.num_person:
            if keypoint.shape[1] == self.cls_head.num_person and m == self.backbone.in_channels:
                raise StgcnError(
                    f"model input has shape {tuple(keypoint.shape)}, which reads as (N, M, T, V, C) "
                    "(mmaction2 1.x's layout); this model takes (N, C, T, V, M): pass "
                    "keypoint.permute(0, 4, 2, 3, 1)")
            raise StgcnError(
                f"input has M={m} persons but cls_head.num_person={self.cls_head.num_person}; set "
                f"FormatGCNInput(num_person=...) and cls_head num_person to the same value")
        if self.backbone.persons_independent and skipping_enabled(self, keypoint):
            pooled = pooled_persons(self, self._padded_cache, keypoint, self.person_features)
            return self.cls_head.classify(pooled)
        return self.cls_head(self.backbone(keypoint))

    def person_features(self, keypoint: torch.Tensor) -> torch.Tensor:
        """``(N, C, T, V, M)`` -> pooled backbone features ``(N*M, C_out)``, one row per person."""
        return self.cls_head.pool(self.backbone(keypoint))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict:
        return self.cls_head.loss(logits, labels)
