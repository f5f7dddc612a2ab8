"""Time a few training steps of a model config, in a child process with passive OpenMP waiting.

On a shared CPU, spin-waiting OpenMP threads and other processes inflate wall time many times over
(benchmarks/README.md); the child sets ``OMP_WAIT_POLICY=PASSIVE`` before torch starts, and the step
estimate is the smallest of wall time and CPU time per thread over the timed steps: the closest to what
the step costs on an idle machine.

  python -m stgcn.autoconfig.timing '<model config json>' BATCH CLIP_LEN  ->  {"wall": [...], "cpu": [...]}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from stgcn.errors import StgcnError


def time_steps(model_cfg: dict, batch: int, clip_len: int, steps: int = 3) -> dict:
    """Wall and per-thread CPU seconds of ``steps`` training steps after one warm-up, in this process."""
    import torch

    from stgcn import build_model
    from stgcn.engine.runtime import configure_cpu_runtime

    configure_cpu_runtime()
    model = build_model(model_cfg).train()
    backbone, head = model.backbone, model.cls_head
    x = torch.randn(batch, backbone.in_channels, clip_len, backbone.num_node, head.num_person)
    y = torch.randint(0, head.num_classes, (batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    wall, cpu = [], []
    for _ in range(steps + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        loss = model.loss(model(x), y)["loss_cls"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        wall.append(time.perf_counter() - w0)
        cpu.append((time.process_time() - c0) / torch.get_num_threads())
    return {"wall": wall[1:], "cpu": cpu[1:], "threads": torch.get_num_threads()}


def measure_step(model_cfg: dict, batch: int, clip_len: int, timeout: float = 600) -> float:
    """Estimated seconds of one training step on this machine when idle (see the module docstring)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    cmd = [sys.executable, "-m", "stgcn.autoconfig.timing", json.dumps(model_cfg), str(batch), str(clip_len)]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=True)
        times = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise StgcnError(f"timing a training step failed ({detail.strip().splitlines()[-1][:200]}); "
                         "pass --step-seconds S to size the schedule without timing") from None
    return min(min(times["wall"]), min(times["cpu"]))


if __name__ == "__main__":
    print(json.dumps(time_steps(json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
