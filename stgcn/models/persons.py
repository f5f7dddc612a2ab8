"""Inference without recomputing padded persons.

``FormatGCNInput`` pads every sample to ``num_person`` persons with a constant (zeros, or
(-0.5, -0.5, -0.5) after the 2D config's ``PoseNormalize``), and the head averages the pooled
features of all persons, padding included. In eval mode every BatchNorm uses its running
statistics, so a person's pooled feature depends only on that person's input: a person that is one
constant vector over all frames and joints always gives the same feature for a given clip length.
:func:`pooled_persons` computes such features once, keeps them while the weights stay unchanged,
and runs the network on the real persons only. Single-actor clips padded to two persons (most of
NTU RGB+D) then cost one person's forward instead of two; the result is the same computation
(parity with the full forward is tested to float rounding).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

Features = Callable[[torch.Tensor], torch.Tensor]  # (P, C, T, V, 1) -> (P, F)


def skipping_enabled(module: nn.Module, x: torch.Tensor) -> bool:
    """Eager eval-mode inference without autograd, more than one person, and not switched off."""
    if module.training or torch.is_grad_enabled() or x.dim() != 5 or x.shape[-1] < 2:
        return False
    if not getattr(module, "skip_padded_persons", True):
        return False
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return False
    is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)  # torch >= 2.3
    return not (is_compiling is not None and is_compiling())


class PaddedPersonCache:
    """Pooled features of constant persons, keyed by the weights' state and the input's form."""

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._weights_key: tuple | None = None

    def clear(self) -> None:
        self._entries.clear()
        self._weights_key = None

    def follow(self, module: nn.Module) -> None:
        """Forget everything if ``module``'s weights were trained, reloaded or moved since."""
        weights_key = _state_key(module)
        if weights_key is None or weights_key != self._weights_key:
            self.clear()
            self._weights_key = weights_key

    def get(self, key: tuple) -> torch.Tensor | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: tuple, value: torch.Tensor) -> torch.Tensor:
        self._entries[key] = value
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value


def _state_key(module: nn.Module) -> tuple | None:
    """Changes whenever a parameter or buffer is replaced or modified in place; None when that
    cannot be told (weights created under ``torch.inference_mode`` have no version counter), and
    then nothing is kept beyond one batch."""
    tensors = list(module.parameters()) + list(module.buffers())
    if any(t.is_inference() for t in tensors):
        return None
    return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)


def _autocast_key(device: torch.device) -> tuple:
    try:
        return (torch.is_autocast_enabled(device.type), torch.get_autocast_dtype(device.type))
    except (AttributeError, TypeError, RuntimeError):  # torch < 2.4
        if device.type == "cpu":
            return (torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype())
        return (torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype())


def pooled_persons(module: nn.Module, cache: PaddedPersonCache, x: torch.Tensor,
                   features: Features) -> torch.Tensor:
    """``(N, C, T, V, M)`` -> pooled features ``(N, M, F)``, constant persons served from ``cache``."""
    n, c, t, v, m = x.shape
    persons = x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t * v)
    first = persons[:, :, 0]
    padded = (persons == first.unsqueeze(2)).all(dim=2).all(dim=1)  # NaN never counts as constant
    if not bool(padded.any()):
        return features(x).view(n, m, -1)
    live = (~padded).nonzero().squeeze(1)
    parts: dict[int, torch.Tensor] = {}
    if live.numel():
        rows = persons.index_select(0, live).view(-1, c, t, v, 1)
        for i, feat in zip(live.tolist(), features(rows), strict=True):
            parts[i] = feat
    cache.follow(module)
    base = (t, v, x.dtype, x.device) + _autocast_key(x.device)
    for i, value in zip(padded.nonzero().squeeze(1).tolist(), first[padded].tolist(), strict=True):
        key = base + tuple(value)
        feat = cache.get(key)
        if feat is None:
            feat = cache.put(key, features(persons[i].view(1, c, t, v, 1))[0])
        parts[i] = feat
    return torch.stack([parts[i] for i in range(n * m)]).view(n, m, -1)
