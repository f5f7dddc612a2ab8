"""Time a written config's training steps and test batches, as `tools/train.py` would run them.

It builds the config's real training and test loaders (its pipelines, batch sizes and
loader workers), model and optimizer, then times whole steps, from waiting for the batch to the
optimizer update, and test batches under ``torch.inference_mode``; medians of wall time, since wall
time is what a budget is spent in. On a CPU with bf16 instructions the steps are timed in fp32 and
under bf16 autocast, alternating: each pair of steps sees the same load on a shared machine, so the
speed-up is taken per pair.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

WARMUP, STEPS, EVAL_BATCHES = 2, 8, 4


@dataclass
class StepTimes:
    """Median wall seconds of one training step (fp32, and bf16 when timed) and of one test batch."""

    fp32: float
    bf16: float | None
    eval_batch: float
    bf16_speedup: float | None = None  # median of fp32 / bf16 over back-to-back step pairs


def bf16_supported() -> bool:
    """Whether this CPU runs bf16 matrix products natively (AVX512-BF16 or AMX), as oneDNN reports."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        return "avx512_bf16" in flags or "amx_bf16" in flags


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def time_config(cfg: dict, amps: list[str], steps: int = STEPS, eval_batches: int = EVAL_BATCHES,
                warmup: int = WARMUP) -> dict:
    """Wall seconds of ``steps`` training steps per precision in ``amps`` ('fp32', 'bf16') after
    ``warmup`` untimed ones, and of ``eval_batches`` test batches, in this process."""
    import torch

    from stgcn import build_model
    from stgcn.engine import optim
    from stgcn.engine.dist import DistInfo
    from stgcn.engine.loader import build_data, build_eval_loader, build_train_loader, loader_settings
    from stgcn.engine.runtime import autocast, configure_cpu_runtime

    configure_cpu_runtime()
    cpu, info = torch.device("cpu"), DistInfo()
    model = build_model(cfg["model"])
    optimizer = optim.build_optimizer(model, cfg["optimizer"])
    loader = build_train_loader(build_data(cfg, "train", test_mode=False),
                                loader_settings(cfg["data"], "train"), info, 0, cpu)
    batches, times = iter(loader), {amp: [] for amp in amps}
    model.train()
    for step in range(warmup + steps):
        for amp in amps:  # interleaved, so that both precisions see the same load on a shared machine
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                batches = iter(loader)
                batch = next(batches)
            with autocast(cpu, torch.bfloat16 if amp == "bf16" else None):
                logits = model(batch["keypoint"])
            loss = model.loss(logits.float(), batch["label"].view(-1))["loss_cls"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step >= warmup:
                times[amp].append(time.perf_counter() - start)
    eval_loader, _ = build_eval_loader(build_data(cfg, "val", test_mode=True),
                                       loader_settings(cfg["data"], "val"), info, cpu)
    model.eval()
    wall, start = [], time.perf_counter()
    with torch.inference_mode(), autocast(cpu, torch.bfloat16 if "bf16" in amps else None):
        for i, batch in enumerate(eval_loader):
            model(batch["keypoint"])
            wall.append(time.perf_counter() - start)
            start = time.perf_counter()
            if i + 1 >= eval_batches + 1:
                break
    times["eval"] = wall[1:] or wall
    return times


def measure(config_path: str | Path, with_bf16: bool, steps: int = STEPS) -> StepTimes:
    """Time the config at ``config_path`` in this process (the threads and environment `tools/train.py`
    started from the same shell gets): ``steps`` training steps per precision, bf16 too when
    ``with_bf16`` (the test batches then run under bf16), after WARMUP untimed ones, and as many test
    batches (at most EVAL_BATCHES)."""
    from stgcn.engine.config import load_config

    times = time_config(load_config(str(config_path)), ["fp32", "bf16"] if with_bf16 else ["fp32"],
                        steps=steps, eval_batches=min(steps, EVAL_BATCHES))
    bf16 = times.get("bf16")
    speedup = _median([a / b for a, b in zip(times["fp32"], bf16, strict=True)]) if bf16 else None
    return StepTimes(fp32=_median(times["fp32"]), bf16=_median(bf16) if bf16 else None,
                     eval_batch=_median(times["eval"]), bf16_speedup=speedup)
