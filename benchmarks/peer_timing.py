"""Timing helpers of the peer benchmark (``bench_peer.py``): interleaved rounds, medians and quartiles,
logit comparison, one train step / one inference per call, and the GEMM ceilings of this CPU.

Nothing here imports mmaction2, so the tests exercise it on stgcn alone.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from bench_model import matmul_ceiling  # one fp32 / bf16 ceiling measurement for every benchmark

from stgcn.engine.runtime import autocast

CPU = torch.device("cpu")


@dataclass
class Variant:
    name: str
    run: Callable[[], torch.Tensor]  # one timed call -> logits (float32, for the comparison)
    precision: str = "fp32"  # which ceiling it is measured against: fp32, bf16 or int8
    note: str = ""


def spread(samples: list[float]) -> dict:
    """Median, quartiles, min and max of timings (seconds)."""
    q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 \
        else (samples[0],) * 3
    return {"median": statistics.median(samples), "q1": q1, "q3": q3, "min": min(samples),
            "max": max(samples), "n": len(samples)}


def compare(got: torch.Tensor, want: torch.Tensor) -> dict:
    """Logit differences against the baseline: max abs, max abs / max |baseline|, top-1 agreement."""
    got, want = got.detach().float(), want.detach().float()
    diff = float((got - want).abs().max())
    agree = int((got.argmax(1) == want.argmax(1)).sum())
    return {"abs": diff, "rel": diff / max(float(want.abs().max()), 1e-30), "agree": agree,
            "n": int(want.shape[0])}


def time_variants(variants: list[Variant], warmup: int, repeats: int) -> tuple[dict, dict]:
    """Interleaved rounds (each variant once per round); the first variant is the baseline of the
    comparison made on round 0. Returns ({name: spread}, {name: compare})."""
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    diffs = {}
    for rnd in range(warmup + repeats):
        outputs = {}
        for var in variants:
            start = time.perf_counter()
            outputs[var.name] = var.run()
            if rnd >= warmup:
                times[var.name].append(time.perf_counter() - start)
        if rnd == 0:
            want = outputs[variants[0].name]
            diffs = {n: compare(o, want) for n, o in outputs.items() if n != variants[0].name}
    return {n: spread(t) for n, t in times.items()}, diffs


def train_step(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor,
               amp: torch.dtype | None = None) -> Callable[[], torch.Tensor]:
    """One SGD step (the 1.x configs' optimizer) of ``model`` on ``x`` per call; returns the logits."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with autocast(CPU, amp):
            logits = model(x)
        F.cross_entropy(logits.float(), labels).backward()
        opt.step()
        return logits.detach().float()
    return step


def inference(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, amp: torch.dtype | None = None):
    """One inference forward of ``model`` (a module, put in eval mode, or a compiled callable) per call."""
    if isinstance(model, torch.nn.Module):
        model.eval()

    def forward() -> torch.Tensor:
        with torch.inference_mode(), autocast(CPU, amp):
            return model(x).float()
    return forward


def int8_ceiling(threads: int, size: int = 2048, reps: int = 5) -> float | None:
    """GOP/s (best of ``reps``) of onnxruntime's int8 GEMM (``MatMulInteger``, uint8 x int8, as the
    QDQ model's convolutions use): the int8 mode's ceiling. None without onnxruntime."""
    try:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        from stgcn.inference.export import onnx_session
    except ImportError:
        return None
    rng = np.random.default_rng(1)
    weight = numpy_helper.from_array(rng.integers(-128, 127, (size, size), dtype=np.int8), "b")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["c"])], "int8_gemm",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size])],
                              [helper.make_tensor_value_info("c", TensorProto.INT32, [size, size])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = onnx_session(model.SerializeToString(), threads=threads)
    feed = {"a": rng.integers(0, 255, (size, size), dtype=np.uint8)}
    best = float("inf")
    for _ in range(reps + 1):
        start = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def ceilings_now(threads: int) -> dict:
    """fp32 and bf16 (torch: the best of MKL and oneDNN) and int8 (onnxruntime) GEMM GFLOP/s."""
    return {"fp32": max(matmul_ceiling(CPU, torch.float32).values()),
            "bf16": max(matmul_ceiling(CPU, torch.bfloat16).values()), "int8": int8_ceiling(threads)}
