"""`stgcn convert {ntu,nw-ucla,penn-action,numpy,kinetics,ctrgcn-npz} ...`: dataset release formats ->
annotation pickles.

Every output is checked with `validate_annotations` before it is written (atomically); an existing
file is replaced only with --overwrite. The summary (files read, samples per split, files skipped
and why) goes to stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stgcn.data.convert import Summary, check_output, write_pickle
from stgcn.data.validate import validate_annotations
from stgcn.errors import StgcnError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source", required=True,
                                metavar="{ntu,nw-ucla,penn-action,numpy,kinetics,ctrgcn-npz}")

    p = sub.add_parser("ntu", help="raw NTU RGB+D 60/120 .skeleton files -> 3D annotations",
                       description="Parse raw NTU RGB+D .skeleton files as mmaction2 0.x's "
                                   "gen_ntu_rgbd_raw.py does (2 highest-energy bodies, M = 2).")
    p.add_argument("raw_dir", help="folder with the .skeleton files (searched recursively)")
    p.add_argument("out", help="output .pkl (split-dict layout)")
    p.add_argument("--missing", metavar="LIST",
                   help="text file of sample ids to skip, one per line (NTU's missing-skeleton list)")
    p.add_argument("--benchmark", nargs="+", choices=("xsub", "xview", "xset"),
                   help="splits to write (default: xsub xview for NTU60 data, xsub xset for NTU120)")
    p.add_argument("--prenorm", action="store_true",
                   help="apply 0.x pre_normalization (centre on the spine, align spine to z and "
                        "shoulders to x); default: raw camera coordinates (1.x style)")
    p.add_argument("--max-frames", type=int, default=300,
                   help="cut longer files to this many frames, 0 = no limit (default 300)")
    p.add_argument("--drop-empty-bodies", action="store_true",
                   help="keep only real bodies (M = 1 or 2) instead of always M = 2")
    p.add_argument("--legacy-dir", metavar="DIR",
                   help="also write the 0.x layout DIR/{xsub,xview,xsetup}/{train,val}.pkl (plain lists)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    _add_overwrite(p)
    p.set_defaults(convert=_run_ntu)

    p = sub.add_parser("nw-ucla", help="NW-UCLA all_sqe JSON release -> 3D annotations [1, T, 20, 3]")
    p.add_argument("sqe_dir", help="the all_sqe folder (aXX_sYY_eZZ_vWW.json files)")
    p.add_argument("out", help="output .pkl (splits xview_train/val, xsub_train/val)")
    _add_overwrite(p)
    p.set_defaults(convert=_run_nw_ucla)

    p = sub.add_parser("penn-action", help="Penn Action labels/*.mat -> 2D COCO-17 annotations")
    p.add_argument("labels_dir", help="the Penn Action 'labels' folder (NNNN.mat files)")
    p.add_argument("out", help="output .pkl (splits train/test)")
    p.add_argument("--invisible-score", type=float, default=0.0,
                   help="keypoint_score of joints annotated as not visible (default 0.0; visible = 1.0)")
    _add_overwrite(p)
    p.set_defaults(convert=_run_penn_action)

    p = sub.add_parser("numpy", help="your own (N, C, T, V, M) .npy arrays -> annotations",
                       description="Convert st-gcn feeder arrays; one split per --data/--labels pair.")
    p.add_argument("--data", nargs="+", required=True, metavar="X.npy", help="(N, C, T, V, M) arrays")
    p.add_argument("--labels", nargs="+", required=True, metavar="Y.npy|.pkl",
                   help="labels: .npy of ints, or st-gcn's (names, labels) pickle; one per --data")
    p.add_argument("--split-names", nargs="+", metavar="NAME",
                   help="split name per --data file (default: train, val, test)")
    p.add_argument("--score-channel", action="store_true",
                   help="the last channel is a confidence score (e.g. x, y, score)")
    p.add_argument("--img-shape", nargs=2, type=int, default=(1080, 1920), metavar=("H", "W"),
                   help="image height and width of 2D coordinates (default 1080 1920)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--layout", help="graph layout the joints follow (checks V), e.g. coco")
    group.add_argument("--num-joints", type=int, help="expected joint count V")
    p.add_argument("out", help="output .pkl")
    _add_overwrite(p)
    p.set_defaults(convert=_run_numpy)

    p = sub.add_parser(
        "kinetics", help="st-gcn's Kinetics-skeleton JSON release -> 2D OpenPose-18 annotations",
        description="One split per --data folder of video JSONs and its --labels JSON (kinetics_train/ + "
                    "kinetics_train_label.json, ...). The .npy + .pkl form is read by `stgcn convert numpy "
                    "--score-channel --layout openpose-18`.")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of per-video JSON files")
    p.add_argument("--labels", nargs="+", required=True, metavar="LABELS.json",
                   help="one label JSON per --data")
    p.add_argument("--split-names", nargs="+", metavar="NAME", help="split names (default: train, val, ...)")
    p.add_argument("--num-person", type=int, default=2,
                   help="persons kept per frame, the most confident first (default 2, as st-gcn)")
    p.add_argument("out", help="output .pkl")
    _add_overwrite(p)
    p.set_defaults(convert=_run_kinetics)

    p = sub.add_parser("ctrgcn-npz", help="CTR-GCN's preprocessed NTU .npz (x/y_train, x/y_test) -> 3D "
                                          "annotations, splits train/test")
    p.add_argument("npz", help="e.g. NTU60_CS.npz")
    p.add_argument("out", help="output .pkl")
    _add_overwrite(p)
    p.set_defaults(convert=_run_ctrgcn_npz)


def _add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    return args.convert(args)


def _finish(anno: dict, summary: Summary, args: argparse.Namespace, num_joints: int | None = None) -> int:
    """Validate, write the output when clean, then print the summary; 1 (nothing written) on problems."""
    report = validate_annotations(anno, num_joints=num_joints, source=args.out)
    if report.ok and anno["annotations"]:
        write_pickle(anno, args.out, args.overwrite)
    print(summary.format())
    if not report.ok:
        print(report.format())
        print(f"not written: {args.out} would have the problems listed above")
        return 1
    if not anno["annotations"]:
        raise StgcnError(f"{args.out}: no sample could be converted; see the skipped list above")
    print(f"wrote {args.out}")
    return 0


def _run_ntu(args: argparse.Namespace) -> int:
    from stgcn.data.convert.ntu import convert_ntu, legacy_lists, write_legacy

    check_output(args.out, args.overwrite)
    anno, summary = convert_ntu(args.raw_dir, missing=args.missing, benchmarks=args.benchmark,
                                prenorm=args.prenorm, max_frames=args.max_frames,
                                drop_empty_bodies=args.drop_empty_bodies, workers=args.workers)
    if args.legacy_dir:  # refuse before writing anything
        for rel in legacy_lists(anno):
            check_output(Path(args.legacy_dir) / rel, args.overwrite)
    code = _finish(anno, summary, args)
    if code == 0 and args.legacy_dir:
        for path in write_legacy(anno, args.legacy_dir, args.overwrite):
            print(f"wrote {path}")
    return code


def _run_nw_ucla(args: argparse.Namespace) -> int:
    from stgcn.data.convert.nw_ucla import convert_nw_ucla

    check_output(args.out, args.overwrite)
    anno, summary = convert_nw_ucla(args.sqe_dir)
    return _finish(anno, summary, args)


def _run_penn_action(args: argparse.Namespace) -> int:
    from stgcn.data.convert.penn_action import convert_penn_action

    check_output(args.out, args.overwrite)
    anno, summary = convert_penn_action(args.labels_dir, invisible_score=args.invisible_score)
    return _finish(anno, summary, args)


def _run_numpy(args: argparse.Namespace) -> int:
    from stgcn.data.convert.numpy_arrays import convert_numpy

    check_output(args.out, args.overwrite)
    num_joints = args.num_joints
    if args.layout:
        from stgcn.graph import get_layout

        num_joints = get_layout(args.layout).num_node
    anno, summary = convert_numpy(args.data, args.labels, split_names=args.split_names,
                                  score_channel=args.score_channel, img_shape=tuple(args.img_shape))
    return _finish(anno, summary, args, num_joints)


def _run_kinetics(args: argparse.Namespace) -> int:
    from stgcn.data.convert.kinetics import NUM_JOINTS, convert_kinetics

    check_output(args.out, args.overwrite)
    names = args.split_names or ["train", "val", "test"][: len(args.data)]
    if args.num_person < 1:
        raise StgcnError(f"--num-person must be positive, got {args.num_person}")
    anno, summary = convert_kinetics(args.data, args.labels, names, num_person=args.num_person)
    return _finish(anno, summary, args, NUM_JOINTS)


def _run_ctrgcn_npz(args: argparse.Namespace) -> int:
    from stgcn.data.convert.ctrgcn import NUM_JOINTS, convert_ctrgcn_npz

    check_output(args.out, args.overwrite)
    anno, summary = convert_ctrgcn_npz(args.npz)
    return _finish(anno, summary, args, NUM_JOINTS)
