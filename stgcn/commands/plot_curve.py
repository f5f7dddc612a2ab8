"""`stgcn plot-curve LOG.json [LOG.json ...] --keys loss top1_acc OUT.png`: training curves.

Reads the `.log.json` files tools/train.py writes in its work directory and draws one panel per key
against epochs: the training running means (every logging interval) and, where the key was also
evaluated, the validation points. Several logs are overlaid to compare runs.

  stgcn plot-curve work_dirs/penn/*.log.json --keys loss top1_acc curves.png --title "Penn Action"
"""

from __future__ import annotations

import argparse

from stgcn.fileio import OVERWRITE_HELP, check_output_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", help=".log.json files (one or more runs), then the output")
    parser.add_argument("--keys", nargs="+", default=["loss"],
                        help="values to plot, e.g. loss top1_acc lr (default: loss)")
    parser.add_argument("--title", help="figure title")
    parser.add_argument("--out", help="output .png/.pdf/.svg (or give it as the last positional)")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def run(args: argparse.Namespace) -> int:
    from stgcn.errors import StgcnError
    from stgcn.viz import IMAGE_SUFFIXES, check_image_path, require_matplotlib
    from stgcn.viz.curves import plot_curves, read_log

    require_matplotlib()
    logs, keys = list(args.logs), list(args.keys)
    if args.out is None and len(keys) > 1 and keys[-1].lower().endswith(IMAGE_SUFFIXES):
        args.out = keys.pop()  # `--keys loss top1_acc OUT.png`: argparse hands the output to --keys
    if args.out is None:
        if len(logs) < 2:
            raise StgcnError("plot-curve needs LOG.json files and an output picture: "
                             "stgcn plot-curve WORK_DIR/RUN.log.json OUT.png")
        args.out = logs.pop()
    out = check_image_path(args.out, "output")
    check_output_path(out, args.overwrite, flag="output")
    plot_curves([read_log(p) for p in logs], keys, out, args.title)
    print(f"wrote {out}")
    return 0
