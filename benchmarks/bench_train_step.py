"""ST-GCN training step and eval forward, fp32 and bf16 autocast, against the reference oracle.

Two recipes: the peer comparison's step (B16 T100 coco M2, 60 classes, both persons real) and the
Penn Action config's step (B16 T32 coco M1, 15 classes). Each builds the oracle
(``../shared/reference/stgcn_reference.py``) with random weights, loads them into stgcn, and times
in one process, interleaved round by round: the oracle in fp32, stgcn in fp32 and stgcn under bf16
autocast (train: forward + loss + backward + SGD step; eval: inference forward, unfused and
BN-folded). Medians of ``--repeats`` rounds, wall and process CPU time (the CPU time is the
contention-robust figure on a shared machine); the first round checks logits (and gradients)
against the oracle. Ratios are only against measurements of the same run.

``--profile`` adds, per recipe and precision, the top operators of one stgcn training step,
forward and backward apart, by the thread CPU time of each ATen call (run it with ``--threads 1``
so that every kernel runs on the timed thread).

    python benchmarks/bench_train_step.py
    python benchmarks/bench_train_step.py --cases penn --repeats 20 --threads 1 --profile
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_model.py

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_model import DEFAULT_REFERENCE, grad_rel_diff, load_reference, rel_diff  # noqa: E402

import stgcn  # noqa: E402
from stgcn.engine.runtime import tune_malloc  # noqa: E402
from stgcn.models.fuse import fuse_conv_bn  # noqa: E402
from tests.models.helpers import randomize  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    name: str
    batch: int
    frames: int
    persons: int
    classes: int


RECIPES = {"peer": Recipe("peer", 16, 100, 2, 60), "penn": Recipe("penn", 16, 32, 1, 15)}


def build_pair(ref_module, recipe: Recipe):
    """The oracle and stgcn (coco, spatial) with identical random weights."""
    torch.manual_seed(0)
    ref = ref_module.Reference(recipe.classes, 3, "coco")
    ref.cls_head.num_person = recipe.persons
    randomize(ref)
    cfg = dict(type="SkeletonGCN",
               backbone=dict(type="STGCN", in_channels=3, graph_cfg=dict(layout="coco", strategy="spatial")),
               cls_head=dict(type="STGCNHead", num_classes=recipe.classes, in_channels=256,
                             num_person=recipe.persons))
    ours = stgcn.build_model(cfg)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def make_step(model: torch.nn.Module, train: bool, amp: torch.dtype | None, x, labels):
    """One train step (SGD) or one inference forward; returns (logits, flat grads or None)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if train else None
    model.train(train)

    def autocast():
        return torch.autocast("cpu", dtype=amp) if amp else contextlib.nullcontext()

    def step():
        if not train:
            with torch.inference_mode(), autocast():
                return model(x).float(), None
        opt.zero_grad(set_to_none=True)
        with autocast():
            logits = model(x)
        F.cross_entropy(logits.float(), labels).backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        opt.step()
        return logits.detach().float(), grads
    return step


def variants(ref_module, recipe: Recipe, train: bool, x, labels) -> dict:
    out = {}
    bf16 = torch.bfloat16
    for name, amp, fused in (("ref", None, False), ("stgcn", None, False), ("stgcn-bf16", bf16, False),
                             ("fused", None, True), ("fused-bf16", bf16, True)):
        if fused and train:
            continue
        ref, ours = build_pair(ref_module, recipe)
        model = ref if name == "ref" else ours
        if fused:
            model = fuse_conv_bn(ours.eval())
        out[name] = make_step(model, train, amp, x, labels)
    return out


def time_mode(ref_module, recipe: Recipe, train: bool, args) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(recipe.batch, 3, recipe.frames, 17, recipe.persons, generator=gen)
    labels = torch.randint(0, recipe.classes, (recipe.batch,), generator=gen)
    steps = variants(ref_module, recipe, train, x, labels)
    wall = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    parity = {}
    for rnd in range(args.warmup + args.repeats):
        order = list(steps) if rnd % 2 == 0 else list(reversed(steps))
        outputs = {}
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            outputs[name] = steps[name]()
            if rnd >= args.warmup:
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
        if rnd == 0:
            want_logits, want_grads = outputs["ref"]
            for name, (logits, grads) in outputs.items():
                text = f"logits {rel_diff(logits, want_logits):.1e}"
                if grads is not None:
                    text += f", grads {grad_rel_diff(grads, want_grads):.1e}"
                parity[name] = text
    r = recipe
    print(f"\n{'train' if train else 'eval'} B{r.batch} T{r.frames} coco M{r.persons} ({r.classes} classes)")
    base_wall, base_cpu = statistics.median(wall["ref"]), statistics.median(cpu["ref"])
    for name in steps:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        spread = f"{min(wall[name]) * 1e3:.0f}-{max(wall[name]) * 1e3:.0f}"
        print(f"  {name:<11} {w * 1e3:9.1f} ms (spread {spread})"
              f"  cpu {c * 1e3:9.1f} ms   ref/{name} {base_wall / w:5.2f}x wall, {base_cpu / c:5.2f}x cpu"
              + ("" if name == "ref" else f"   [{parity[name]}]"))


class _OpTimes(TorchDispatchMode):
    """Thread CPU time per ATen operator."""

    def __init__(self) -> None:
        super().__init__()
        self.ms: dict[str, float] = collections.defaultdict(float)
        self.calls: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        start = time.thread_time()
        out = func(*args, **(kwargs or {}))
        self.ms[str(func)] += (time.thread_time() - start) * 1e3
        self.calls[str(func)] += 1
        return out


def profile_ops(ref_module, recipe: Recipe, amp: torch.dtype | None, top: int = 10) -> None:
    _, model = build_pair(ref_module, recipe)
    model.train()
    x = torch.randn(recipe.batch, 3, recipe.frames, 17, recipe.persons)
    labels = torch.randint(0, recipe.classes, (recipe.batch,))
    autocast = (lambda: torch.autocast("cpu", dtype=amp)) if amp else contextlib.nullcontext
    for _ in range(2):  # warm-up: oneDNN primitive creation
        with autocast():
            logits = model(x)
        F.cross_entropy(logits.float(), labels).backward()
    fwd, bwd = _OpTimes(), _OpTimes()
    with fwd, autocast():
        logits = model(x)
    loss = F.cross_entropy(logits.float(), labels)
    with bwd:
        loss.backward()
    print(f"\nops of one stgcn train step, {recipe.name}, {'bf16' if amp else 'fp32'} (thread CPU ms)")
    for name, log in (("forward", fwd), ("backward", bwd)):
        print(f"  {name}: {sum(log.ms.values()):.1f} ms")
        for op, ms in sorted(log.ms.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {ms:8.1f} ms {log.calls[op]:4d}x {op}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="peer,penn", help="comma list of: " + ", ".join(RECIPES))
    parser.add_argument("--modes", default="train,eval", help="train, eval or both")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (>= 1: parity check)")
    parser.add_argument("--frames", type=int, default=None, help="every recipe at this clip length instead")
    parser.add_argument("--batch", type=int, default=None, help="every recipe at this batch size instead")
    parser.add_argument("--no-tune-malloc", action="store_true",
                        help="keep glibc's default malloc (tools/train.py tunes it; so does this by default)")
    parser.add_argument("--profile", action="store_true", help="also list the top ops of one stgcn step")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the oracle's file")
    args = parser.parse_args(argv)
    args.warmup = max(args.warmup, 1)
    torch.set_num_threads(args.threads)
    if not args.no_tune_malloc:
        tune_malloc()
    ref_module = load_reference(args.reference)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in RECIPES]
    if unknown:
        sys.exit(f"bench_train_step: unknown case(s) {unknown}; choose from {', '.join(RECIPES)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '')}, load {os.getloadavg()[0]:.1f}, "
          f"{args.repeats} rounds after {args.warmup}")
    for name in names:
        recipe = RECIPES[name]
        recipe = Recipe(recipe.name, args.batch or recipe.batch, args.frames or recipe.frames,
                        recipe.persons, recipe.classes)
        for mode in args.modes.split(","):
            time_mode(ref_module, recipe, mode.strip() == "train", args)
        if args.profile:
            for amp in (None, torch.bfloat16):
                profile_ops(ref_module, recipe, amp)
    print(f"\nload at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
