"""Checkpoint I/O in mmaction2 0.x's format: ``{'meta', 'state_dict'[, 'optimizer']}``.

Loading never executes code: ``torch.load(weights_only=True)`` (numpy scalars that mmcv stored in
``meta`` are admitted explicitly), and for files that name other classes (mmengine Runner
checkpoints) the restricted unpickler of ``stgcn.models.safe_load``, which builds only tensors,
numpy and builtin data and reports what it skipped. Loading is strict: the model declares its
key remaps (``stgcn.models.remap``: mmaction2 0.x, DDP, original ST-GCN, mmaction2 1.x, PYSKL),
each is tried, and the one whose output matches the model's keys and shapes exactly is applied;
otherwise one line says what every candidate got wrong.

Writes are atomic (temp file in the same directory, then ``os.replace``), so an interrupted save
never leaves a corrupt file behind.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stgcn.errors import StgcnError
from stgcn.fileio import atomic_open
from stgcn.models.remap import REMAPS, RemapError
from stgcn.models.safe_load import Skipped, drop_skipped, load_restricted

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


def _torch_load(path: Path, map_location) -> object:
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()), warnings.catch_warnings():
            # a plain pickle given as a checkpoint: the one-line error below says it, not torch
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass  # names a class outside torch's allow-list: read again, building only plain data
    obj, skipped = load_restricted(path, map_location)
    if skipped:
        warnings.warn(f"{path}: skipped objects of types {', '.join(sorted(skipped))} (not weights or "
                      f"plain data; nothing of them was run or kept)", stacklevel=3)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        weights = obj["state_dict"]
        if not all(isinstance(v, torch.Tensor) for v in weights.values()):
            raise StgcnError(f"{path}: 'state_dict' holds objects other than tensors; not a weights file")
        return {k: (weights if k == "state_dict" else drop_skipped(v))
                for k, v in obj.items() if not isinstance(v, Skipped)}
    return drop_skipped(obj)


def read_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint (file, URL or model zoo name) safely: ``{'state_dict', 'meta', ...}`` as stored
    (names not remapped).

    A bare state dict gives ``{'state_dict': it, 'meta': {}}``; ``meta`` keeps the plain-data part
    of foreign checkpoints (e.g. mmengine's ``cfg`` text, epoch, seed).
    """
    from stgcn.hub import local_checkpoint

    path = local_checkpoint(path)
    if not path.is_file():
        raise StgcnError(f"{path}: checkpoint file not found; check the path")
    try:
        obj = _torch_load(path, map_location)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unpickling refused"
        if first.startswith("invalid load key"):
            raise StgcnError(f"{path}: not a readable PyTorch checkpoint ({first})") from None
        raise StgcnError(f"{path}: refused to load ({first}); only weights are loaded, never code") from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError, KeyError,
            IndexError) as err:  # the weights-only unpickler's errors on bytes that are not a pickle
        raise StgcnError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else 'truncated'})") from None
    if not isinstance(obj, dict):
        raise StgcnError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    if "state_dict" in obj:
        ckpt = dict(obj)
    elif obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        ckpt = {"state_dict": obj}  # a bare state dict
    else:
        raise StgcnError(f"{path}: no 'state_dict' in the checkpoint (keys: {sorted(obj)[:6]})")
    if not isinstance(ckpt["state_dict"], dict) or \
            not all(isinstance(v, torch.Tensor) for v in ckpt["state_dict"].values()):
        raise StgcnError(f"{path}: 'state_dict' holds objects other than tensors; not a weights file")
    ckpt.setdefault("meta", {})
    return ckpt


def _mismatch(state: dict, own: dict, strict: bool) -> str | None:
    """What stops ``state`` from loading into a model with ``own`` shapes (None: it fits)."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [(k, tuple(state[k].shape), tuple(own[k]))
              for k in own if k in state and state[k].shape != own[k]]
    if shapes:
        k, got, want = shapes[0]
        hint = ""
        if k.startswith("cls_head.fc"):
            hint = "; the class count differs: pass --load-from (re-initialises the head) to fine-tune"
        elif k in ("backbone.A", "backbone.data_bn.running_mean") or k.startswith("backbone.edge_imp"):
            hint = "; the graph layout or input channels differ from the model's graph_cfg/in_channels"
        return f"{k} has shape {got} but the model needs {want} ({len(shapes)} mismatched keys){hint}"
    if not strict and len(missing) < len(own):
        return None
    if missing or unexpected:
        return (f"{len(missing)} missing keys (e.g. {missing[:2]}), {len(unexpected)} unexpected keys "
                f"(e.g. {unexpected[:2]})")
    return None


def apply_remap(state: dict, model: nn.Module, source: str, strict: bool = True,
                ignore: tuple[str, ...] = ()) -> tuple[str, OrderedDict]:
    """Try every remap ``model.checkpoint_remaps`` declares; return (name, state) of the one that fits.

    Keys in ``ignore`` are left out of the comparison (and of the result) on both sides.
    """
    own = {k: v.shape for k, v in model.state_dict().items() if k not in ignore}
    remaps = getattr(model, "checkpoint_remaps", None) or REMAPS
    failures = []
    for name, remap in remaps.items():
        try:
            out = remap(state, own)
        except RemapError as err:
            failures.append(f"{name}: {err}")
            continue
        out = OrderedDict((k, v) for k, v in out.items() if k not in ignore)
        problem = _mismatch(out, own, strict)
        if problem is None:
            return name, out
        if " has shape " in problem:  # every key matched: the one relevant failure
            raise StgcnError(f"{source}: its weights have this model's key names ({name}) but not its "
                             f"shapes: {problem}")
        failures.append(f"{name}: {problem}")
    raise StgcnError(f"{source}: no known checkpoint layout fits this model's keys and shapes "
                     f"(is it a checkpoint for this config?) -- {'; '.join(failures)}")


def _head_to_reinit(state: dict, model: nn.Module, path) -> tuple[str, ...]:
    """Head keys to leave out because the class count differs (``reinit_head``)."""
    own = model.state_dict()
    head = tuple(k for k in HEAD_KEYS if k in own)
    theirs = [v for k, v in state.items() if k.endswith(("fc.weight", "fc_cls.weight", "fcn.weight"))
              and v.dim() in (2, 4)]
    if head and theirs and theirs[0].shape[0] != own[HEAD_KEYS[0]].shape[0]:
        warnings.warn(f"{path}: the checkpoint's head has {theirs[0].shape[0]} classes, the model "
                      f"{own[HEAD_KEYS[0]].shape[0]}; keeping the new, re-initialised head", stacklevel=3)
        return head
    return ()


def load_checkpoint(model: nn.Module, path: str | os.PathLike, map_location="cpu", strict: bool = True,
                    reinit_head: bool = False, ckpt: dict | None = None) -> dict:
    """Load weights into ``model`` through the remap that fits; returns the checkpoint dict
    (``meta``/``optimizer`` when present) with ``'remap'``: the name of the remap applied.

    ``reinit_head=True`` keeps the model's freshly initialised classifier when the checkpoint's
    class count differs (fine-tuning); otherwise any mismatch raises :class:`StgcnError`. ``ckpt`` is
    what :func:`read_checkpoint` returned for ``path``, when the caller has read it already.
    """
    ckpt = read_checkpoint(path, map_location) if ckpt is None else ckpt
    ignore = _head_to_reinit(ckpt["state_dict"], model, path) if reinit_head else ()
    name, state = apply_remap(ckpt["state_dict"], model, str(path), strict, ignore)
    own = model.state_dict()
    missing = [k for k in own if k not in state and k not in ignore]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:  # only when strict=False
        warnings.warn(f"{path}: missing keys {missing}, unexpected keys {unexpected}", stacklevel=2)
        state = OrderedDict((k, v) for k, v in state.items() if k in own)
    model.load_state_dict(state, strict=False)
    ckpt["remap"] = name
    return ckpt


def load_pretrained_backbone(backbone: nn.Module, path: str | os.PathLike) -> None:
    """``backbone.pretrained='file.pth'``: load the ``backbone.*`` weights of a recognizer checkpoint."""
    state = read_checkpoint(path)["state_dict"]
    wrapper = nn.Module()  # the recognizer's names: backbone.* (the head is left out)
    wrapper.backbone = backbone
    head = tuple(k for k in state if k.startswith(("cls_head.", "fcn.", "module.cls_head.")))
    head += ("cls_head.fc.weight", "cls_head.fc.bias")
    _, remapped = apply_remap(state, wrapper, f"{path} (backbone.pretrained)", ignore=head)
    backbone.load_state_dict(OrderedDict((k[len("backbone."):], v) for k, v in remapped.items()))


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
