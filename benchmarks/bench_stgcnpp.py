"""ST-GCN++ against ST-GCN at one config pair's shapes, interleaved in one process (medians).

Times a training step (forward + backward + SGD) and the eval forward, fp32 and bf16 autocast, of
* ST-GCN (the 0.x config, ``--stgcn``),
* ST-GCN++ as it runs (``--stgcnpp``; its mstcn branches' 1x1 convs and BNs run as one),
* ST-GCN++ branch by branch (the 1.x definition, every mstcn branch its own modules) as the baseline of
  that change,
* for training, ST-GCN++ with its pool branch as chained maxima of shifted views (what training ran
  before the pooling kernel took over under autograd) as the baseline of that change, and, for eval,
  the BN-folded ST-GCN++ (``stgcn.models.fuse``).
Prints parameters and forward GFLOPs per sample (``stgcn bench``'s count) first.

    python benchmarks/bench_stgcnpp.py                      # NW-UCLA shapes: B16, T24, one person
    python benchmarks/bench_stgcnpp.py --stgcn configs/skeleton/stgcn/stgcn_penn_action_joint_2d.py \\
        --stgcnpp configs/skeleton/stgcnpp/stgcnpp_penn_action_joint_2d.py --frames 32
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_model.py

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stgcn import build_model  # noqa: E402
from stgcn.commands.bench import model_flops  # noqa: E402
from stgcn.engine.config import load_config  # noqa: E402
from stgcn.models import stgcnpp  # noqa: E402
from stgcn.models.fuse import fuse_conv_bn  # noqa: E402
from stgcn.models.stgcnpp import MSTCN  # noqa: E402


def _per_branch(self: MSTCN, x: torch.Tensor) -> list[torch.Tensor]:
    return [branch(x) for branch in self.branches]


@contextlib.contextmanager
def variant(name: str | None):
    """'per-branch': MSTCN as the 1.x modules compute it (each branch its own conv, BN, ReLU);
    'chained-max': the pool branch as chained maxima of shifted views also under autograd."""
    joint, pool = MSTCN.branch_outputs, stgcnpp.temporal_max_pool
    if name == "per-branch":
        MSTCN.branch_outputs = _per_branch
    elif name == "chained-max":
        stgcnpp.temporal_max_pool = stgcnpp.shifted_max
    try:
        yield
    finally:
        MSTCN.branch_outputs, stgcnpp.temporal_max_pool = joint, pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stgcn", default="configs/skeleton/stgcn/stgcn_nwucla_xview_joint_3d.py")
    parser.add_argument("--stgcnpp", default="configs/skeleton/stgcnpp/stgcnpp_nwucla_xview_joint_3d.py")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    args = parser.parse_args()
    torch.manual_seed(0)
    models = {"ST-GCN": build_model(load_config(ROOT / args.stgcn)["model"]),
              "ST-GCN++": build_model(load_config(ROOT / args.stgcnpp)["model"])}
    shape = {}
    for name, model in models.items():
        b = model.backbone
        shape[name] = (b.in_channels, args.frames, b.num_node, model.cls_head.num_person)
        params = sum(p.numel() for p in model.parameters())
        gflops = model_flops(model, args.frames, model.cls_head.num_person) / 1e9
        print(f"{name}: {params / 1e6:.2f} M parameters, {gflops:.3f} GFLOPs per sample (T{args.frames})")
    cases = {}  # name -> (model key, variant, fused?)
    cases["ST-GCN"] = ("ST-GCN", None, False)
    cases["ST-GCN++ per-branch"] = ("ST-GCN++", "per-branch", False)
    cases["ST-GCN++"] = ("ST-GCN++", None, False)
    print(f"{torch.get_num_threads()} threads; medians of {args.repeats} interleaved runs")
    for precision in args.precision:
        amp = torch.autocast("cpu", torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        for mode, batch in (("train", args.batch_size), ("eval", args.eval_batch_size)):
            runs = dict(cases)
            if mode == "train":
                runs["ST-GCN++ chained-max"] = ("ST-GCN++", "chained-max", False)
            else:
                runs["ST-GCN++ fused"] = ("ST-GCN++", None, True)
                runs["ST-GCN fused"] = ("ST-GCN", None, True)
            steps = {name: (_step(models[key], mode, batch, shape[key], amp, fused), how)
                     for name, (key, how, fused) in runs.items()}
            times = {name: [] for name in steps}
            for r in range(args.repeats + 1):
                for name, (fn, how) in steps.items():
                    with variant(how):
                        start = time.perf_counter()
                        fn()
                        if r:
                            times[name].append(time.perf_counter() - start)
            base = statistics.median(times["ST-GCN"])
            print(f"{mode} {precision} B{batch}: " + ", ".join(
                f"{name} {statistics.median(t) * 1e3:.0f} ms ({base / statistics.median(t):.2f}x)"
                for name, t in times.items()))


def _step(model, mode, batch, shape, amp, fused):
    x = torch.randn(batch, *shape)
    if mode == "eval":
        net = fuse_conv_bn(model) if fused else model.eval()

        def run():
            with torch.inference_mode(), amp:
                net(x)
        return run
    labels = torch.randint(0, model.cls_head.num_classes, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def train():
        model.train()
        opt.zero_grad(set_to_none=True)
        with amp:
            logits = model(x)
        model.loss(logits.float(), labels)["loss_cls"].backward()
        opt.step()
    return train


if __name__ == "__main__":
    main()
