"""`stgcn validate ANN.pkl|PACKED_DIR`: check an annotation file (or a `stgcn pack` directory) and print
its summary; exit 0 clean, 1 problems, 2 when the file cannot be read at all."""

from __future__ import annotations

import argparse
from pathlib import Path

from stgcn.data.packed import PackedAnnotations, is_packed_dir
from stgcn.data.safe_pickle import load_pickle
from stgcn.data.validate import validate_annotations


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ann_file", help="annotation .pkl (plain list or split dict), or a packed directory")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--layout", help="graph layout the joints must match (e.g. coco, ntu-rgb+d)")
    group.add_argument("--num-joints", type=int, help="expected joint count V")
    parser.add_argument("--split", help="check only this split (split-dict files)")
    parser.add_argument("--num-classes", type=int, help="labels must lie in [0, N)")


def run(args: argparse.Namespace) -> int:
    num_joints = args.num_joints
    if args.layout:
        from stgcn.graph import get_layout

        num_joints = get_layout(args.layout).num_node
    annotations = _read(args.ann_file)
    report = validate_annotations(annotations, num_joints=num_joints, num_classes=args.num_classes,
                                  split=args.split, source=str(args.ann_file))
    print(report.format())
    return 0 if report.ok else 1


def _read(path: str) -> object:
    """The annotations of a pickle, or of a packed directory (its arrays memory-mapped)."""
    if Path(path).is_dir() and is_packed_dir(path):
        packed = PackedAnnotations(path)
        items = list(packed)
        return items if packed.split is None else {"split": packed.split, "annotations": items}
    return load_pickle(path)
