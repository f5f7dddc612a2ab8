"""Streaming recognition on a test set: top-1 against the window length, and the cost of streaming.

Cuts windows of the last L frames from every test clip, as a :class:`stgcn.StreamRecognizer` sees them
(one every ``--stride`` frames once L frames are there, plus the window ending on the clip's last frame;
a clip shorter than L gives its whole length), classifies them with the checkpoint through its own
test pipeline and prints top-1 over all windows and over the clips' last windows. ``all`` is the whole
clip (what ``tools/test.py`` scores). Then streams ``--timed-clips`` clips frame by frame through
``StreamRecognizer`` and reports the milliseconds per emission and per frame on this machine.

    python benchmarks/stream_accuracy.py CHECKPOINT --ann data/penn_action.pkl
    python benchmarks/stream_accuracy.py CHECKPOINT --ann data/nw_ucla.pkl --windows 16 32 all
    python benchmarks/stream_accuracy.py CHECKPOINT --ann data/penn_action.pkl --onnx-model model-int8.onnx
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_model.py

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stgcn.data import load_pickle  # noqa: E402
from stgcn.inference.api import Recognizer  # noqa: E402
from stgcn.inference.stream import StreamRecognizer  # noqa: E402


def test_samples(cfg: dict, ann: str, split: str | None, limit: int | None) -> list[dict]:
    """The annotation file's samples of the config's test split (or ``split``)."""
    data = load_pickle(ann)
    split = split or cfg["data"]["test"].get("split")
    if isinstance(data, dict):
        wanted = set(data["split"][split]) if split else None
        data = [a for a in data["annotations"] if wanted is None or a["frame_dir"] in wanted]
    return data[:limit]


def cut(sample: dict, start: int, stop: int) -> dict:
    """Frames [start, stop) of an annotation sample."""
    out = dict(sample, keypoint=sample["keypoint"][:, start:stop], total_frames=stop - start)
    if "keypoint_score" in sample:
        out["keypoint_score"] = sample["keypoint_score"][:, start:stop]
    return out


def windows(sample: dict, length: int | None, stride: int) -> list[dict]:
    """The windows a stream emits on this clip: every ``stride`` frames, plus the one at its end."""
    total = int(sample["total_frames"])
    if length is None or length >= total:
        return [cut(sample, 0, total)]
    ends = list(range(length, total + 1, stride))
    if ends[-1] != total:
        ends.append(total)
    return [cut(sample, end - length, end) for end in ends]


def window_accuracy(recognizer: Recognizer, samples: list[dict], length: int | None,
                    stride: int) -> tuple[int, float, float]:
    """(windows, top-1 over all windows, top-1 over each clip's last window), in percent."""
    cuts = [windows(s, length, stride) for s in samples]
    flat = [w for ws in cuts for w in ws]
    pred = recognizer.scores(flat).argmax(1)
    labels = np.array([w["label"] for w in flat])
    last = np.cumsum([len(ws) for ws in cuts]) - 1
    hits = pred == labels
    return len(flat), 100.0 * float(hits.mean()), 100.0 * float(hits[last].mean())


def stream_cost(recognizer: Recognizer, samples: list[dict], window: int,
                stride: int) -> tuple[float, float, float]:
    """Streaming ``samples`` (one person each): median ms of a push that emits, of one that does not,
    and the mean ms per frame over all pushes."""
    emit_times, quiet_times, frames, total = [], [], 0, 0.0
    for sample in samples:
        stream = StreamRecognizer(recognizer, window=window, stride=stride, min_frames=min(window, 16),
                                  img_shape=sample.get("img_shape"))
        score = sample.get("keypoint_score")
        for t in range(int(sample["total_frames"])):
            start = time.perf_counter()
            out = stream.push(sample["keypoint"][:1, t], None if score is None else score[:1, t])
            took = time.perf_counter() - start
            total += took
            frames += 1
            (emit_times if out else quiet_times).append(took)
    return 1e3 * float(np.median(emit_times)), 1e3 * float(np.median(quiet_times)), 1e3 * total / frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint written by tools/train.py")
    parser.add_argument("--config", help="config (default: the checkpoint's)")
    parser.add_argument("--ann", required=True, help="annotation file holding the test split")
    parser.add_argument("--split", help="split to test (default: the config's data.test.split)")
    parser.add_argument("--windows", nargs="+", default=["16", "32", "48", "64", "all"],
                        help="window lengths in frames, 'all' for whole clips")
    parser.add_argument("--stride", type=int, default=8, help="frames between emissions (default 8)")
    parser.add_argument("--clips", type=int, default=None, help="only the first N test clips")
    parser.add_argument("--timed-clips", type=int, default=10,
                        help="clips streamed frame by frame for timing (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--onnx-model", help="run this `stgcn export` file of the checkpoint (e.g. int8) in "
                        "onnxruntime instead of torch")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    recognizer = Recognizer.from_checkpoint(args.checkpoint, config=args.config, onnx_model=args.onnx_model)
    samples = test_samples(recognizer.cfg, args.ann, args.split, args.clips)
    mean_len = float(np.mean([s["total_frames"] for s in samples]))
    model = f" ({args.onnx_model} in onnxruntime)" if args.onnx_model else ""
    print(f"{args.checkpoint}{model}: {len(samples)} test clips (mean {mean_len:.1f} frames), "
          f"stride {args.stride}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    print("| window | windows | top-1 all windows | top-1 last window | ms/emission | ms/push without "
          "emission | ms/frame (all pushes) |")
    print("|---|---|---|---|---|---|---|")
    timed = samples[: args.timed_clips]
    for name in args.windows:
        length = None if name == "all" else int(name)
        count, top1, top1_last = window_accuracy(recognizer, samples, length, args.stride)
        cost = "| - | - | -" if length is None or not timed else \
            "| {:.1f} | {:.3f} | {:.2f}".format(*stream_cost(recognizer, timed, length, args.stride))
        print(f"| {name} | {count} | {top1:.2f} | {top1_last:.2f} {cost} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
