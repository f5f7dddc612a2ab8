"""`stgcn pack ANN.pkl [OUT_DIR]`: convert an annotation pickle into a memory-mapped packed directory.

PoseDataset reads a packed directory given as `ann_file`, and uses `ANN.pkl.packed/` (the default
OUT_DIR) automatically in place of `ANN.pkl` while `ANN.pkl` is the file that was packed: the pack
records the pickle's size and SHA-1, so a replaced pickle is never shadowed by an old pack, whatever
its mtime.
"""

from __future__ import annotations

import argparse
import time

from stgcn.data.packed import pack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ann_file", help="annotation pickle (a list of samples or a split dict)")
    parser.add_argument("out_dir", nargs="?", default=None,
                        help="output directory (default: ANN_FILE.packed, picked up automatically)")


def run(args: argparse.Namespace) -> int:
    out_dir = args.out_dir or f"{args.ann_file}.packed"
    start = time.perf_counter()
    summary = pack(args.ann_file, out_dir)
    notes = ""
    if summary.dropped_fields:
        notes += f"; array fields not packed: {', '.join(summary.dropped_fields)}"
    if summary.nonfinite:
        notes += f"; {len(summary.nonfinite)} samples hold NaN/inf (see nan_policy)"
    print(f"packed {summary.num_samples} samples ({summary.num_rows} person-frames, "
          f"{summary.nbytes / 2**20:.1f} MiB) from {args.ann_file} into {out_dir} in "
          f"{time.perf_counter() - start:.1f} s{notes}")
    return 0
