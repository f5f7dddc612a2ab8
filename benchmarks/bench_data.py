"""Throughput of the training data pipeline against the model's CPU training step rate.

Writes a synthetic NTU60-like 2D annotation file (coco layout, HRNet-style pixels + scores, one or
two persons, 32..300 frames; NTU60 xsub train has 40,091 clips: --samples scales it down), builds the
config's train dataset and the engine's train DataLoader (its workers, batch size and seeding), and
reports samples/s of the loader alone, samples/s of the model's train step alone (forward + backward
+ SGD, 2 threads), their ratio (the issue asks for >= 5x with 2 workers), and the per-transform cost
of one sample in the main process, so a slow transform is named.

    python benchmarks/bench_data.py                        # 2000 clips, the seed 2D config
    python benchmarks/bench_data.py --samples 40091        # full NTU60 xsub train size (~2 GB pickle)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_model.py

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stgcn import build_model  # noqa: E402
from stgcn.data import dump_pickle, make_synthetic  # noqa: E402
from stgcn.engine.config import load_config  # noqa: E402
from stgcn.engine.dist import DistInfo  # noqa: E402
from stgcn.engine.loader import build_data, build_train_loader, loader_settings  # noqa: E402

DEFAULT_CONFIG = ROOT / "configs" / "skeleton" / "stgcn" / "stgcn_80e_ntu60_xsub_keypoint.py"


def loader_rate(loader, batches: int) -> tuple[float, float]:
    """(samples/s over ``batches`` batches after the first, seconds to the first batch)."""
    start = time.perf_counter()
    it = iter(loader)
    first = next(it)
    first_latency = time.perf_counter() - start
    count, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            break
        count += len(batch["label"])
    del first
    return count / (time.perf_counter() - start), first_latency


def model_rate(model: torch.nn.Module, batch: dict, steps: int) -> float:
    """Samples/s of forward + backward + SGD on one collated batch (median of ``steps`` after one)."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x, labels = batch["keypoint"], batch["label"]
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model.loss(model(x), labels)["loss_cls"].backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - start)
    return len(labels) / statistics.median(times)


def transform_costs(dataset, samples: int) -> dict[str, float]:
    """Mean milliseconds per sample of reading the record and of each pipeline transform."""
    costs: dict[str, list[float]] = defaultdict(list)
    for idx in range(min(samples, len(dataset))):
        start = time.perf_counter()
        results = dataset.prepare(idx)
        costs["read record (prepare)"].append(time.perf_counter() - start)
        for transform in dataset.pipeline.transforms:
            start = time.perf_counter()
            results = transform(results)
            costs[type(transform).__name__].append(time.perf_counter() - start)
    return {k: 1e3 * statistics.fmean(v) for k, v in costs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config whose train data runs")
    parser.add_argument("--samples", type=int, default=2000, help="synthetic clips (NTU60 xsub: 40091)")
    parser.add_argument("--batches", type=int, default=40, help="batches timed after the first")
    parser.add_argument("--workers", type=int, default=None, help="override data.workers_per_gpu")
    parser.add_argument("--batch-size", type=int, default=None, help="override data.videos_per_gpu")
    parser.add_argument("--threads", type=int, default=2, help="threads of the model's train step")
    parser.add_argument("--model-steps", type=int, default=3, help="timed model train steps")
    args = parser.parse_args(argv)

    cfg = load_config(args.config)
    if args.workers is not None:
        cfg["data"]["workers_per_gpu"] = args.workers
    if args.batch_size is not None:
        cfg["data"]["videos_per_gpu"] = args.batch_size
    settings = loader_settings(cfg["data"], "train")
    torch.set_num_threads(args.threads)
    model = build_model(cfg["model"])
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        start = time.perf_counter()
        ann = make_synthetic(args.samples, model.cls_head.num_classes, "coco", dims=2, num_person=2,
                             min_frames=32, max_frames=300, val_fraction=0.0)
        path = Path(tmp) / "ntu60_like_train.pkl"
        dump_pickle(ann, path)
        size_mb = path.stat().st_size / 2**20
        print(f"synthetic annotations: {args.samples} clips, {size_mb:.0f} MiB, "
              f"{time.perf_counter() - start:.0f} s to write")
        cfg["data"]["train"] = dict(cfg["data"]["train"], ann_file=str(path), split="train")
        dataset = build_data(cfg, "train", test_mode=False)
        loader = build_train_loader(dataset, settings, DistInfo(), seed=0, device=torch.device("cpu"))
        rate, latency = loader_rate(loader, args.batches)
        batch = next(iter(build_train_loader(dataset, dict(settings, workers_per_gpu=0), DistInfo(), 0,
                                             torch.device("cpu"))))
        costs = transform_costs(dataset, 200)
        del loader
    train_rate = model_rate(model, batch, args.model_steps)
    shape = tuple(batch["keypoint"].shape)
    print(f"loader: {settings['workers_per_gpu']} workers, batch {settings['videos_per_gpu']} of {shape}: "
          f"{rate:.1f} samples/s (first batch after {latency:.1f} s)")
    print(f"model train step ({args.threads} threads, forward + backward + SGD): {train_rate:.2f} samples/s")
    verdict = "meets" if rate >= 5 * train_rate else "MISSES"
    print(f"loader / model = {rate / train_rate:.1f}x ({verdict} the >= 5x target)")
    total = sum(costs.values())
    print(f"per-sample cost in one process ({total:.2f} ms, i.e. at most {1e3 / total:.0f} samples/s "
          "per worker):")
    for name, ms in sorted(costs.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<24}{ms:8.3f} ms  ({100 * ms / total:4.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
