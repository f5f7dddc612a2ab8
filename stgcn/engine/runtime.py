"""Process set-up: glibc malloc tuning for large CPU activations, and mixed precision (autocast).

glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh mapping and
unmaps it on free, so each large activation is page-faulted in again on every training step
(measured in benchmarks/README.md: a 63 MB tensor costs 22 ms of faults before its first write).
The engine calls :func:`tune_malloc` for CPU runs; ``STGCN_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os

import torch

from stgcn.errors import StgcnError

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
AMP_CHOICES = ("auto", "bf16", "fp16")


def tune_malloc(top_pad_mb: int = 64) -> bool:
    """Serve large CPU tensors from the glibc heap and keep freed memory mapped.

    glibc hands every allocation above its mmap threshold (at most 32 MiB) a fresh mapping and
    unmaps it on free, so each large activation is page-faulted in again on every step (measured:
    a 63 MB tensor costs 22 ms of faults before its first write on this machine). Disabling mmap
    for malloc and raising the trim threshold makes the freed blocks reusable. Affects the whole
    process; call it once at start-up. Returns False (and does nothing) off glibc.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_MAX, 0) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    ok &= mallopt(_M_TOP_PAD, top_pad_mb << 20) == 1
    return bool(ok)


def configure_cpu_runtime() -> bool:
    """Tune malloc for a CPU training/testing process unless ``STGCN_MALLOC_TUNING=0``."""
    if os.environ.get("STGCN_MALLOC_TUNING", "1") == "0":
        return False
    return tune_malloc()


def resolve_amp(flag: str | None, fp16_cfg: dict | None, device: torch.device,
                logger: logging.Logger | None = None) -> torch.dtype | None:
    """`--amp [auto|bf16|fp16]` or a config `fp16 = dict(...)` -> the autocast dtype (None: full fp32).

    'auto' (and the config key) mean fp16 on CUDA and bf16 on CPU; fp16 on CPU falls back to bf16.
    """
    if flag is None and fp16_cfg is None:
        return None
    flag = flag or "auto"
    if flag not in AMP_CHOICES:
        raise StgcnError(f"--amp {flag!r} is not valid; use one of {', '.join(AMP_CHOICES)}")
    if flag == "auto":
        flag = "fp16" if device.type == "cuda" else "bf16"
    if flag == "fp16" and device.type != "cuda":
        if logger is not None:
            logger.warning("fp16 autocast needs CUDA; using bf16 on CPU")
        flag = "bf16"
    if logger is not None:
        why = "--amp" if fp16_cfg is None else "the config's fp16; --cfg-options fp16=None runs fp32"
        logger.info(f"mixed precision: {flag} autocast on {device.type} ({why})")
    return torch.float16 if flag == "fp16" else torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """`torch.autocast` to `dtype`, or a no-op context when `dtype` is None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(amp: torch.dtype | None, fp16_cfg: dict | None) -> torch.amp.GradScaler | None:
    """fp16 needs loss scaling (dynamic, or starting from `fp16 = dict(loss_scale=512.)`); bf16 does not."""
    if amp != torch.float16:
        return None
    loss_scale = (fp16_cfg or {}).get("loss_scale", "dynamic")
    scale = float(loss_scale) if isinstance(loss_scale, (int, float)) else 2.0**16
    return torch.amp.GradScaler("cuda", init_scale=scale)
