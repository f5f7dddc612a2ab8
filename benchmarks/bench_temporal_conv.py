"""The 9x1 temporal convolution of ST-GCN's blocks against this CPU's GEMM ceiling, and two rewrites.

The temporal convolutions carry most of a training step's FLOPs; this measures how close oneDNN's
channels-last kernels (what stgcn runs) come to the square-matmul ceiling measured in the same run,
forward and backward (input gradient and weight gradient apart), at the shapes of the peer
comparison's training step (B16 x 2 persons, T100 / 50 / 25 frames through the three stages, 17 joints).
Two rewrites of the same maths are timed beside it: nine shifted GEMMs over the zero-padded
channels-last rows (each tap ``k`` is the row block ``k * V`` further on, so every operand is a
contiguous matrix), and im2col (one GEMM over ``9 * C`` columns). All results are checked against
oneDNN's. Ratios only against measurements of the same run.

    python benchmarks/bench_temporal_conv.py
    python benchmarks/bench_temporal_conv.py --dtype bf16 --repeats 20
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from bench_model import matmul_ceiling

STAGES = ((64, 100), (128, 50), (256, 25))  # (C, T) of the three stages; N * M = 32, V = 17
TAPS = 9


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return 1000 * sorted(samples)[len(samples) // 2]


def padded_rows(x: torch.Tensor, before: int = TAPS // 2, after: int = TAPS // 2) -> torch.Tensor:
    """(N, C, T, V) -> (N, T + before + after, V, C), zero frames added on the time axis."""
    return F.pad(x.permute(0, 2, 3, 1), (0, 0, 0, 0, before, after))


def shifted_gemms(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Stride-1 temporal conv as nine GEMMs on contiguous row blocks; returns channels-last NCHW."""
    n, c, t, v = x.shape
    pad = TAPS // 2
    rows = padded_rows(x).reshape(-1, c)  # (N*(T+8)*V, C)
    taps = w[:, :, :, 0].permute(2, 1, 0)  # (9, C_in, C_out)
    span = rows.shape[0] - 2 * pad * v  # rows whose nine taps stay inside their own sample
    out = rows.new_zeros(rows.shape[0], w.shape[0])
    for k in range(TAPS):
        out[:span].addmm_(rows[k * v:k * v + span], taps[k])
    return out.view(n, t + 2 * pad, v, -1)[:, :t].permute(0, 3, 1, 2)


def im2col(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    n, c, t, v = x.shape
    cols = padded_rows(x).unfold(1, TAPS, 1)  # (N, T, V, C, 9)
    out = cols.reshape(n * t * v, c * TAPS) @ w[:, :, :, 0].reshape(w.shape[0], c * TAPS).t()
    return out.view(n, t, v, -1).permute(0, 3, 1, 2)


def weight_grad_gemms(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The weight gradient as nine GEMMs over the same row blocks (K = every output row)."""
    n, c, t, v = x.shape
    pad = TAPS // 2
    rows = padded_rows(x).reshape(-1, c)
    grad = padded_rows(g, 0, 2 * pad).reshape(-1, g.shape[1])  # aligned with the rows of x
    span = rows.shape[0] - 2 * pad * v
    gt = grad[:span].t()
    return torch.stack([gt @ rows[k * v:k * v + span] for k in range(TAPS)], -1).unsqueeze(-1)


def run_shape(shape: tuple[int, int, int, int], dtype: torch.dtype, repeats: int, ceiling: float) -> None:
    n, c, t, v = shape
    gen = torch.Generator().manual_seed(0)
    cl = torch.channels_last
    x = torch.randn(shape, generator=gen).to(dtype).contiguous(memory_format=cl)
    g = torch.randn(shape, generator=gen).to(dtype).contiguous(memory_format=cl)
    w = (0.05 * torch.randn(c, c, TAPS, 1, generator=gen)).to(dtype)
    gflop = 2 * n * t * v * c * c * TAPS / 1e9  # one forward; each gradient costs the same

    def backward(mask: list[bool]):
        return torch.ops.aten.convolution_backward(g, x, w, [c], [1, 1], [TAPS // 2, 0], [1, 1], False,
                                                   [0, 0], 1, mask)

    ref = F.conv2d(x, w, padding=(TAPS // 2, 0)).float()
    ref_gw = backward([False, True, False])[1].float()
    scale = float(ref.abs().max())
    checks = {"shifted GEMMs": float((shifted_gemms(x, w).float() - ref).abs().max()) / scale,
              "im2col": float((im2col(x, w).float() - ref).abs().max()) / scale,
              "weight grad GEMMs": float((weight_grad_gemms(x, g).float() - ref_gw).abs().max())
              / float(ref_gw.abs().max())}
    rows = [("oneDNN forward", lambda: F.conv2d(x, w, padding=(TAPS // 2, 0)), 1),
            ("oneDNN backward, input", lambda: backward([True, False, False]), 1),
            ("oneDNN backward, weight", lambda: backward([False, True, False]), 1),
            ("oneDNN backward, both", lambda: backward([True, True, False]), 2),
            ("shifted GEMMs forward", lambda: shifted_gemms(x, w), 1),
            ("im2col forward", lambda: im2col(x, w), 1),
            ("weight grad GEMMs", lambda: weight_grad_gemms(x, g), 1)]
    print(f"\n(N, C, T, V) = {shape}: {gflop:.2f} GFLOP a pass; max rel. error against oneDNN: "
          + ", ".join(f"{k} {e:.1e}" for k, e in checks.items()))
    base = None
    for name, fn, passes in rows:
        ms = median_ms(fn, repeats)
        base = base or ms
        rate = passes * gflop / ms * 1000
        print(f"  {name:26s} {ms:8.2f} ms  {rate:7.0f} GFLOP/s  {rate / ceiling:5.0%} of the ceiling  "
              f"{ms / base:5.2f}x the forward's time")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32, help="N * M, the clips of a B16 two-person step")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "fp32" else torch.bfloat16
    rates = matmul_ceiling(torch.device("cpu"), dtype)
    ceiling = max(rates.values())
    print(f"torch {torch.__version__}, {args.threads} threads, {args.dtype}; square 2048 matmul: "
          + ", ".join(f"{k} {r:.0f}" for k, r in rates.items()) + " GFLOP/s (ceiling: the faster)")
    for c, t in STAGES:
        run_shape((args.batch, c, t, 17), dtype, args.repeats, ceiling)


if __name__ == "__main__":
    main()
