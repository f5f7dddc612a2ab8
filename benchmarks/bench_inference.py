"""Batch-1 inference back ends against each other, interleaved in one process, plus one streaming emission.

Times eager fp32 (the baseline), the BN-folded model (``stgcn.models.fuse``), the folded model under
bf16 autocast, onnxruntime fp32 and onnxruntime int8 (static, from ``stgcn export --int8``) on one clip
with one real person (a ``num_person=1`` model, the Penn Action config) and two real persons (the NTU
2D config, ``num_person=2``), at each ``--frames``. Prints the median milliseconds and the speed-up
over eager fp32 and over the folded model. Then times one ``StreamRecognizer`` emission (window 64,
one person: the config's test pipeline and the model) with the torch back end (the folded model), the
same with the test pipeline rebuilt at every emission, and onnxruntime fp32 and int8, interleaved.

With ``--checkpoint`` the one-person model is that checkpoint (its config); with ``--ann`` too, int8 is
calibrated on the training split and top-1 of eager fp32 and bf16, inductor bf16, onnxruntime fp32 and
int8 is measured on the test split.

    python benchmarks/bench_inference.py
    python benchmarks/bench_inference.py --checkpoint work_dirs/penn/latest.pth --ann data/penn_action.pkl
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_model.py

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stgcn import build_model  # noqa: E402
from stgcn.engine.config import load_config  # noqa: E402
from stgcn.engine.config_1x import average_clips  # noqa: E402
from stgcn.engine.test import merge_clips  # noqa: E402
from stgcn.inference import export as ex  # noqa: E402
from stgcn.inference.api import Recognizer  # noqa: E402
from stgcn.inference.compiled import compile_for_inference, cxx_compiler  # noqa: E402
from stgcn.inference.stream import StreamRecognizer  # noqa: E402
from stgcn.models.fuse import fuse_conv_bn  # noqa: E402

CONFIGS = ROOT / "configs" / "skeleton" / "stgcn"
ONE_PERSON = CONFIGS / "stgcn_penn_action_joint_2d.py"
TWO_PERSONS = CONFIGS / "stgcn_80e_ntu60_xsub_keypoint.py"


def load_model(config: Path | None, checkpoint: str | None) -> tuple[torch.nn.Module, dict]:
    if checkpoint:
        rec = Recognizer.from_checkpoint(checkpoint, config=str(config) if config else None)
        return rec.model, rec.cfg
    cfg = load_config(str(config))
    torch.manual_seed(0)
    return build_model(cfg["model"]).eval(), cfg


def backends(model: torch.nn.Module, calibration: list[np.ndarray], threads: int) -> dict:
    """name -> callable(x tensor) for every back end of one model."""
    fused = fuse_conv_bn(model)
    fp32 = ex.onnx_bytes(model)
    ort32 = ex.onnx_session(fp32, threads)
    ort8 = ex.onnx_session(ex.quantize_int8(fp32, calibration), threads)

    def bf16(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fused(x)

    return {"eager fp32": model, "fused fp32": fused, "fused bf16": bf16,
            "onnxruntime fp32": lambda x: ort32.run(None, {"keypoint": x.numpy()}),
            "onnxruntime int8": lambda x: ort8.run(None, {"keypoint": x.numpy()})}


def time_interleaved(fns: dict, x: torch.Tensor, repeats: int) -> dict:
    """Median seconds of each callable, one call of each per round (machine load hits all alike)."""
    times = {name: [] for name in fns}
    with torch.inference_mode():
        for fn in fns.values():
            fn(x)  # warm-up
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def speed_table(model, persons: int, frames: list[int], calibration, args) -> None:
    c, v, m = model.backbone.in_channels, model.backbone.num_node, model.cls_head.num_person
    fns = backends(model, calibration, args.threads)
    for t in frames:
        x = torch.randn(1, c, t, v, m, generator=torch.Generator().manual_seed(t))
        med = time_interleaved(fns, x, args.repeats)
        base, fused = med["eager fp32"], med["fused fp32"]
        for name, sec in med.items():
            print(f"| B1 T{t} {persons}p (M={m}) | {name} | {sec * 1e3:.1f} | {base / sec:.2f}x | "
                  f"{fused / sec:.2f}x |", flush=True)


def stream_emission(model, cfg: dict, repeats: int, int8: bytes) -> tuple[dict, float]:
    """Median ms of one emission (window 64, one person) per variant, interleaved, and of a push that
    does not emit. Variants: the torch back end with the test pipeline rebuilt at every emission (as
    before it was built once per Recognizer), the torch back end, onnxruntime with the fp32 graph and
    with the int8 model (``Recognizer(onnx_model=...)``)."""
    recs = {"torch, pipeline rebuilt per emission": Recognizer(model, cfg),
            "torch": Recognizer(model, cfg),
            "onnxruntime fp32": Recognizer(model, cfg, backend="onnxruntime"),
            "onnxruntime int8": Recognizer(model, cfg, onnx_model=int8)}
    shape = (480, 640)  # the frame size of the synthetic pixels below (used by PreNormalize2D pipelines)
    streams = {name: StreamRecognizer(r, window=64, stride=10**9, min_frames=64, img_shape=shape)
               for name, r in recs.items()}
    rec = recs["torch"]
    rng = np.random.default_rng(0)
    scored = rec.layout not in ("ntu-rgb+d", "nw-ucla")  # 2D layouts carry a score channel
    c = rec.in_channels - 1 if scored else rec.in_channels
    pushes = []
    for _ in range(64 + repeats):
        kp = rng.uniform(100, 400, (1, rec.num_joints, c)).astype(np.float32)
        score = np.ones((1, rec.num_joints), np.float32) if scored else None
        for stream in streams.values():
            start = time.perf_counter()
            stream.push(kp, score)
            pushes.append(time.perf_counter() - start)
    emits = {name: [] for name in streams}
    cpu = {name: [] for name in streams}
    for stream in streams.values():
        stream.emit()  # warm-up (builds the fused model, the onnxruntime session)
    for _ in range(repeats):
        for name, stream in streams.items():
            if "rebuilt" in name:
                stream.recognizer.__dict__.pop("_transforms", None)
            start, start_cpu = time.perf_counter(), time.process_time()
            stream.emit()
            emits[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    medians = {name: (1e3 * statistics.median(t), 1e3 * statistics.median(cpu[name]))
               for name, t in emits.items()}
    return medians, 1e3 * statistics.median(pushes[3:])


def accuracy(model, cfg: dict, ann: str, calib_samples: int, threads: int) -> None:
    """Top-1 on the test split: eager fp32 and bf16, inductor bf16 (``Recognizer(backend='inductor',
    precision='bf16')``), onnxruntime fp32, int8 calibrated on the training split (a sample's clips merged
    as evaluation merges them); and the largest logit difference to eager, relative to each clip's
    largest logit."""
    calib = ex.calibration_inputs(cfg, ann, calib_samples)
    test, labels = ex.pipeline_inputs(cfg, ann, cfg["data"]["test"].get("split"))
    clips, how = test[0].shape[0], average_clips(cfg)
    fp32 = ex.onnx_bytes(model)
    sessions = {"onnxruntime fp32": ex.onnx_session(fp32, threads),
                "onnxruntime int8": ex.onnx_session(ex.quantize_int8(fp32, calib), threads)}
    per_batch = max(1, 32 // clips)  # whole samples, about 32 clips a batch
    batches = [np.concatenate(test[i:i + per_batch]) for i in range(0, len(test), per_batch)]
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    runs = {"eager bf16": model}
    if cxx_compiler() is not None:  # inductor compiles C++; without a compiler its row is left out
        runs["inductor bf16"] = compile_for_inference(fuse_conv_bn(model), torch.device("cpu"))
    with torch.inference_mode():
        logits = {"eager fp32": np.concatenate([model(torch.from_numpy(b)).numpy() for b in batches])}
        with bf16:
            for name, run in runs.items():
                logits[name] = np.concatenate([run(torch.from_numpy(b)).float().numpy() for b in batches])
    for name, session in sessions.items():
        logits[name] = np.concatenate([session.run(None, {"keypoint": b})[0] for b in batches])
    print(f"\ntop-1 on {ann} split {cfg['data']['test'].get('split')} ({len(test)} samples of {clips} "
          f"clip(s); int8 calibrated on {len(calib)} training samples)")
    base = logits["eager fp32"]
    merged = {name: merge_clips(torch.from_numpy(out), clips, how).argmax(1).numpy()
              for name, out in logits.items()}
    for name, out in logits.items():
        top1 = 100 * float((merged[name] == np.array(labels)).mean())
        agree = 100 * float((merged[name] == merged["eager fp32"]).mean())
        rel = float((np.abs(out - base).max(1) / np.abs(base).max(1)).max())
        print(f"  {name:<17} top-1 {top1:6.2f}  same class as eager {agree:6.2f}%  "
              f"max relative logit difference {rel:.1e}")


def ort_profile(model, frames: int, threads: int, batch: int = 1, int8: bool = False, runs: int = 15) -> None:
    """onnxruntime's own profile of the model (fp32, or int8 calibrated on random clips) at ``batch`` x
    ``frames``: kernel time per operator type."""
    import collections
    import json
    import tempfile

    b = model.backbone
    gen = np.random.default_rng(0)
    shape = (b.in_channels, frames, b.num_node, model.cls_head.num_person)
    x = gen.standard_normal((batch, *shape)).astype(np.float32)
    graph = ex.onnx_bytes(model)
    if int8:
        calibration = [gen.standard_normal((1, *shape)).astype(np.float32) for _ in range(8)]
        graph = ex.quantize_int8(graph, calibration)
    with tempfile.TemporaryDirectory() as tmp:
        session = ex.onnx_session(graph, threads, profile_prefix=os.path.join(tmp, "ort"))
        for _ in range(runs):
            session.run(None, {"keypoint": x})
        with open(session.end_profiling()) as f:
            events = json.load(f)
    spent, nodes = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            spent[event["args"]["op_name"]] += event["dur"] / runs / 1e3
            nodes[event["args"]["op_name"]] += 1
    precision = "int8" if int8 else "fp32"
    print(f"\nonnxruntime {precision} kernels, B{batch} T{frames} M{x.shape[-1]}, {threads} threads: "
          f"{sum(spent.values()):.1f} ms a run")
    for op, ms in spent.most_common(8):
        print(f"  {op:<16} {ms:7.2f} ms  {nodes[op] // runs} nodes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[64, 300], help="clip lengths T")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (median)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch and onnxruntime)")
    parser.add_argument("--checkpoint", help="one-person model from this checkpoint (default: random "
                        "weights of the Penn Action config)")
    parser.add_argument("--config", type=Path, default=None, help="config for --checkpoint")
    parser.add_argument("--ann", help="with --checkpoint: annotation file for int8 calibration and top-1")
    parser.add_argument("--calib-samples", type=int, default=64,
                        help="int8 calibration samples, spread over the training split (default 64)")
    parser.add_argument("--skip-two-persons", action="store_true", help="only the one-person model")
    parser.add_argument("--accuracy-only", action="store_true", help="with --checkpoint --ann: no timing")
    parser.add_argument("--stream-only", action="store_true", help="only the stream emission timings")
    parser.add_argument("--ort-profile", action="store_true",
                        help="only onnxruntime's kernel time per operator (two-person model)")
    parser.add_argument("--batch", type=int, default=1, help="with --ort-profile: batch size")
    parser.add_argument("--int8", action="store_true", help="with --ort-profile: the int8 graph")
    args = parser.parse_args(argv)
    if (args.batch != 1 or args.int8) and not args.ort_profile:
        parser.error("--batch and --int8 go with --ort-profile")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    if args.ort_profile:
        model2, _ = load_model(TWO_PERSONS, None)
        for frames in args.frames:
            ort_profile(model2, frames, args.threads, args.batch, args.int8)
        return 0
    model1, cfg1 = load_model(args.config or (None if args.checkpoint else ONE_PERSON), args.checkpoint)
    if args.accuracy_only:
        if not (args.checkpoint and args.ann):
            parser.error("--accuracy-only needs --checkpoint and --ann")
        accuracy(model1, cfg1, args.ann, args.calib_samples, args.threads)
        return 0
    if not args.stream_only:
        print("| case | back end | ms | vs eager fp32 | vs fused fp32 |\n|---|---|---|---|---|")
    gen = np.random.default_rng(0)

    def random_calibration(model):
        b = model.backbone
        shape = (1, b.in_channels, 64, b.num_node, model.cls_head.num_person)
        return [gen.standard_normal(shape).astype(np.float32) for _ in range(8)]

    calib1 = ex.calibration_inputs(cfg1, args.ann, args.calib_samples) if args.ann else \
        random_calibration(model1)
    if not args.stream_only:
        speed_table(model1, 1, args.frames, calib1, args)
    if not (args.skip_two_persons or args.stream_only):
        model2, _ = load_model(TWO_PERSONS, None)
        speed_table(model2, 2, args.frames, random_calibration(model2), args)
    int8 = ex.quantize_int8(ex.onnx_bytes(model1), calib1)
    emit_ms, push_ms = stream_emission(model1, cfg1, args.repeats, int8)
    print(f"\nstreaming, window 64, one person ({push_ms:.3f} ms per push without emission; CPU time is "
          "summed over threads, the cost on a loaded machine):")
    for name, (ms, cpu_ms) in emit_ms.items():
        print(f"  {name:<38} {ms:.1f} ms per emission, {cpu_ms:.1f} ms CPU")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.checkpoint and args.ann and not args.stream_only:
        accuracy(model1, cfg1, args.ann, args.calib_samples, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
