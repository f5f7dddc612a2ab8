"""`stgcn vis ANN --index I OUT.(gif|mp4|png|pdf|svg)`: picture one sample's skeleton.

A .png/.pdf/.svg output is a grid of evenly spaced frames; .gif and .mp4 animate every frame. The title
names the sample and its label; with `--checkpoint` the model's top-3 prediction is written under it
(green when the top class is the label, red otherwise). ANN is an annotation file (plain list or split
dict; `--split NAME` indexes within one split), a packed directory, a video (its poses found by MediaPipe,
extra `[video]`, mapped onto `--layout`, default coco) or a pose file of another estimator (.npz/.json, as
`stgcn extract-pose --backend file` reads). 2D keypoints are drawn in image coordinates, 3D joints
projected from the front (`--azimuth/--elevation` turn the body).

  stgcn vis data/penn_action.pkl --split test --index 0 sample.gif
  stgcn vis data/nw_ucla.pkl --split xview_val --index 3 grid.png --class-names nw_ucla
  stgcn vis data/penn_action.pkl --split test --index 7 pred.gif --checkpoint work_dirs/penn/latest.pth
  stgcn vis clip.mp4 clip_pose.gif --checkpoint work_dirs/penn/latest.pth

A video's poses are mapped onto the checkpoint's layout with the joints its training data lacked fed as
absent (the config's `absent_joints`, or `--drop-joints`), as `stgcn demo` feeds them.
"""

from __future__ import annotations

import argparse

from stgcn.errors import StgcnError, did_you_mean
from stgcn.fileio import OVERWRITE_HELP, check_output_path
from stgcn.layouts_map import DROP_JOINTS_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ann_file", help="annotation .pkl (plain list or split dict), packed directory, "
                        "video (pose by MediaPipe, extra [video]) or pose file (.npz/.json)")
    parser.add_argument("out", help="output picture: .png/.pdf/.svg (frame grid) or .gif/.mp4 (animation)")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    parser.add_argument("--index", type=int, default=0, help="sample index (within --split if given)")
    parser.add_argument("--split", help="split name of a split-dict file (default: all samples)")
    parser.add_argument("--checkpoint", help="checkpoint whose top-3 prediction is shown")
    parser.add_argument("--config", help="config for a checkpoint that does not carry one")
    parser.add_argument("--class-names", metavar="NAME|FILE.txt",
                        help="class names: a built-in list (penn_action, nw_ucla, ntu60, ntu120) or a "
                        "label map (default: the checkpoint's names)")
    parser.add_argument("--layout", help="skeleton layout of the joints (default: from V and C; for a "
                        "video: the checkpoint's, else coco)")
    parser.add_argument("--drop-joints", metavar="NAMES", help="video or pose file only: " + DROP_JOINTS_HELP)
    parser.add_argument("--fps", type=float, default=15.0, help="animation frames per second (15)")
    parser.add_argument("--frames", type=int, default=8, help="frames in a picture grid (8)")
    parser.add_argument("--azimuth", type=float, default=0.0, help="3D only: turn about the vertical, deg")
    parser.add_argument("--elevation", type=float, default=0.0, help="3D only: tilt, degrees")


def load_sample(ann_file: str, index: int, split: str | None) -> dict:
    """Sample ``index`` of the file (within ``split`` when given), a one-line error when out of range."""
    from stgcn.autoconfig.survey import open_annotations
    from stgcn.data.packed import PackedAnnotations

    records, splits = open_annotations(ann_file)
    if isinstance(records, PackedAnnotations):
        ids = list(records.frame_dirs)
    else:
        ids = [r.get("frame_dir") if isinstance(r, dict) else None for r in records]
    positions = list(range(len(records)))
    if split is not None:
        if not splits or split not in splits:
            valid = sorted(splits or {})
            raise StgcnError(f"{ann_file}: --split {split!r} does not exist{did_you_mean(split, valid)}; "
                             f"valid: {', '.join(valid) or '(the file has no splits: drop --split)'}")
        wanted = set(splits[split])
        positions = [i for i, key in enumerate(ids) if key in wanted]
    if not -len(positions) <= index < len(positions):
        where = f"split {split!r}" if split else "the file"
        raise StgcnError(f"{ann_file}: --index {index} is out of range; {where} has {len(positions)} "
                         f"samples (0..{len(positions) - 1})")
    sample = records[positions[index]]
    if not isinstance(sample, dict) or "keypoint" not in sample:
        raise StgcnError(f"{ann_file}: sample {index} has no 'keypoint' array; check the file with "
                         f"`stgcn validate {ann_file}`")
    return sample


def video_sample(path: str, layout: str, drop: tuple[str, ...] = ()) -> dict:
    """The skeletons of a video (MediaPipe pose, extra [video]) or of a pose file (.npz/.json of another
    estimator, see `stgcn extract-pose`), tracked and mapped onto ``layout`` (the joints in ``drop``
    blanked), as an unlabelled sample."""
    from pathlib import Path

    from stgcn.progress import Progress
    from stgcn.video.extract import extract_video, to_sample
    from stgcn.video.posefile import POSE_SUFFIXES, load_pose_file

    if Path(path).suffix.lower() in POSE_SUFFIXES:
        track = load_pose_file(path)
    else:
        from stgcn.video.backends import MediapipePose
        from stgcn.video.io import count_frames

        bar = Progress(total=count_frames(path), desc="pose")
        track = extract_video(path, MediapipePose(), on_frame=bar.update)
        bar.close()
    sample = to_sample(track, layout, frame_dir=Path(path).stem, label=0, source=path, drop=drop)
    del sample["label"]  # a video has no label
    return sample


def _is_video(path: str) -> bool:
    from stgcn.video.io import VIDEO_SUFFIXES
    from stgcn.video.posefile import POSE_SUFFIXES

    return path.lower().endswith(VIDEO_SUFFIXES + POSE_SUFFIXES)


def _name(index: int, names: list[str] | None) -> str:
    return f"{names[index]} ({index})" if names and 0 <= index < len(names) else f"class {index}"


def _caption(sample: dict, args: argparse.Namespace, recognizer=None) -> tuple[str, str, str]:
    """(title, prediction line, its colour); class names from --class-names, else the checkpoint."""
    from stgcn.data.classes import resolve_class_names

    names = resolve_class_names(args.class_names, None, "--class-names") if args.class_names else None
    top = None
    if recognizer is not None:
        top = recognizer.predict(sample, top_k=3)[0].top_k
        names = names or recognizer.class_names
    label = sample.get("label")
    title = str(sample.get("frame_dir", f"sample {args.index}"))
    if label is not None:
        title += f"    label: {_name(int(label), names)}"
    if top is None:
        return title, "", "black"
    line = "prediction: " + ", ".join(f"{_name(i, names)} {score:.2f}" for i, _, score in top)
    color = "black" if label is None else ("tab:green" if top[0][0] == int(label) else "tab:red")
    return title, line, color


def run(args: argparse.Namespace) -> int:
    from stgcn.autoconfig.layout import guess_layout
    from stgcn.graph import get_layout
    from stgcn.viz import require_matplotlib
    from stgcn.viz.skeleton import check_output, make_clip, render

    require_matplotlib()
    out = check_output(args.out)
    check_output_path(out, args.overwrite, flag="output")
    if args.fps <= 0 or args.frames < 1:
        raise StgcnError(f"--fps {args.fps} / --frames {args.frames}: both must be positive")
    recognizer = None
    if args.checkpoint:
        from stgcn.inference import Recognizer

        recognizer = Recognizer.from_checkpoint(args.checkpoint, config=args.config,
                                                label_map=args.class_names)
    if _is_video(args.ann_file):
        from stgcn.layouts_map import drop_joints

        own = recognizer.layout if recognizer is not None and isinstance(recognizer.layout, str) else None
        sample = video_sample(args.ann_file, args.layout or own or "coco",
                              drop_joints(args.drop_joints, recognizer))
    else:
        if args.drop_joints is not None:
            raise StgcnError("--drop-joints applies to a video or pose file; an annotation file's samples "
                             "are shown as they are")
        sample = load_sample(args.ann_file, args.index, args.split)
    _, _, num_joints, channels = sample["keypoint"].shape
    layout = get_layout(args.layout or guess_layout(num_joints, channels, args.ann_file))
    if layout.num_node != num_joints:
        raise StgcnError(f"--layout {args.layout}: it has {layout.num_node} joints, the sample has "
                         f"{num_joints}; pick a layout with {num_joints} joints")
    clip = make_clip(sample, layout.edges, args.azimuth, args.elevation)
    clip.title, clip.subtitle, clip.subtitle_color = _caption(sample, args, recognizer)
    render(clip, out, fps=args.fps, frames=args.frames)
    print(f"wrote {out}")
    return 0
