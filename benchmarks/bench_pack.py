"""Open time and memory of DataLoader workers: an annotation pickle read the 0.x way vs `stgcn pack`.

Builds a synthetic NTU60-sized 2D annotation file (56,880 samples, T uniform in [50, 150] so ~100 on
average, M = 2, V = 17, x/y + scores, float32; about 2.3 GB), packs it, then for each storage runs one
epoch of a 4-worker DataLoader through the 2D seed pipeline in a fresh process:

* pickle: `pickle.load` of the whole list, frame_dir joined with the prefix, `copy.deepcopy` of the
  item in `__getitem__` -- mmaction2 0.x's PoseDataset;
* packed: `stgcn.data.PoseDataset` on the packed directory (memory-mapped, zero-copy views).

Memory is sampled from /proc while the epoch runs: each worker's peak RSS (VmHWM; it counts every
shared page a worker maps, including page-cache pages of the packed files the kernel maps around each
fault, so it overstates what packed workers cost), each worker's Private_Dirty (its copy-on-write
copies and own heap), and the peak proportional set size (PSS, shared pages split between the
processes sharing them) of the main process plus all workers, in total and for anonymous memory only
(which, unlike page cache, cannot be reclaimed). Ratios are pickle / packed. With `--start-method
spawn` (the default on macOS and Windows) every worker of the pickle case unpickles its own copy.

    python benchmarks/bench_pack.py                    # full size (needs ~5 GB of disk, ~3 GB RAM)
    python benchmarks/bench_pack.py --samples 5000     # quick check
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stgcn.data import PoseDataset, build_pipeline, pack  # noqa: E402

PIPELINE = [dict(type="PaddingWithLoop", clip_len=300), dict(type="PoseDecode"),
            dict(type="FormatGCNInput", input_format="NCTVM"), dict(type="PoseNormalize"),
            dict(type="Collect", keys=["keypoint", "label"], meta_keys=[]),
            dict(type="ToTensor", keys=["keypoint"])]
MIB = 2 ** 20


def make_annotations(path: Path, samples: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(samples):
        t = int(rng.integers(50, 151))
        items.append(dict(frame_dir=f"S{i // 1000:03d}C001P001R001A{i % 1000:03d}", label=i % 60,
                          total_frames=t, img_shape=(1080, 1920), original_shape=(1080, 1920),
                          keypoint=rng.random((2, t, 17, 2), dtype=np.float32) * 1000,
                          keypoint_score=rng.random((2, t, 17), dtype=np.float32)))
    with open(path, "wb") as f:
        pickle.dump(items, f, protocol=4)


class ReferencePoseDataset(torch.utils.data.Dataset):
    """mmaction2 0.x's way: the whole pickle in memory, a deep copy of the item per read."""

    def __init__(self, ann_file: str, data_prefix: str = "") -> None:
        with open(ann_file, "rb") as f:
            self.video_infos = pickle.load(f)
        for item in self.video_infos:
            item["frame_dir"] = os.path.join(data_prefix, item["frame_dir"])
        self.pipeline = build_pipeline(PIPELINE)

    def __len__(self) -> int:
        return len(self.video_infos)

    def __getitem__(self, idx: int) -> dict:
        results = copy.deepcopy(self.video_infos[idx])
        results["modality"], results["start_index"] = "Pose", 0
        return self.pipeline(results)


def _proc_kib(pid: int, fname: str, keys: tuple[str, ...]) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/{fname}") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in keys:
                out[name] = int(rest.split()[0])
    return out


def memory(pid: int) -> dict[str, int]:
    """Bytes of one process: rss, hwm (peak RSS), pss, pss_anon (its share of anonymous memory, which
    unlike mapped file pages cannot be reclaimed), dirty (Private_Dirty: its copy-on-write copies and
    its own heap; mapped file pages read by one worker only are Private_Clean, not counted)."""
    status = _proc_kib(pid, "status", ("VmRSS", "VmHWM"))
    smaps = _proc_kib(pid, "smaps_rollup", ("Pss", "Pss_Anon", "Private_Dirty"))
    return dict(rss=status["VmRSS"] * 1024, hwm=status["VmHWM"] * 1024, pss=smaps["Pss"] * 1024,
                pss_anon=smaps["Pss_Anon"] * 1024, dirty=smaps["Private_Dirty"] * 1024)


def children(pid: int) -> list[int]:
    pids = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    return pids


class Poller(threading.Thread):
    """Samples the workers' memory every `interval` seconds; keeps each one's maxima."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval, self.stop, self.peak = interval, threading.Event(), {}
        self.total = dict(pss=0, pss_anon=0)

    def sample(self) -> None:
        me = os.getpid()
        main = memory(me)
        total = dict(pss=main["pss"], pss_anon=main["pss_anon"])
        for pid in children(me):
            try:
                mem = memory(pid)
            except (FileNotFoundError, ProcessLookupError, KeyError):
                continue  # a worker that just exited
            total = {k: v + mem[k] for k, v in total.items()}
            old = self.peak.get(pid, mem)
            self.peak[pid] = {k: max(old[k], mem[k]) for k in mem}
        self.total = {k: max(v, self.total[k]) for k, v in total.items()}

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(self.interval)


def child(case: str, ann: str, workers: int, batch: int, start_method: str) -> dict:
    """One measurement in this (fresh) process: open the data, run one epoch with `workers` workers."""
    start = time.perf_counter()
    ds = ReferencePoseDataset(ann) if case == "pickle" else PoseDataset(ann, PIPELINE)
    opened = time.perf_counter() - start
    main_after_open = memory(os.getpid())
    poller = Poller()
    poller.start()
    start = time.perf_counter()
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                         multiprocessing_context=start_method,
                                         generator=torch.Generator().manual_seed(0))
    count = 0
    for i, b in enumerate(loader):
        count += len(b["label"])
        if i == 0:
            poller.sample()  # at least one sample while the workers live, however short the epoch
    epoch = time.perf_counter() - start
    poller.stop.set()
    poller.join()
    peaks = list(poller.peak.values())
    return dict(case=case, samples=count, open_s=opened, epoch_s=epoch, main_rss=main_after_open["rss"],
                workers_peak_rss=sum(p["hwm"] for p in peaks), workers_dirty=sum(p["dirty"] for p in peaks),
                total_pss=poller.total["pss"], total_pss_anon=poller.total["pss_anon"],
                workers=[{k: round(v / MIB) for k, v in p.items()} for p in peaks])


def run_case(case: str, ann: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--ann", str(ann), "--workers", str(args.workers),
           "--batch", str(args.batch), "--start-method", args.start_method]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=56880)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--start-method", choices=("fork", "spawn", "forkserver"), default="fork",
                        help="how workers start (spawn is the default on macOS and Windows)")
    parser.add_argument("--workdir", default=None, help="where to write the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", choices=("pickle", "packed"), help=argparse.SUPPRESS)
    parser.add_argument("--ann", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.ann, args.workers, args.batch, args.start_method)))
        return

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_pack_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        ann, packed = workdir / "ntu60_2d_synthetic.pkl", workdir / "ntu60_2d_synthetic.packed"
        start = time.perf_counter()
        make_annotations(ann, args.samples)
        print(f"wrote {args.samples} samples, {ann.stat().st_size / MIB:.0f} MiB, "
              f"in {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        summary = pack(ann, packed, progress=False)
        print(f"packed into {summary.nbytes / MIB:.0f} MiB in {time.perf_counter() - start:.1f} s",
              flush=True)
        results = {case: run_case(case, ann if case == "pickle" else packed, args)
                   for case in ("pickle", "packed")}
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    rows = [("open time (s)", "open_s", 1), ("epoch time (s)", "epoch_s", 1),
            ("main RSS after open (MiB)", "main_rss", MIB),
            (f"{args.workers} workers: sum of peak RSS (MiB)", "workers_peak_rss", MIB),
            (f"{args.workers} workers: sum of private dirty (MiB)", "workers_dirty", MIB),
            ("main + workers: peak PSS (MiB)", "total_pss", MIB),
            ("main + workers: peak anonymous PSS (MiB)", "total_pss_anon", MIB)]
    print(f"\n{args.samples} samples, {args.workers} {args.start_method}ed workers, batch {args.batch}, "
          f"one epoch each (torch {torch.__version__}, {os.cpu_count()} CPUs)")
    print(f"{'':46s} {'pickle (0.x)':>13s} {'packed':>10s} {'ratio':>8s}")
    for label, key, unit in rows:
        a, b = results["pickle"][key] / unit, results["packed"][key] / unit
        ratio = f"{a / b:7.1f}x" if b else "    n/a"
        print(f"{label:46s} {a:13.2f} {b:10.2f} {ratio}")


if __name__ == "__main__":
    main()
