"""ONNX / TorchScript / int8 export: parity with eager on real NTU RGB+D clips, the `stgcn export` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import stgcn
from stgcn.data import dump_pickle, make_synthetic
from stgcn.errors import StgcnError
from stgcn.inference import export as ex
from stgcn.models.checkpoint import save_checkpoint
from tests.conftest import shared_path
from tests.engine.tiny import TINY_CONFIG
from tests.models.helpers import model_cfg, randomize

pytest.importorskip("onnxruntime")  # the [onnx] extra; CI installs it
ROOT = Path(__file__).resolve().parents[2]
CLIPS = {"one person": "S001C001P001R001A001", "two persons": "S001C001P001R001A050"}


def ntu_clip(name: str, frames: int) -> torch.Tensor:
    """A real NTU clip as model input (1, 3, T, 25, 2); a single body is padded with a zero person."""
    from stgcn.data.convert.ntu import convert_file

    keypoint = convert_file(shared_path("data", "ntu_raw_samples", "skeletons", f"{CLIPS[name]}.skeleton"))
    x = np.zeros((3, frames, 25, 2), np.float32)
    part = keypoint[:2, :frames].transpose(3, 1, 2, 0)
    x[:, : part.shape[1], :, : part.shape[3]] = part
    return torch.from_numpy(x)[None]


@pytest.fixture(scope="module")
def ntu_model():
    torch.manual_seed(0)
    model = stgcn.build_model(dict(model_cfg("ntu-rgb+d"), cls_head=dict(
        type="STGCNHead", num_classes=60, in_channels=256, num_person=2)))
    randomize(model)
    return model.eval()


def relative_error(got: np.ndarray, want: torch.Tensor) -> float:
    want = want.detach().numpy()
    return float(np.abs(got - want).max() / np.abs(want).max())


def test_onnx_matches_eager_on_real_clips_at_several_lengths(ntu_model):
    # Traced on a padded clip: the graph must still compute every person (no padded-person cache inside).
    data = ex.onnx_bytes(ntu_model, example=ntu_clip("one person", 16))
    assert ntu_clip("one person", 16)[..., 1].abs().max() == 0
    session = ex.onnx_session(data)
    shape = session.get_inputs()[0].shape
    assert shape == ["batch", 3, "frames", 25, 2]
    for frames in (9, 24, 41):
        for name in CLIPS:
            x = ntu_clip(name, frames)
            with torch.no_grad():
                want = ntu_model(x)
            got = session.run(None, {"keypoint": x.numpy()})[0]
            assert relative_error(got, want) < 1e-5, (name, frames)
    batch = torch.cat([ntu_clip(name, 13) for name in CLIPS])
    with torch.no_grad():
        want = ntu_model(batch)
    assert relative_error(session.run(None, {"keypoint": batch.numpy()})[0], want) < 1e-5


@pytest.mark.parametrize("strategy", ["uniform", "spatial"])
def test_onnx_graph_has_no_layout_transposes_in_its_blocks(strategy):
    """The exported blocks aggregate in NCHW (a matmul, then a dilated conv), without the eager form's
    transposes to and from channels-last rows, which cost onnxruntime time around every block."""
    import onnx

    cfg = model_cfg("coco", num_classes=5)
    cfg["backbone"]["graph_cfg"]["strategy"] = strategy
    model = stgcn.build_model(cfg)
    randomize(model, seed=2)
    model.eval()
    data = ex.onnx_bytes(model)
    ops = [node.op_type for node in onnx.load_from_string(data).graph.node]
    assert ops.count("MatMul") == 10 and ops.count("Transpose") <= 2  # the input's (N, C, T, V, M) only
    session = ex.onnx_session(data)
    x = torch.randn(2, 3, 21, 17, 2)
    with torch.no_grad():
        want = model(x)
    assert relative_error(session.run(None, {"keypoint": x.numpy()})[0], want) < 1e-5


def test_torchscript_matches_eager(ntu_model, tmp_path):
    path = ex.export(ntu_model, tmp_path / "model.pt", "torchscript")
    loaded = torch.jit.load(str(path))
    for frames in (11, 30):
        x = torch.cat([ntu_clip(name, frames) for name in CLIPS])
        with torch.no_grad():
            assert relative_error(loaded(x).numpy(), ntu_model(x)) < 1e-5


def test_int8_is_quantized_and_close_to_fp32(ntu_model, tmp_path):
    import onnx

    calib = [ntu_clip(name, 24).numpy() for name in CLIPS]
    path = ex.export(ntu_model, tmp_path / "int8.onnx", "onnx", calibration=calib)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = ntu_clip("two persons", 24)
    with torch.no_grad():
        want = ntu_model(x).numpy()[0]
    got = ex.onnx_session(path).run(None, {"keypoint": x.numpy()})[0][0]
    assert np.corrcoef(got, want)[0, 1] > 0.9


def test_export_refuses_to_overwrite_and_unknown_formats(ntu_model, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(StgcnError, match="--overwrite"):
        ex.export(ntu_model, out)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(StgcnError, match="valid: onnx, torchscript"):
        ex.export(ntu_model, tmp_path / "x", "tflite")


def test_missing_onnxruntime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(StgcnError, match=r'pip install "stgcn\[onnx\]"') as err:
        ex.require_onnx()
    assert "\n" not in str(err.value)
@pytest.fixture
def tiny_checkpoint(tmp_path):
    from stgcn.engine.config import load_config

    config = tmp_path / "tiny.py"
    config.write_text(TINY_CONFIG)
    cfg = load_config(str(config))
    model = stgcn.build_model(cfg["model"])
    save_checkpoint(tmp_path / "tiny.pth", model, meta={"config_dict": cfg})
    dump_pickle(make_synthetic(12, 4, "coco", min_frames=16, max_frames=20), tmp_path / "ann.pkl")
    return tmp_path


def stgcn_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stgcn.cli", "export", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})


def test_export_command_writes_onnx_and_int8_and_keeps_existing_files(tiny_checkpoint):
    d = tiny_checkpoint
    proc = stgcn_cli("tiny.pth", "m.onnx", cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert "(N, 3, T, 17, 1)" in proc.stdout
    session = ex.onnx_session(d / "m.onnx")
    assert session.run(None, {"keypoint": np.zeros((2, 3, 9, 17, 1), np.float32)})[0].shape == (2, 4)
    again = stgcn_cli("tiny.pth", "m.onnx", cwd=d)
    assert again.returncode == 2 and "--overwrite" in again.stderr and len(again.stderr.splitlines()) == 1
    proc = stgcn_cli("tiny.pth", "q.onnx", "--int8", "--calib", "ann.pkl", "--calib-samples", "3", cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert "calibrated on 3 samples" in proc.stdout
    bad = stgcn_cli("tiny.pth", "q2.onnx", "--int8", cwd=d)
    assert bad.returncode == 2 and "--calib" in bad.stderr and not (d / "q2.onnx").exists()


def test_int8_calibrates_a_test_pipeline_of_several_clips(tmp_path):
    """Configs that test on several clips per sample (the 1.x NTU configs, the quick recipes) calibrate
    on every clip: each sample is one (clips, C, T, V, M) batch."""
    from stgcn.engine.config import load_config

    config = tmp_path / "tiny.py"
    config.write_text(TINY_CONFIG.replace("clip_len=16, test_mode=True", "clip_len=16, num_clips=3, "
                                          "test_mode=True").replace("test_cfg=None", "test_cfg=dict("
                                                                    "average_clips='prob')"))
    cfg = load_config(str(config))
    dump_pickle(make_synthetic(12, 4, "coco", min_frames=16, max_frames=20), tmp_path / "ann.pkl")
    inputs = ex.calibration_inputs(cfg, tmp_path / "ann.pkl", 4)
    assert [x.shape for x in inputs] == [(3, 3, 16, 17, 1)] * 4
    save_checkpoint(tmp_path / "tiny.pth", stgcn.build_model(cfg["model"]), meta={"config_dict": cfg})
    proc = stgcn_cli("tiny.pth", "q.onnx", "--int8", "--calib", "ann.pkl", "--calib-samples", "4",
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    logits = ex.onnx_session(tmp_path / "q.onnx").run(None, {"keypoint": inputs[0]})[0]
    assert logits.shape == (3, 4) and np.isfinite(logits).all()


def test_calibration_samples_spread_over_a_class_sorted_file(tmp_path):
    from stgcn.engine.config import load_config

    config = tmp_path / "tiny.py"
    config.write_text(TINY_CONFIG)
    cfg = load_config(str(config))
    ann = make_synthetic(24, 4, "coco", min_frames=16, max_frames=20)
    ann["annotations"].sort(key=lambda a: a["label"])  # as converters of sorted datasets write them
    ann["split"] = {"train": [a["frame_dir"] for a in ann["annotations"]]}
    dump_pickle(ann, tmp_path / "ann.pkl")
    first, first_labels = ex.pipeline_inputs(cfg, tmp_path / "ann.pkl", "train", 4)
    spread, spread_labels = ex.pipeline_inputs(cfg, tmp_path / "ann.pkl", "train", 4, spread=True)
    assert set(first_labels) == {0} and sorted(spread_labels) == [0, 1, 2, 3]
    picked = ex.calibration_inputs(cfg, tmp_path / "ann.pkl", 4, "train")
    assert all(np.array_equal(a, b) for a, b in zip(picked, spread, strict=True))


def test_int8_stgcnpp_stays_close_to_fp32():
    """ST-GCN++'s temporal max pooling exports as the pooling operator: its eager form pads with -inf,
    a range int8 calibration cannot represent (every output was wrong before)."""
    from stgcn.engine.config import load_config

    cfg = load_config(ROOT / "configs/skeleton/stgcnpp/stgcnpp_penn_action_joint_2d.py")
    torch.manual_seed(0)
    model = stgcn.build_model(cfg["model"]).eval()
    gen = np.random.default_rng(0)
    calib = [gen.standard_normal((2, 3, 24, 17, 1)).astype(np.float32) for _ in range(6)]
    x = gen.standard_normal((8, 3, 24, 17, 1)).astype(np.float32)
    fp32 = ex.onnx_bytes(model)
    got = ex.onnx_session(ex.quantize_int8(fp32, calib)).run(None, {"keypoint": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x))
    assert relative_error(got, want) < 0.1
