"""Foreign checkpoint layouts -> the state-dict names of the models in ``stgcn.models``.

One pure function per source, ``remap(state, own) -> state``: ``state`` is the checkpoint's
state dict, ``own`` the target model's ``{key: shape}``. A remap raises :class:`RemapError` (one
line) when the checkpoint is not of its kind; the loader (``stgcn.models.checkpoint``) tries every
remap the model declares in :data:`REMAPS` and keeps the one whose output matches the model's keys
and shapes exactly. Every remap also turns a Linear head ``(K, C)`` into the 0.x 1x1-conv head
``(K, C, 1, 1)`` and back, whichever the model has.

Sources: mmaction2 0.x (native), DistributedDataParallel ``module.`` prefixes, the original ST-GCN
``.pt`` files (yysijie/st-gcn), mmaction2 1.x and PYSKL (1.x names, head ``cls_head.fc_cls``).
:func:`to_mmaction2_1x` is the way back to 1.x names.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping

import torch

State = Mapping[str, torch.Tensor]
Shapes = Mapping[str, torch.Size]

HEAD_WEIGHT = "cls_head.fc.weight"
# 1.x block-relative prefix -> 0.x ST-GCN block-relative prefix (1.x gcn.bn + ReLU = 0.x tcn.0, tcn.1).
BLOCK_1X_TO_0X = {"gcn.conv.": "gcn.conv.", "gcn.bn.": "tcn.0.", "tcn.conv.": "tcn.2.",
                  "tcn.bn.": "tcn.3.", "residual.conv.": "residual.0.", "residual.bn.": "residual.1."}
_BLOCK_1X = re.compile(r"backbone\.gcn\.(\d+)\.(.+)")
_BLOCK_OURS = re.compile(r"backbone\.st_gcn_networks\.(\d+)\.(.+)")


class RemapError(ValueError):
    """This remap does not apply to the checkpoint (the message says why, in one line)."""


def _fit_head(state: dict, own: Shapes) -> OrderedDict:
    """Reshape the head weight between Linear ``(K, C)`` and 1x1 conv ``(K, C, 1, 1)`` to the model's."""
    out = OrderedDict(state)
    weight, want = out.get(HEAD_WEIGHT), own.get(HEAD_WEIGHT)
    if weight is not None and want is not None and weight.shape != want and weight.numel() == want.numel() \
            and weight.shape[0] == want[0]:
        out[HEAD_WEIGHT] = weight.reshape(want)
    return out


def native(state: State, own: Shapes) -> OrderedDict:
    """mmaction2 0.x names (and this project's own files): unchanged."""
    return _fit_head(dict(state), own)


def ddp(state: State, own: Shapes) -> OrderedDict:
    """DistributedDataParallel / DataParallel files: every key prefixed with ``module.``."""
    if not state or not all(k.startswith("module.") for k in state):
        raise RemapError("keys do not all start with 'module.'")
    return _fit_head({k[len("module."):]: v for k, v in state.items()}, own)


def original_stgcn(state: State, own: Shapes) -> OrderedDict:
    """Original ST-GCN ``.pt`` state dicts: ``X -> backbone.X``, ``fcn -> cls_head.fc``."""
    if any(k.startswith(("backbone.", "cls_head.", "module.")) for k in state) \
            or not any(k.startswith("st_gcn_networks.") for k in state):
        raise RemapError("no bare 'st_gcn_networks.<i>' keys")
    out = {("cls_head.fc." + k[len("fcn."):] if k.startswith("fcn.") else "backbone." + k): v
           for k, v in state.items()}
    return _fit_head(out, own)


def mmaction2_1x(state: State, own: Shapes) -> OrderedDict:
    """mmaction2 1.x ``RecognizerGCN`` names (``backbone.gcn.<i>.{gcn,tcn,residual}``, ``cls_head.fc``).

    For a model of ST-GCN blocks (it has ``backbone.A``) the per-block graphs ``gcn.A`` must all be
    the same fixed graph and become ``backbone.A``; ``gcn.PA`` becomes ``edge_importance``. Models of
    1.x-style blocks keep the 1.x names under ``backbone.st_gcn_networks``.
    """
    if "cls_head.fc_cls.weight" in state:
        raise RemapError("head is 'cls_head.fc_cls' (a PYSKL file)")
    blocks = [(k, _BLOCK_1X.fullmatch(k)) for k in state]
    if not any(m for _, m in blocks):
        raise RemapError("no 'backbone.gcn.<i>.' keys")
    if "backbone.A" not in own:
        out = {(f"backbone.st_gcn_networks.{m[1]}.{m[2]}" if m else k): state[k] for k, m in blocks}
        return _fit_head(out, own)
    out, graphs = {}, {}
    for k, m in blocks:
        if m is None:
            out[k] = state[k]
        elif m[2] == "gcn.A":
            graphs[int(m[1])] = state[k]
        elif m[2] == "gcn.PA":
            out[f"backbone.edge_importance.{m[1]}"] = state[k]
        else:
            src = next((p for p in BLOCK_1X_TO_0X if m[2].startswith(p)), None)
            if src is None:
                raise RemapError(f"{k} has no ST-GCN counterpart (ST-GCN++ weights for an ST-GCN config?)")
            out[f"backbone.st_gcn_networks.{m[1]}.{BLOCK_1X_TO_0X[src]}{m[2][len(src):]}"] = state[k]
    if not graphs:
        raise RemapError("no 'backbone.gcn.<i>.gcn.A' graphs")
    first = graphs[min(graphs)]
    if any(g.shape != first.shape or not torch.equal(g, first) for g in graphs.values()):
        raise RemapError("the blocks' gcn.A differ (learned graphs, gcn_adaptive='init'), so they do not "
                         "fit ST-GCN's one fixed graph")
    out["backbone.A"] = first
    return _fit_head(out, own)


def pyskl(state: State, own: Shapes) -> OrderedDict:
    """PYSKL ``RecognizerGCN`` files: the 1.x names with the head called ``cls_head.fc_cls``."""
    if "cls_head.fc_cls.weight" not in state:
        raise RemapError("no 'cls_head.fc_cls' head")
    renamed = {("cls_head.fc." + k[len("cls_head.fc_cls."):] if k.startswith("cls_head.fc_cls.") else k): v
               for k, v in state.items()}
    return mmaction2_1x(renamed, own)


def to_mmaction2_1x(state: State) -> OrderedDict:
    """This project's names -> mmaction2 1.x names (a Linear head; ``gcn.A`` copied into every block)."""
    out = OrderedDict()
    graph = state.get("backbone.A")
    back = {v: k for k, v in BLOCK_1X_TO_0X.items()}
    for k, v in state.items():
        m = _BLOCK_OURS.fullmatch(k)
        if k == "backbone.A" or k.startswith("backbone.edge_importance."):
            continue
        if m is None:
            out[k] = v
        elif graph is None:
            out[f"backbone.gcn.{m[1]}.{m[2]}"] = v
        else:
            i, rest = m[1], m[2]
            if f"backbone.gcn.{i}.gcn.A" not in out:
                if f"backbone.edge_importance.{i}" in state:
                    out[f"backbone.gcn.{i}.gcn.PA"] = state[f"backbone.edge_importance.{i}"]
                out[f"backbone.gcn.{i}.gcn.A"] = graph.clone()
            src = next(p for p in back if rest.startswith(p))
            out[f"backbone.gcn.{i}.{back[src]}{rest[len(src):]}"] = v
    if HEAD_WEIGHT in out and out[HEAD_WEIGHT].dim() == 4:
        out[HEAD_WEIGHT] = out[HEAD_WEIGHT].flatten(1)
    return out


Remap = Callable[[State, Shapes], OrderedDict]
# What the models in this package accept, in the order they are tried.
REMAPS: dict[str, Remap] = {
    "mmaction2 0.x": native,
    "DDP 'module.' prefix": ddp,
    "original ST-GCN": original_stgcn,
    "mmaction2 1.x": mmaction2_1x,
    "PYSKL": pyskl,
}
