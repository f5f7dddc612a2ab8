"""One training process with every core against several data-parallel processes on the same cores.

A CPU has two ways to spread a training step over its cores: threads inside each operator (one
process, ``torch.set_num_threads(cores)``), or data parallelism (``tools/dist_train.sh CONFIG P
--device cpu``: P processes, each with cores / P threads and 1 / P of the batch, gradients summed by
Gloo). This script times both on the same step, in the same processes, round by round: in a
"single" round rank 0 runs the whole batch with every thread while the other ranks wait at a
barrier; in a "parallel" round every rank runs its share under DistributedDataParallel. The total
batch is the same; BatchNorm sees 1 / P of it per process in the parallel rounds (as on P GPUs).

Random weights and inputs of the ST-GCN peer step (B16 T100 COCO-17, two persons, 60 classes) unless
told otherwise. Ratios are only against measurements of the same run.

    python benchmarks/bench_procs.py
    python benchmarks/bench_procs.py --procs 2 --amp bf16 --repeats 10
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # waiting ranks must not spin on the cores

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import stgcn  # noqa: E402
from stgcn.engine.runtime import autocast, tune_malloc  # noqa: E402
from tests.engine.tiny import free_port  # noqa: E402  (the port the distributed tests use)

MODEL = dict(type="RecognizerGCN",
             backbone=dict(type="STGCN", graph_cfg=dict(layout="coco", mode="stgcn_spatial")),
             cls_head=dict(type="GCNHead", num_classes=60, in_channels=256))


def build(args) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = stgcn.build_model(dict(MODEL, cls_head=dict(MODEL["cls_head"], num_classes=args.classes)))
    x = torch.randn(args.batch, 3, args.frames, 17, 2)
    labels = torch.arange(args.batch) % args.classes
    return model.train(), x, labels


def stepper(model: torch.nn.Module, params, x: torch.Tensor, labels: torch.Tensor, amp):
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        with autocast(torch.device("cpu"), amp):
            loss = F.cross_entropy(model(x).float(), labels)
        loss.backward()
        opt.step()
        return loss.detach().item()
    return step


def worker(rank: int, args, port: int, queue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.procs)
    if args.tune_malloc:
        tune_malloc()
    amp = torch.bfloat16 if args.amp == "bf16" else None
    share = args.batch // args.procs
    replica, x, labels = build(args)
    single = None
    if rank == 0:  # its own copy of the same weights: the single-process rounds must not move the replica's
        model, _, _ = build(args)
        single = stepper(model, model.parameters(), x, labels, amp)
    # channels-last 1x1 conv gradients: same memory order as the bucket, only size-1 strides differ
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    ddp = torch.nn.parallel.DistributedDataParallel(replica, broadcast_buffers=False)
    part = slice(rank * share, (rank + 1) * share)
    parallel = stepper(ddp, replica.parameters(), x[part], labels[part], amp)
    times: dict[str, list[float]] = {"single": [], "parallel": []}
    for rnd in range(args.warmup + args.repeats):
        for name in ("single", "parallel"):
            dist.barrier()
            torch.set_num_threads(args.threads if name == "single" else threads_per_proc(args))
            start = time.perf_counter()
            if name == "parallel":
                parallel()
            elif rank == 0:
                single()
            dist.barrier()
            if rnd >= args.warmup:
                times[name].append(time.perf_counter() - start)
    if rank == 0:
        queue.put(times)
    dist.destroy_process_group()


def threads_per_proc(args) -> int:
    return max(1, args.threads // args.procs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, default=2, help="data-parallel processes (default 2)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads of the single process; each parallel one gets threads / procs")
    parser.add_argument("--batch", type=int, default=16, help="total batch (split over the processes)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--classes", type=int, default=60)
    parser.add_argument("--amp", choices=("none", "bf16"), default="none")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--tune-malloc", action="store_true", help="as tools/train.py does (every process)")
    args = parser.parse_args(argv)
    if args.procs < 2 or args.batch % args.procs:
        parser.error(f"--procs must be >= 2 and divide --batch {args.batch}")
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(worker, args=(args, free_port(), queue), nprocs=args.procs)
    times = queue.get()
    med = {k: statistics.median(v) for k, v in times.items()}
    per = args.batch // args.procs
    print(f"train step B{args.batch} T{args.frames} coco M2, {args.amp if args.amp != 'none' else 'fp32'}, "
          f"torch {torch.__version__}, load {os.getloadavg()[0]:.2f}, median of {args.repeats}")
    print(f"  1 process x {args.threads} threads, B{args.batch}:            "
          f"{med['single'] * 1e3:8.1f} ms  (min {min(times['single']) * 1e3:.1f})")
    print(f"  {args.procs} processes x {threads_per_proc(args)} threads, B{per} each (Gloo): "
          f"{med['parallel'] * 1e3:8.1f} ms  (min {min(times['parallel']) * 1e3:.1f})")
    print(f"  parallel / single speed: {med['single'] / med['parallel']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
