"""Checkpoint I/O in mmaction2 0.x's format: ``{'meta', 'state_dict'[, 'optimizer']}``.

Loading never executes code (``torch.load(weights_only=True)``; numpy scalars that mmcv stored in
``meta`` are admitted explicitly) and is strict: every missing, unexpected or mis-shaped key is
reported. Foreign layouts are handled by pure key-remap functions, one per source:

* ``module.``-prefixed keys of DistributedDataParallel checkpoints;
* original ST-GCN (yysijie/st-gcn) ``.pt`` state dicts: ``X -> backbone.X``, ``fcn -> cls_head.fc``.

Writes are atomic (temp file in the same directory, then ``os.replace``), so an interrupted save
never leaves a corrupt file behind.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from stgcn.errors import StgcnError
from stgcn.fileio import atomic_open

HEAD_KEYS = ("cls_head.fc.weight", "cls_head.fc.bias")


def _numpy_safe_globals() -> list:
    """numpy objects mmcv may have pickled into ``meta`` (e.g. a best score as np.float64)."""
    # numpy 1.26 also has a `numpy._core` shim (torch imports it) without the real objects
    core = np._core if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else np.core
    items = [core.multiarray.scalar, np.dtype, core.multiarray._reconstruct, np.ndarray]
    items += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    items.append((core.multiarray.scalar, "numpy.core.multiarray.scalar"))
    items.append((core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"))
    return items


def read_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint (file, URL or model zoo name) safely; returns a dict with at least ``state_dict``."""
    from stgcn.hub import local_checkpoint

    path = local_checkpoint(path)
    if not path.is_file():
        raise StgcnError(f"{path}: checkpoint file not found; check the path")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unpickling refused"
        raise StgcnError(
            f"{path}: refused to load: the file holds objects other than tensors and plain data "
            f"({first}); only weights are loaded, never code") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise StgcnError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else 'truncated'})") from None
    if not isinstance(obj, dict):
        raise StgcnError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    if "state_dict" in obj:
        ckpt = dict(obj)
    elif all(isinstance(v, torch.Tensor) for v in obj.values()):
        ckpt = {"state_dict": obj}  # a bare state dict
    else:
        raise StgcnError(f"{path}: no 'state_dict' in the checkpoint (keys: {sorted(obj)[:6]})")
    ckpt["state_dict"] = remap_state_dict(ckpt["state_dict"])
    return ckpt


def strip_module_prefix(state: dict) -> dict:
    """DistributedDataParallel / DataParallel checkpoints prefix every key with ``module.``."""
    if state and all(k.startswith("module.") for k in state):
        return OrderedDict((k[len("module."):], v) for k, v in state.items())
    return state


def from_original_stgcn(state: dict) -> dict:
    """Original ST-GCN (yysijie/st-gcn) keys -> mmaction2 0.x keys (pure renaming)."""
    if not any(k.startswith("st_gcn_networks.") for k in state):
        return state
    out = OrderedDict()
    for k, v in state.items():
        if k.startswith("fcn."):
            out["cls_head.fc." + k[len("fcn."):]] = v
        else:
            out["backbone." + k] = v
    return out


def remap_state_dict(state: dict) -> dict:
    return from_original_stgcn(strip_module_prefix(state))


def load_checkpoint(model: nn.Module, path: str | os.PathLike, map_location="cpu", strict: bool = True,
                    reinit_head: bool = False) -> dict:
    """Load weights into ``model``; returns the checkpoint dict (``meta``/``optimizer`` when present).

    ``reinit_head=True`` keeps the model's freshly initialised classifier when the checkpoint's
    class count differs (fine-tuning); otherwise any mismatch raises :class:`StgcnError`.
    """
    ckpt = read_checkpoint(path, map_location)
    state = ckpt["state_dict"]
    own = model.state_dict()
    if reinit_head:
        for key in HEAD_KEYS:
            if key in state and key in own and state[key].shape != own[key].shape:
                warnings.warn(f"{path}: {key} has shape {tuple(state[key].shape)}, model needs "
                              f"{tuple(own[key].shape)}; keeping the new, re-initialised head",
                              stacklevel=2)
                state = OrderedDict((k, v) for k, v in state.items() if k not in HEAD_KEYS)
                break
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [(k, tuple(state[k].shape), tuple(own[k].shape))
              for k in own if k in state and state[k].shape != own[k].shape]
    if reinit_head:
        missing = [k for k in missing if k not in HEAD_KEYS]
    if shapes:
        k, got, want = shapes[0]
        hint = ""
        if k.startswith("cls_head.fc"):
            hint = "; the class count differs: pass --load-from (re-initialises the head) to fine-tune"
        elif k in ("backbone.A", "backbone.data_bn.running_mean") or k.startswith("backbone.edge_imp"):
            hint = "; the graph layout or input channels differ from the model's graph_cfg/in_channels"
        raise StgcnError(f"{path}: {k} has shape {got} but the model needs {want}"
                         f" ({len(shapes)} mismatched keys){hint}")
    if strict and (missing or unexpected):
        raise StgcnError(f"{path}: {len(missing)} missing keys (e.g. {missing[:3]}), "
                         f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]}); "
                         f"is this an ST-GCN checkpoint for this config?")
    if missing or unexpected:
        warnings.warn(f"{path}: missing keys {missing}, unexpected keys {unexpected}", stacklevel=2)
    state = OrderedDict((k, v) for k, v in state.items() if k in own)
    model.load_state_dict(state, strict=False)
    return ckpt


def load_pretrained_backbone(backbone: nn.Module, path: str | os.PathLike) -> None:
    """``backbone.pretrained='file.pth'``: load the ``backbone.*`` weights of a recognizer checkpoint."""
    state = read_checkpoint(path)["state_dict"]
    if any(k.startswith("backbone.") for k in state):
        state = OrderedDict((k[len("backbone."):], v) for k, v in state.items() if k.startswith("backbone."))
    own = backbone.state_dict()
    bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if bad:
        raise StgcnError(f"{path}: pretrained backbone lacks or mis-shapes {len(bad)} keys (e.g. {bad[:3]})")
    backbone.load_state_dict(OrderedDict((k, state[k]) for k in own))


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None,
                    meta: dict | None = None) -> None:
    """Write ``{'meta', 'state_dict'[, 'optimizer']}`` atomically (mmaction2 0.x layout, CPU tensors)."""
    model = getattr(model, "module", model)
    state = OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items())
    ckpt = {"meta": dict(meta or {}), "state_dict": state}
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    atomic_torch_save(ckpt, path)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    with atomic_open(path) as f:
        torch.save(obj, f)
