"""Time stgcn against the reference oracle: train steps and eval forwards, same weights, same inputs.

Every case builds the oracle (``../shared/reference/stgcn_reference.py``) with random weights, loads
its state dict into stgcn, and times both in one process, interleaved A/B/A/B (plus the BN-folded
inference path on eval cases and the optional AMP / torch.compile / channels-last variants), taking
the median of ``--repeats`` rounds after ``--warmup`` rounds. The first round doubles as a parity
check (logits, loss and gradients against the oracle at identical weights), so a speed-up can never
silently change results. Eval inputs are single-actor clips as the pipeline pads them (person 2
constant), which stgcn's eval path does not recompute (``stgcn.models.persons``); the ``fused-2p``
column times the same fused model on a clip with two real persons. Achieved GFLOP/s use the
analytic FLOP count of the network (dense graph aggregation, train = 3x forward) and are compared
with a square matmul measured in the same run.

    python benchmarks/bench_model.py                       # the four issue cases, fp32, 2 threads
    python benchmarks/bench_model.py --amp bf16            # + bf16 autocast column
    python benchmarks/bench_model.py --device cuda --amp fp16 --compile --channels-last

OMP_WAIT_POLICY defaults to PASSIVE here (set before torch loads OpenMP; export another value to
override): on a shared CPU, OpenMP's default spin-waiting makes every parallel op wait for a
descheduled partner thread, which multiplies times and noise (both models alike). The "cpu s"
columns (process CPU time per step, all threads) are a second, contention-robust measure.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import stgcn  # noqa: E402
from stgcn.engine.runtime import tune_malloc  # noqa: E402
from stgcn.models.fuse import fuse_conv_bn  # noqa: E402
from tests.models.helpers import randomize  # noqa: E402  (the weights the parity tests use)

DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "stgcn_reference.py"
LAYOUT_V = {"coco": 17, "ntu-rgb+d": 25}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# (in, out, temporal stride) of the ten blocks, as in the backbone.
PLAN = ((64, 64, 1), (64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1),
        (128, 256, 2), (256, 256, 1), (256, 256, 1))


@dataclass(frozen=True)
class Case:
    mode: str  # "train" (forward + backward + SGD step) or "eval" (inference forward)
    layout: str
    batch: int
    frames: int
    persons: int = 2

    @property
    def name(self) -> str:
        short = "coco" if self.layout == "coco" else "ntu"
        return f"{self.mode} B{self.batch} T{self.frames} {short} M{self.persons}"


CASES = (Case("train", "coco", 16, 300), Case("train", "ntu-rgb+d", 4, 100),
         Case("eval", "ntu-rgb+d", 1, 300), Case("eval", "coco", 16, 100))


def forward_flops(case: Case, in_channels: int = 3, k: int = 3) -> float:
    """Multiply-adds x 2 of one forward pass (convolutions + dense graph aggregation)."""
    v, t, macs = LAYOUT_V[case.layout], case.frames, 0
    for i, (ci, co, s) in enumerate(((in_channels, 64, 1),) + PLAN):
        macs += t * v * ci * co * k + t * k * v * v * co  # 1x1 graph conv, aggregation
        t = (t - 1) // s + 1
        macs += t * v * co * co * 9  # 9x1 temporal conv
        if i > 0 and (ci != co or s != 1):
            macs += t * v * ci * co  # residual 1x1 conv
    return 2.0 * macs * case.batch * case.persons


def load_reference(path: Path):
    if not path.exists():
        sys.exit(f"bench_model: reference oracle not found at {path}; pass --reference PATH")
    spec = importlib.util.spec_from_file_location("stgcn_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_input(case: Case, seed: int = 0, all_real: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Pipeline-like (N, 3, T, V, M): a real first person, the others padded like FormatGCNInput
    (a single-actor clip); ``all_real``: every person real (a two-actor clip)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.full((case.batch, 3, case.frames, LAYOUT_V[case.layout], case.persons), -0.5)
    real = slice(None) if all_real else slice(0, 1)
    x[..., real] = torch.randn(x[..., real].shape, generator=gen)
    labels = torch.randint(0, 60, (case.batch,), generator=gen)
    return x, labels


def build_pair(ref_module, layout: str, device: torch.device):
    """The oracle and stgcn with identical weights (the same ones on every call)."""
    torch.manual_seed(0)
    ref = ref_module.Reference(60, 3, layout)
    randomize(ref)
    cfg = dict(type="SkeletonGCN",
               backbone=dict(type="STGCN", in_channels=3, graph_cfg=dict(layout=layout, strategy="spatial")),
               cls_head=dict(type="STGCNHead", num_classes=60, in_channels=256))
    ours = stgcn.build_model(cfg)
    ours.load_state_dict(ref.state_dict())
    return ref.to(device), ours.to(device)


@dataclass
class Variant:
    name: str
    model: torch.nn.Module
    amp: torch.dtype | None = None
    optimizer: torch.optim.Optimizer | None = None
    all_real: bool = False  # eval on the two-actor input instead of the padded one


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_once(var: Variant, case: Case, x: torch.Tensor, labels: torch.Tensor, device: torch.device):
    autocast = (torch.autocast(device.type, dtype=var.amp) if var.amp is not None
                else contextlib.nullcontext())
    if case.mode == "eval":
        with torch.inference_mode(), autocast:
            return var.model(x).float(), None
    var.optimizer.zero_grad(set_to_none=True)
    with autocast:
        logits = var.model(x)
    loss = F.cross_entropy(logits.float(), labels)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in var.model.parameters() if p.grad is not None])
    var.optimizer.step()
    return logits.detach().float(), grads


def rel_diff(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))


def grad_rel_diff(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).norm() / want.norm().clamp_min(1e-30))


def variants_for(case: Case, args, ref_module, device: torch.device) -> list[Variant]:
    ref, ours = build_pair(ref_module, case.layout, device)
    out = [Variant("ref", ref), Variant("stgcn", ours)]
    if args.channels_last:
        ref_cl, _ = build_pair(ref_module, case.layout, device)
        out.append(Variant("ref-cl", ref_cl.to(memory_format=torch.channels_last)))
    if case.mode == "eval":
        ref.eval()
        ours.eval()
        fused = fuse_conv_bn(ours)
        out.append(Variant("fused", fused))
        out.append(Variant("fused-2p", fused, all_real=True))
    for amp in args.amp or ():
        _, ours_amp = build_pair(ref_module, case.layout, device)
        model = fuse_conv_bn(ours_amp.eval()) if case.mode == "eval" else ours_amp
        out.append(Variant(f"{'fused' if case.mode == 'eval' else 'stgcn'}-{amp}", model, AMP_DTYPES[amp]))
    if args.compile:
        _, ours_c = build_pair(ref_module, case.layout, device)
        model = fuse_conv_bn(ours_c.eval()) if case.mode == "eval" else ours_c
        out.append(Variant("compiled", torch.compile(model)))
    for var in out:
        var.model.train(case.mode == "train")
        if case.mode == "train":
            var.optimizer = torch.optim.SGD(var.model.parameters(), lr=0.1, momentum=0.9,
                                            weight_decay=1e-4)
    return out


def time_case(case: Case, args, ref_module, device: torch.device) -> dict:
    variants = variants_for(case, args, ref_module, device)
    x, labels = make_input(case)
    x, labels = x.to(device), labels.to(device)
    x_real = make_input(case, all_real=True)[0].to(device)
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    cpu: dict[str, list[float]] = {v.name: [] for v in variants}
    parity: dict[str, str] = {}
    for rnd in range(args.warmup + args.repeats):
        outputs = {}
        for var in variants:
            sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            outputs[var.name] = run_once(var, case, x_real if var.all_real else x, labels, device)
            sync(device)
            if rnd >= args.warmup:
                times[var.name].append(time.perf_counter() - start)
                cpu[var.name].append(time.process_time() - start_cpu)
        if rnd == 0:  # identical weights in every variant: compare with the oracle
            want_logits, want_grads = outputs["ref"]
            want_real = None
            if any(v.all_real for v in variants):
                want_real = run_once(variants[0], case, x_real, labels, device)[0]
            for name, (logits, grads) in outputs.items():
                if name == "ref":
                    continue
                all_real = next(v.all_real for v in variants if v.name == name)
                text = f"logits {rel_diff(logits, want_real if all_real else want_logits):.1e}"
                if grads is not None:
                    text += f", grads {grad_rel_diff(grads, want_grads):.1e}"
                parity[name] = text
    return {"case": case, "times": {k: statistics.median(v) for k, v in times.items()},
            "cpu": {k: statistics.median(v) for k, v in cpu.items()},
            "spread": {k: (min(v), max(v)) for k, v in times.items()}, "parity": parity}


def matmul_ceiling(device: torch.device, dtype: torch.dtype, size: int = 2048, reps: int = 5) -> dict:
    """GFLOP/s (best of ``reps``) of a ``size``^3 matmul: BLAS (torch.mm) and, on CPU, oneDNN.

    On CPU torch.mm goes to MKL, while the model's convolutions run on oneDNN, whose fp32 GEMM
    is much faster on some CPUs (2.3x on this AMD machine); the ceiling is the faster of the two.
    """
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(size, size, generator=gen).to(device, dtype)
    b = torch.randn(size, size, generator=gen).to(device, dtype)
    kernels = {"torch.mm": lambda: torch.mm(a, b)}
    linear = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if device.type == "cpu" else None
    if linear is not None:  # oneDNN's matmul (what inductor uses for CPU linears)
        b_t = b.t().contiguous()
        kernels["oneDNN"] = lambda: linear(a, b_t, None, "none", [], "")
    rates = {}
    for name, fn in kernels.items():
        samples = []
        for i in range(reps + 1):
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            if i:
                samples.append(time.perf_counter() - start)
        rates[name] = 2 * size**3 / min(samples) / 1e9  # a ceiling: the best run
    return rates


def _ratio_table(results: list[dict], names: list[str], key: str, unit: str, scale: float) -> None:
    w = max(len(n) for n in names) + 8
    header = f"{'case':<24}" + "".join(f"{n + ' ' + unit:>{w}}" for n in names)
    header += "".join(f"{'ref/' + n:>{w}}" for n in names if n != "ref")
    print(header)
    for r in results:
        t = r[key]
        row = f"{r['case'].name:<24}"
        row += "".join(f"{t[n] * scale:>{w}.1f}" if n in t else f"{'-':>{w}}" for n in names)
        row += "".join(f"{t['ref'] / t[n]:>{w - 1}.2f}x" if n in t else f"{'-':>{w}}"
                       for n in names if n != "ref")
        print(row)


def print_table(results: list[dict], ceilings: dict, ceiling_amp: dict | None) -> None:
    names = list(results[0]["times"])
    for r in results[1:]:
        names += [n for n in r["times"] if n not in names]
    ceiling = max(ceilings.values())
    print()
    print("matmul ceiling (square 2048, fp32): " + ", ".join(f"{k} {v:.0f}" for k, v in ceilings.items())
          + " GFLOP/s" + (f"; low precision: {max(ceiling_amp.values()):.0f} GFLOP/s" if ceiling_amp else ""))
    print("eval inputs: person 1 real, person 2 padded as FormatGCNInput pads it (a single-actor clip);")
    print("'-2p' columns: both persons real (a two-actor clip), against the same reference time.")
    print("wall time, median (the ratios the targets refer to):")
    _ratio_table(results, names, "times", "ms", 1e3)
    print("process CPU time, median (all threads; robust to other processes on the machine):")
    _ratio_table(results, names, "cpu", "cpu ms", 1e3)
    print()
    print(f"{'case':<24}{'GFLOP/step':>12}   achieved GFLOP/s (% of matmul ceiling)")
    for r in results:
        case, t = r["case"], r["times"]
        flops = forward_flops(case) * (3 if case.mode == "train" else 1)
        parts = []
        for n in t:
            peak = max(ceiling_amp.values()) if n.endswith(("bf16", "fp16")) and ceiling_amp else ceiling
            rate = flops / t[n] / 1e9
            skips = case.mode == "eval" and case.persons > 1 and not n.startswith("ref") \
                and not n.endswith("-2p") and n != "compiled"
            parts.append(f"{n} {rate:.0f}{'*' if skips else ''} ({100 * rate / peak:.0f}%)")
        print(f"{case.name:<24}{flops / 1e9:>12.1f}   " + ", ".join(parts))
    if any(r["case"].mode == "eval" for r in results):
        print("* effective rate: the padded person is served from the cache, so these columns run "
              "1 of the 2 persons")
    print()
    print("parity against the oracle at identical weights (max rel diff of logits; rel L2 of grads):")
    for r in results:
        print(f"  {r['case'].name:<24}" + "; ".join(f"{k}: {v}" for k, v in r["parity"].items()))
    print()
    print("spread (min..max ms over the timed rounds):")
    for r in results:
        print(f"  {r['case'].name:<24}" + "; ".join(
            f"{k} {lo * 1e3:.0f}..{hi * 1e3:.0f}" for k, (lo, hi) in r["spread"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per case (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (>= 1: parity check)")
    parser.add_argument("--cases", default="0,1,2,3",
                        help="comma-separated case indices: " + "; ".join(
                            f"{i}={c.name}" for i, c in enumerate(CASES)))
    parser.add_argument("--amp", nargs="+", choices=sorted(AMP_DTYPES),
                        help="add autocast columns for stgcn (fused on eval cases)")
    parser.add_argument("--compile", action="store_true", help="add a torch.compile column for stgcn")
    parser.add_argument("--channels-last", action="store_true",
                        help="add the reference converted to channels_last memory format")
    parser.add_argument("--tf32", action="store_true",
                        help="CUDA: allow TF32 matmuls/convolutions (default: strict fp32 for both models)")
    parser.add_argument("--scale-batch", type=int, default=1, help="multiply every case's batch (GPU)")
    parser.add_argument("--batch", type=int, default=None, help="every case at this batch size instead")
    parser.add_argument("--frames", type=int, default=None, help="every case at this clip length instead")
    parser.add_argument("--tune-malloc", action="store_true",
                        help="stgcn.engine.runtime.tune_malloc() first (whole process: both models)")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the oracle's file")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.repeats < 1:
        parser.error("--warmup and --repeats must be >= 1")
    if (args.batch is not None and args.batch < 1) or (args.frames is not None and args.frames < 1):
        parser.error("--batch and --frames must be >= 1")
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True
    if args.tune_malloc and not tune_malloc():
        print("note: --tune-malloc needs glibc; ignored")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ref_module = load_reference(args.reference)
    cases = [CASES[int(i)] for i in args.cases.split(",")]
    cases = [Case(c.mode, c.layout, (args.batch or c.batch) * args.scale_batch, args.frames or c.frames,
                  c.persons) for c in cases]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{args.threads} threads"
    print(f"device: {name}; torch {torch.__version__}; repeats {args.repeats}, warm-up {args.warmup}; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; tune_malloc={args.tune_malloc}"
          + (f"; tf32={args.tf32}" if device.type == "cuda" else ""))
    ceilings = [matmul_ceiling(device, torch.float32)]
    low = AMP_DTYPES[args.amp[0]] if args.amp else None
    results = []
    for case in cases:
        start = time.perf_counter()
        results.append(time_case(case, args, ref_module, device))
        t = results[-1]["times"]
        print(f"{case.name}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in t.items())
              + f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    ceilings.append(matmul_ceiling(device, torch.float32))
    ceiling_amp = matmul_ceiling(device, low) if low is not None else None
    print_table(results, {k: max(c[k] for c in ceilings) for k in ceilings[0]}, ceiling_amp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
