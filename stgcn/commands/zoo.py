"""`stgcn zoo [NAME]`: the released checkpoints this project loads by name (stgcn.models.zoo).

Without NAME: one line per entry (name, dataset, reported top-1, parameters). With NAME: every field,
including the URL and the config. Any command that takes a checkpoint also takes a zoo name, e.g.

  stgcn predict stgcn_80e_ntu60_xsub_keypoint samples.pkl
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show one entry in full")


def run(args: argparse.Namespace) -> int:
    from stgcn.models.zoo import ZOO, get_entry

    if args.name is None:
        width = max(len(n) for n in ZOO)
        print(f"{'name':<{width}}  {'source':<13}  {'dataset':<22}  top-1  params")
        for e in ZOO.values():
            print(f"{e.name:<{width}}  {e.source:<13}  {e.dataset:<22}  {e.top1:5.2f}  "
                  f"{e.num_params / 1e6:.2f}M")
        return 0
    e = get_entry(args.name)
    for key, value in (("name", e.name), ("source", e.source), ("url", e.url), ("config", e.config),
                       ("layout", e.layout), ("classes", e.classes), ("dataset", e.dataset),
                       ("top-1", f"{e.top1:.2f} (reported)"), ("parameters", f"{e.num_params:,}")):
        print(f"{key:<11}{value}")
    return 0
