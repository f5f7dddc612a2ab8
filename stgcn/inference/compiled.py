"""The ``inductor`` inference back end: ``torch.compile`` with the weights frozen into the graph.

Inductor traces the eval model once per input shape, folds BatchNorm and constants into the
convolutions, fuses the elementwise ops around them and, under bf16 autocast, runs oneDNN's bf16
kernels (AMX on CPUs that have it). The first call of each new ``(N, T)`` pays the compilation
(seconds); later calls of that shape reuse it. It compiles C++ kernels on the CPU, so it needs a
C++ compiler. The compiled graph computes every person (no padded-person reuse; ``stgcn.models.persons``).
benchmarks/README.md has its speed against the eager and onnxruntime back ends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import torch
from torch import nn

from stgcn.errors import StgcnError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}  # name -> autocast dtype (None: no autocast)


def check_precision(precision: str, backend: str) -> None:
    """A one-line error for a precision the back end does not run."""
    if precision not in PRECISIONS:
        raise StgcnError(f"precision {precision!r} is not valid; use one of {', '.join(PRECISIONS)}")
    if precision == "bf16" and backend == "onnxruntime":
        raise StgcnError("precision 'bf16' runs on backend 'torch' or 'inductor'; onnxruntime runs the "
                         "fp32 graph or an int8 file from `stgcn export --int8`")


def cxx_compiler() -> str | None:
    """The C++ compiler inductor would use on the CPU ($CXX, else g++ / clang++ on PATH), or None."""
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def compile_for_inference(model: nn.Module, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model`` (in eval mode) compiled by inductor with frozen weights; call it under
    ``torch.inference_mode`` (and autocast for bf16)."""
    if device.type == "cpu" and cxx_compiler() is None:
        raise StgcnError("backend 'inductor' compiles C++ kernels and found no C++ compiler (g++, clang++ "
                         "or $CXX); install one (e.g. apt install g++) or use backend 'torch'")
    model = model.eval()
    compiled = torch.compile(model, options={"freezing": True}, dynamic=False)

    def run(x: torch.Tensor) -> torch.Tensor:
        try:
            return compiled(x)
        except StgcnError:
            raise
        except Exception as err:  # a compiler or toolchain failure inside inductor
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise StgcnError(f"backend 'inductor' could not compile the model ({type(err).__name__}: "
                             f"{first}); use backend 'torch'") from None
    return run
