"""The benchmark scripts run end to end (tiny sizes; the figures themselves are not checked here)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_bench_model_prints_ratios_and_parity():
    shared_path("reference", "stgcn_reference.py")
    out = run_script("bench_model.py", "--batch", "1", "--frames", "12", "--repeats", "1", "--threads", "1")
    for line in ("train B1 T12 coco M2", "eval B1 T12 ntu M2", "ref/fused-2p", "parity against the oracle"):
        assert line in out
    assert "fused-2p: logits" in out



def test_bench_train_step_prints_ratios_parity_and_ops():
    shared_path("reference", "stgcn_reference.py")
    out = run_script("bench_train_step.py", "--cases", "penn", "--batch", "2", "--frames", "4",
                     "--repeats", "1", "--threads", "1", "--profile")
    for line in ("train B2 T4 coco M1 (15 classes)", "eval B2 T4 coco M1", "ref/stgcn-bf16",
                 "ref/fused-bf16", "ops of one stgcn train step, penn, bf16", "aten.convolution_backward"):
        assert line in out
    assert "stgcn-bf16  " in out and "grads" in out


def test_bench_temporal_conv_checks_the_rewrites_against_onednn():
    out = run_script("bench_temporal_conv.py", "--batch", "1", "--repeats", "1")
    errors = [float(e) for line in out.splitlines() if "max rel. error" in line
              for e in re.findall(r"\d\.\de[-+]\d+", line.split("error")[1])]
    assert len(errors) == 9 and max(errors) < 1e-4, out  # three rewrites x three stages
    assert out.count("of the ceiling") == 21


def test_bench_ntu_inference_runs_on_the_raw_samples():
    shared_path("data", "ntu_raw_samples", "skeletons")
    shared_path("reference", "stgcn_reference.py")
    out = run_script("bench_ntu_inference.py", "--repeats", "1", "--threads", "1", "--clips", "3")
    assert "with a padded second person" in out and "fused, padding reused" in out


def test_bench_data_compares_loader_and_model():
    out = run_script("bench_data.py", "--samples", "48", "--batches", "2", "--workers", "1",
                     "--batch-size", "4", "--model-steps", "1", "--threads", "1")
    assert "loader / model =" in out


def test_bench_pack_measures_both_storages():
    out = run_script("bench_pack.py", "--samples", "120", "--workers", "1", "--batch", "8")
    assert "1 workers: sum of private dirty (MiB)" in out and "n/a" not in out


def test_bench_procs_times_one_process_against_two():
    out = run_script("bench_procs.py", "--batch", "2", "--frames", "4", "--repeats", "1", "--warmup", "1")
    assert "1 process x" in out and "2 processes x" in out and "parallel / single speed:" in out


def tiny_checkpoint(tmp_path: Path) -> tuple[str, str]:
    """A checkpoint of the tiny synthetic config (random weights) and a synthetic annotation file."""
    import stgcn
    from stgcn.data import dump_pickle, make_synthetic
    from stgcn.engine.config import load_config
    from stgcn.models.checkpoint import save_checkpoint
    from tests.engine.tiny import write_tiny_config

    cfg = load_config(str(write_tiny_config(tmp_path)))
    save_checkpoint(tmp_path / "m.pth", stgcn.build_model(cfg["model"]), meta={"config_dict": cfg})
    dump_pickle(make_synthetic(6, 4, "coco", min_frames=20, max_frames=30), tmp_path / "a.pkl")
    return str(tmp_path / "m.pth"), str(tmp_path / "a.pkl")


def test_bench_inference_times_every_back_end(tmp_path):
    checkpoint, ann = tiny_checkpoint(tmp_path)
    out = run_script("bench_inference.py", "--frames", "8", "--repeats", "1", "--threads", "1",
                     "--skip-two-persons", "--checkpoint", checkpoint, "--ann", ann, "--calib-samples", "2")
    for name in ("eager fp32", "fused bf16", "onnxruntime fp32", "onnxruntime int8", "ms per emission",
                 "max relative logit difference", "eager bf16        top-1"):
        assert name in out
    from stgcn.inference.compiled import cxx_compiler

    assert ("inductor bf16     top-1" in out) == (cxx_compiler() is not None)
    emissions = [line.split()[0:2] for line in out.splitlines() if "ms per emission" in line]
    assert ["onnxruntime", "int8"] in emissions


def test_bench_inference_profiles_onnxruntime_kernels():
    out = run_script("bench_inference.py", "--ort-profile", "--frames", "8", "--threads", "1")
    assert "onnxruntime fp32 kernels, B1 T8 M2, 1 threads" in out
    rows = [line.split() for line in out.splitlines() if line.endswith("nodes")]
    assert "Conv" in [r[0] for r in rows] and all(float(r[1]) >= 0 for r in rows)
    out = run_script("bench_inference.py", "--ort-profile", "--frames", "8", "--threads", "1", "--batch", "2",
                     "--int8")
    assert "onnxruntime int8 kernels, B2 T8 M2, 1 threads" in out
    assert "QLinearConv" in [line.split()[0] for line in out.splitlines() if line.endswith("nodes")]


def test_stream_accuracy_prints_a_row_per_window(tmp_path):
    checkpoint, ann = tiny_checkpoint(tmp_path)
    out = run_script("stream_accuracy.py", checkpoint, "--ann", ann, "--split", "val", "--windows", "16",
                     "all", "--timed-clips", "1", "--threads", "1")
    assert "| 16 |" in out and "| all |" in out
    from stgcn.inference.api import Recognizer
    from stgcn.inference.export import export

    model = export(Recognizer.from_checkpoint(checkpoint).model, tmp_path / "m.onnx")
    out = run_script("stream_accuracy.py", checkpoint, "--ann", ann, "--split", "val", "--windows", "16",
                     "--timed-clips", "1", "--threads", "1", "--onnx-model", str(model))
    assert "m.onnx in onnxruntime" in out and "| 16 |" in out


def test_bench_stgcnpp_compares_the_models_and_its_mstcn_paths():
    out = run_script("bench_stgcnpp.py", "--batch-size", "2", "--eval-batch-size", "2", "--frames", "8",
                     "--repeats", "1", "--precision", "fp32")
    assert "ST-GCN++: 1.38 M parameters" in out
    assert "train fp32 B2: ST-GCN " in out and "ST-GCN++ per-branch" in out and "ST-GCN++ fused" in out
    assert "ST-GCN++ chained-max" in out


def test_bench_pack_ntu_set_is_an_ntu60_split_file(tmp_path):
    """The generated start-up set: NTU60 3D shapes, 60 classes, xsub splits, read by PoseDataset."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_pack import make_ntu_annotations

    from stgcn.data import PoseDataset, load_pickle

    make_ntu_annotations(tmp_path / "ntu.pkl", 90, min_frames=30, max_frames=40)
    data = load_pickle(tmp_path / "ntu.pkl")
    shapes = {a["keypoint"].shape[:1] + a["keypoint"].shape[2:] for a in data["annotations"]}
    assert shapes == {(2, 25, 3)}
    assert {a["keypoint"].dtype for a in data["annotations"]} == {np.dtype(np.float32)}
    assert {a["label"] for a in data["annotations"]} == set(range(60))
    assert all(30 <= a["total_frames"] <= 40 for a in data["annotations"])
    train = PoseDataset(tmp_path / "ntu.pkl", [], split="xsub_train")
    val = PoseDataset(tmp_path / "ntu.pkl", [], split="xsub_val")
    assert len(train) + len(val) == 90 and 0 < len(val) < len(train)
