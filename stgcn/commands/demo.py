"""`stgcn demo VIDEO OUT.mp4 --checkpoint CKPT`: the video with skeletons and predicted actions drawn.

Poses come from MediaPipe Pose (or a pose file of another estimator: `--poses FILE`, format in
stgcn/video/posefile.py) and are mapped onto the checkpoint's joint layout. Without `--window` the
whole clip is classified once and its label shown on every frame; with `--window N --stride S` a
prediction over the last N frames is made every S frames and each frame shows the latest. One label for
the scene, or one per tracked person with `--per-person`. `--camera N` reads webcam N instead of VIDEO
(sliding window only; Ctrl-C or `--max-frames` ends it). Every frame read is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from stgcn.commands.predict import add_backend_arguments
from stgcn.errors import StgcnError
from stgcn.fileio import OVERWRITE_HELP, check_output_path, write_atomic
from stgcn.layouts_map import DROP_JOINTS_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", metavar="VIDEO", help="input video (with --camera: the output video)")
    parser.add_argument("out", nargs="?", metavar="OUT.mp4", help="output video (.mp4 or .avi)")
    parser.add_argument("--checkpoint", required=True,
                        help="trained checkpoint: .pth path, https:// URL or model zoo name")
    parser.add_argument("--config", help="model config, when the checkpoint carries none")
    parser.add_argument("--label-map", help="class names, one per line (default: from the checkpoint)")
    parser.add_argument("--window", type=int, help="frames per prediction (default: the whole clip)")
    parser.add_argument("--stride", type=int, help="frames between predictions (default: window / 4)")
    parser.add_argument("--per-person", action="store_true", help="one label per tracked person")
    parser.add_argument("--poses", metavar="FILE", help="read poses from this .npz/.json pose file "
                                                        "instead of running MediaPipe")
    parser.add_argument("--drop-joints", metavar="NAMES", help=DROP_JOINTS_HELP)
    parser.add_argument("--out-json", metavar="F", help="also write every prediction as JSON")
    parser.add_argument("--camera", type=int, metavar="N", help="read webcam N instead of a video file")
    parser.add_argument("--max-frames", type=int, default=0,
                        help="with --window or --camera: stop after this many frames (0: all)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    add_backend_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def _paths(args: argparse.Namespace) -> tuple[str | int, str]:
    if args.camera is not None:
        if args.out is not None:
            raise StgcnError("with --camera N give only the output video: stgcn demo --camera N OUT.mp4 ...")
        if args.window is None:
            raise StgcnError("--camera needs --window N: a live stream has no whole clip to classify")
        return args.camera, args.video
    if args.out is None:
        raise StgcnError("give the input and the output video: stgcn demo VIDEO OUT.mp4 --checkpoint CKPT")
    from stgcn.video.io import VIDEO_SUFFIXES

    if not args.video.lower().endswith(VIDEO_SUFFIXES):
        raise StgcnError(f"{args.video}: not a video file name; give a video ({', '.join(VIDEO_SUFFIXES)})")
    return args.video, args.out


def _check_window(args: argparse.Namespace) -> None:
    if args.window is None:
        if args.stride is not None or args.max_frames:
            flag = "--stride" if args.stride is not None else "--max-frames"
            raise StgcnError(f"{flag} needs --window N (without it the whole clip is classified at once)")
        return
    if args.window < 1:
        raise StgcnError(f"--window must be at least 1 frame, got {args.window}")
    args.stride = args.stride if args.stride is not None else max(1, args.window // 4)
    if args.stride < 1:
        raise StgcnError(f"--stride must be at least 1 frame, got {args.stride}")


def run(args: argparse.Namespace) -> int:
    source_arg, out = _paths(args)
    _check_window(args)
    if Path(out).suffix.lower() not in (".mp4", ".avi"):
        raise StgcnError(f"{out}: the output video must end in .mp4 or .avi")
    inputs = tuple(str(p) for p in (source_arg, args.poses, args.checkpoint) if isinstance(p, str))
    check_output_path(out, args.overwrite, flag="output", inputs=inputs)
    if args.out_json:
        check_output_path(args.out_json, args.overwrite, flag="--out-json", inputs=inputs + (out,))
    from stgcn.inference import Recognizer
    from stgcn.layouts_map import drop_joints
    from stgcn.video import demo
    from stgcn.video.backends import MediapipePose
    from stgcn.video.io import FrameSource
    from stgcn.video.posefile import load_pose_file

    track = load_pose_file(args.poses) if args.poses else None
    backend = None if track is not None else MediapipePose()
    recognizer = Recognizer.from_checkpoint(args.checkpoint, config=args.config, device=args.device,
                                            label_map=args.label_map, backend=args.backend,
                                            onnx_model=args.onnx_model, precision=args.precision)
    drop = drop_joints(args.drop_joints, recognizer)
    start = time.perf_counter()
    if args.window is None:
        result = demo.run_clip_demo(str(source_arg), out, recognizer, backend, track, args.per_person, drop)
    else:
        from stgcn.inference.stream import StreamRecognizer

        source = FrameSource(source_arg)
        stream = StreamRecognizer(recognizer, window=args.window, stride=args.stride,
                                  mode="per-person" if args.per_person else "group",
                                  img_shape=(source.height, source.width))
        result = demo.run_window_demo(source, out, stream, recognizer, backend, track, args.per_person,
                                      args.max_frames, drop)
    if args.out_json:
        doc = {"video": str(source_arg), "window": args.window, "stride": args.stride,
               "per_person": args.per_person, "frames": result.frames_written,
               "predictions": result.predictions}
        write_atomic(args.out_json, (json.dumps(doc, indent=1) + "\n").encode())
    seconds = time.perf_counter() - start
    if not result.predictions:
        why = "no person found" + (", or fewer frames than a window needs" if args.window else "")
        print(f"warning: nothing was classified in the {result.frames_read} frames read ({why})",
              file=sys.stderr)
    print(f"wrote {result.frames_written} of {result.frames_read} frames read to {out} in {seconds:.1f} s "
          f"({result.frames_read / max(seconds, 1e-9):.1f} frames/s); {len(result.predictions)} predictions")
    for row in result.predictions[-5:] if args.window else result.predictions:
        who = "scene" if row["person_id"] is None else f"person {row['person_id']}"
        best = row["top_k"][0]
        print(f"  {who}: {best[1] if best[1] is not None else best[0]} {best[2]:.3f}")
    return 0
