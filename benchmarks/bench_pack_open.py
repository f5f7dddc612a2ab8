"""What tying a packed directory to its pickle by content costs when a dataset opens.

Builds the synthetic NTU60-sized 2D annotation file of `bench_pack.py` (56,880 samples, about 2.3 GB
by default), packs it beside itself (`ANN.pkl.packed/`), then times in this process:

* `stgcn pack` itself and, inside it, the fingerprint of the pickle (one SHA-1 pass over the file);
* `PoseDataset(ANN.pkl)` picking up the pack: fast path (size, mtime_ns and the SHA-1 of the first and
  last MiB match), split into finding the pack, opening it and checking every sample's metadata;
* the first open after `touch ANN.pkl` (same content, new mtime: the whole file is hashed once and the
  record refreshed) and the open after that (fast path again);
* for scale, unpickling the annotation file itself.

    python benchmarks/bench_pack_open.py                   # full size (~5 GB of disk, ~3 GB RAM)
    python benchmarks/bench_pack_open.py --samples 5000    # quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_pack import PIPELINE, make_annotations  # noqa: E402

from stgcn.data import PoseDataset, load_pickle, pack  # noqa: E402
from stgcn.data.fingerprint import fingerprint  # noqa: E402
from stgcn.data.packed import PackedAnnotations, find_packed  # noqa: E402


def timed(fn, repeats: int = 1) -> tuple[float, object]:
    """(best wall time in seconds over `repeats` calls, the last result)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=56_880)
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temp dir, removed after)")
    args = parser.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench_pack_open-"))
    try:
        ann = work / "ann.pkl"
        make_annotations(ann, args.samples)
        size = ann.stat().st_size
        print(f"annotation file: {args.samples} samples, {size / 2**30:.2f} GiB")
        t_fp, _ = timed(lambda: fingerprint(ann))
        t_pack, _ = timed(lambda: pack(ann, f"{ann}.packed", progress=False))
        print(f"stgcn pack: {t_pack:.1f} s, of which fingerprint (full SHA-1) {t_fp:.1f} s "
              f"({size / 2**20 / t_fp:.0f} MiB/s)")

        t_find, _ = timed(lambda: find_packed(ann), repeats=5)
        t_meta, packed = timed(lambda: PackedAnnotations(f"{ann}.packed"), repeats=3)
        t_ds, ds = timed(lambda: PoseDataset(ann, PIPELINE), repeats=3)
        assert ds.read_from == f"{ann}.packed"
        print(f"PoseDataset open, fast path: {t_ds:.3f} s = find_packed {t_find * 1000:.1f} ms + open "
              f"{t_meta:.3f} s + sample checks of {len(ds)} samples")

        os.utime(ann)  # same content, new mtime
        t_touched, ds = timed(lambda: PoseDataset(ann, PIPELINE))
        t_after, ds = timed(lambda: PoseDataset(ann, PIPELINE))
        assert ds.read_from == f"{ann}.packed"
        print(f"after touch: first open {t_touched:.2f} s (whole-file hash), next open {t_after:.3f} s")

        t_pickle, _ = timed(lambda: load_pickle(ann))
        print(f"for scale: unpickling the annotation file {t_pickle:.1f} s")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
