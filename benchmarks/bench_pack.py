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

`--mode train` measures what a user waits for instead: `tools/train.py` with the NTU60 3D config
(ntu-rgb+d layout, batch 32, 2 forked workers) on a synthetic NTU-shaped annotation file (split dict
xsub_train / xsub_val, keypoint [2, T, 25, 3] float32 with T uniform in [30, 300], 60 classes; 100,000
samples by default, ~9.9 GB), written once into `--cache` and packed beside itself (`ANN.pkl.packed/`,
what `stgcn pack ANN.pkl` writes). Each storage gets a fresh `tools/train.py` process (the pickle case
through a hard link of the same file, which has no pack beside it); the time from starting the process
to the log's `First training step starts` / `... done` lines is read as the lines arrive, and every
data-loader worker's memory (smaps_rollup: PSS, USS = private clean + dirty, anonymous) is sampled until
the `--steps`-th iteration's log line, then the process is stopped.

    python benchmarks/bench_pack.py --mode train --cache /tmp/stgcn-bench-ntu        # full size
    python benchmarks/bench_pack.py --mode train --samples 2000 --steps 1 --batch 4  # quick check
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import re
import shutil
import signal
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
    smaps = _proc_kib(pid, "smaps_rollup", ("Pss", "Pss_Anon", "Private_Dirty", "Private_Clean"))
    return dict(rss=status["VmRSS"] * 1024, hwm=status["VmHWM"] * 1024, pss=smaps["Pss"] * 1024,
                pss_anon=smaps["Pss_Anon"] * 1024, dirty=smaps["Private_Dirty"] * 1024,
                uss=(smaps["Private_Dirty"] + smaps["Private_Clean"]) * 1024)


def children(pid: int) -> list[int]:
    """The child processes of `pid` (DataLoader workers)."""
    pids = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    return pids


class Poller(threading.Thread):
    """Samples the workers' memory every `interval` seconds; keeps each one's maxima."""

    def __init__(self, interval: float = 0.1, pid: int | None = None) -> None:
        super().__init__(daemon=True)
        self.interval, self.stop, self.peak = interval, threading.Event(), {}
        self.total = dict(pss=0, pss_anon=0)
        self.pid, self.main = pid or os.getpid(), {}

    def sample(self) -> None:
        me = self.pid
        try:
            main = memory(me)
        except (FileNotFoundError, ProcessLookupError, KeyError):
            return  # the process has ended
        total = dict(pss=main["pss"], pss_anon=main["pss_anon"])
        self.main = {k: max(v, self.main.get(k, 0)) for k, v in main.items()}
        try:
            kids = children(me)
        except (FileNotFoundError, ProcessLookupError):
            return
        for pid in kids:
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


# --mode train: tools/train.py to its first step --------------------------------------------------------

CONFIG_3D = ROOT / "configs" / "skeleton" / "stgcn" / "stgcn_80e_ntu60_xsub_keypoint_3d.py"
MARKERS = ("First training step starts", "First training step done")


def make_ntu_annotations(path: Path, samples: int, min_frames: int, max_frames: int, seed: int = 0) -> None:
    """An NTU60-shaped 3D split file written with little memory: each sample's keypoint is a view into
    one random pool (pickle writes every view's bytes), so the file has the real size and layout."""
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal(2 * max_frames * 25 * 3 + 1_000_003, dtype=np.float32)
    items, train_ids, val_ids = [], [], []
    for i in range(samples):
        t = int(rng.integers(min_frames, max_frames + 1))
        start = int(rng.integers(0, pool.size - 2 * t * 75))
        subject = 1 + i % 40
        name = f"S{1 + i // 2000:03d}C00{1 + i % 3}P{subject:03d}R00{1 + i % 2}A{1 + i % 60:03d}_{i}"
        (train_ids if subject <= 28 else val_ids).append(name)  # about NTU's 40k / 17k xsub ratio
        keypoint = pool[start:start + 2 * t * 75].reshape(2, t, 25, 3)
        items.append(dict(frame_dir=name, label=i % 60, total_frames=t, img_shape=(1080, 1920),
                          original_shape=(1080, 1920), keypoint=keypoint))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        split = dict(xsub_train=train_ids, xsub_val=val_ids)
        pickle.dump(dict(split=split, annotations=items), f, protocol=4)
    os.replace(tmp, path)


def prepare_cache(args: argparse.Namespace) -> tuple[Path, Path]:
    """(the pickle with its pack beside it, a hard link to it without one); made once per parameter set."""
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"ntu60_3d_{args.samples}_t{args.min_frames}-{args.max_frames}"
    ann, plain = cache / f"{stem}.pkl", cache / f"{stem}_plain.pkl"
    if not ann.is_file():
        start = time.perf_counter()
        make_ntu_annotations(ann, args.samples, args.min_frames, args.max_frames)
        print(f"wrote {ann.name}: {ann.stat().st_size / MIB:.0f} MiB in {time.perf_counter() - start:.1f} s",
              flush=True)
    packed = Path(f"{ann}.packed")
    fresh = packed.is_dir() and (packed / "source.json").stat().st_mtime >= ann.stat().st_mtime
    if not fresh:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stgcn.cli", "pack", str(ann)], check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        print(f"stgcn pack: {time.perf_counter() - start:.1f} s", flush=True)
    if not plain.exists():
        os.link(ann, plain)
    return ann, plain


def train_to_first_steps(ann: Path, workdir: Path, args: argparse.Namespace) -> dict:
    """Start tools/train.py on `ann`; times of the first-step lines (from process start, seen from here),
    worker and main memory until the `args.steps`-th iteration line, then stop the process."""
    options = [f"data.train.ann_file={ann}", "data.train.split=xsub_train", "log_config.interval=1",
               f"data.videos_per_gpu={args.batch}", f"data.workers_per_gpu={args.workers}"]
    cmd = [sys.executable, str(ROOT / "tools" / "train.py"), str(args.config), "--work-dir", str(workdir),
           "--seed", "0", "--device", "cpu", "--cfg-options", *options]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    poller = Poller(interval=0.2, pid=proc.pid)
    poller.start()
    seen, tail, want = {}, [], f"[{args.steps}/"
    try:
        for line in proc.stdout:
            now = time.perf_counter() - start
            tail = (tail + [line.rstrip()])[-20:]
            for marker in MARKERS:
                if marker in line and marker not in seen:
                    seen[marker] = (now, line.strip())
                    poller.sample()
            if "Epoch [1]" in line and want in line:
                poller.sample()
                break
    finally:
        poller.stop.set()
        poller.join()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    if len(seen) < len(MARKERS):
        raise RuntimeError("tools/train.py ended before its first step:\n" + "\n".join(tail))
    workers = list(poller.peak.values())
    largest = {f"worker_{key}": max((w[name] for w in workers), default=0)
               for key, name in (("pss", "pss"), ("uss", "uss"), ("anon", "pss_anon"), ("dirty", "dirty"))}
    return dict(first_step_s=seen[MARKERS[0]][0], first_done_s=seen[MARKERS[1]][0],
                first_step_cpu=float(re.search(r"([\d.]+) s of CPU", seen[MARKERS[0]][1]).group(1)),
                logged=seen[MARKERS[0]][1].split("] ")[-1], workers=len(workers), **largest,
                workers_pss=sum(w["pss"] for w in workers), main_pss=poller.main["pss"],
                main_uss=poller.main["uss"])


def train_mode(args: argparse.Namespace) -> None:
    ann, plain = prepare_cache(args)
    size = ann.stat().st_size
    runs = Path(tempfile.mkdtemp(prefix="bench_pack_train_"))
    try:
        results = {"pickle": train_to_first_steps(plain, runs / "pickle", args),
                   "packed": train_to_first_steps(ann, runs / "packed", args)}
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    print(f"\ntools/train.py {Path(args.config).name}, {args.samples} samples ({size / MIB:.0f} MiB pickle), "
          f"batch {args.batch}, {args.workers} workers, load {os.getloadavg()[0]:.1f} "
          f"(torch {torch.__version__}, {os.cpu_count()} CPUs)")
    rows = [("first training step starts (s from process start)", "first_step_s", 1),
            ("  CPU time of the train process until then (s)", "first_step_cpu", 1),
            ("first training step done (s)", "first_done_s", 1),
            ("largest worker PSS (MiB)", "worker_pss", MIB), ("largest worker USS (MiB)", "worker_uss", MIB),
            ("largest worker anonymous PSS (MiB)", "worker_anon", MIB),
            ("largest worker private dirty (MiB)", "worker_dirty", MIB),
            ("all workers' PSS (MiB)", "workers_pss", MIB), ("main process PSS (MiB)", "main_pss", MIB),
            ("main process USS (MiB)", "main_uss", MIB)]
    print(f"{'':52s} {'pickle':>10s} {'packed':>10s} {'ratio':>8s}")
    for label, key, unit in rows:
        a, b = results["pickle"][key] / unit, results["packed"][key] / unit
        print(f"{label:52s} {a:10.2f} {b:10.2f} {a / b if b else float('nan'):7.1f}x")
    for case, res in results.items():
        print(f"{case}: largest worker PSS {100 * res['worker_pss'] / size:.2f}% / USS "
              f"{100 * res['worker_uss'] / size:.2f}% of the pickle's size; log: {res['logged']}")


def run_case(case: str, ann: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--ann", str(ann), "--workers", str(args.workers),
           "--batch", str(args.batch), "--start-method", args.start_method]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("loader", "train"), default="loader",
                        help="loader: one DataLoader epoch per storage; train: tools/train.py to its first "
                             "steps per storage")
    parser.add_argument("--samples", type=int, default=None,
                        help="number of samples (default: 56880 loader, 100000 train)")
    parser.add_argument("--workers", type=int, default=None,
                        help="loader workers (default: 4 loader, 2 train)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: 16 loader, 32 train)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "stgcn-bench-ntu"),
                        help="train: folder keeping the generated annotation file and its pack between runs")
    parser.add_argument("--min-frames", type=int, default=30, help="train: shortest sample")
    parser.add_argument("--max-frames", type=int, default=300, help="train: longest sample")
    parser.add_argument("--steps", type=int, default=3, help="train: iterations to run before stopping")
    parser.add_argument("--config", default=str(CONFIG_3D), help="train: the config (3D, 25 joints)")
    parser.add_argument("--start-method", choices=("fork", "spawn", "forkserver"), default="fork",
                        help="how workers start (spawn is the default on macOS and Windows)")
    parser.add_argument("--workdir", default=None, help="where to write the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", choices=("pickle", "packed"), help=argparse.SUPPRESS)
    parser.add_argument("--ann", help=argparse.SUPPRESS)
    args = parser.parse_args()
    train = args.mode == "train"
    defaults = dict(samples=(56880, 100_000), workers=(4, 2), batch=(16, 32))  # (loader, train)
    for key, (loader_default, train_default) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, train_default if train else loader_default)
    if train and not args.child:
        train_mode(args)
        return
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
