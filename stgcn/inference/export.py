"""Export a trained ST-GCN for deployment: ONNX (fp32 or int8) and TorchScript.

The exported graph is the BN-folded model (``stgcn.models.fuse``) with the model's own input,
``keypoint (N, C, T, V, M)`` float32 -> ``logits (N, num_classes)``: batch N and frames T are dynamic,
C, V and M are fixed from the config. Export traces the forward, where the padded-person reuse of
eager inference (``stgcn.models.persons``) is off, so every person is computed by the graph.

int8 is onnxruntime's static quantization (QDQ format, per-channel int8 weights, uint8 activations),
calibrated on samples put through the config's test pipeline. Every file is written atomically and
an existing file is kept unless ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stgcn.errors import StgcnError
from stgcn.fileio import write_atomic
from stgcn.models.fuse import FusedSkeletonGCN, fuse_conv_bn

FORMATS = ("onnx", "torchscript")
INPUT_NAME, OUTPUT_NAME = "keypoint", "logits"
DEFAULT_OPSET = 17
INSTALL_HINT = 'pip install "stgcn[onnx]"'


def require_onnx() -> None:
    """Raise a one-line :class:`StgcnError` when onnx or onnxruntime is not installed."""
    missing = []
    for name in ("onnx", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise StgcnError(f"{' and '.join(missing)} not installed; ONNX export and int8 need "
                         f"{INSTALL_HINT}")


def fused_model(model: nn.Module) -> FusedSkeletonGCN:
    """The BN-folded eval copy of a SkeletonGCN (a fused model is returned unchanged)."""
    if isinstance(model, FusedSkeletonGCN):
        return model
    return fuse_conv_bn(model.eval())


def example_input(model: FusedSkeletonGCN, batch: int = 1, frames: int = 32) -> torch.Tensor:
    """A random ``(N, C, T, V, M)`` input of the model's shape, every person real."""
    gen = torch.Generator().manual_seed(0)
    shape = (batch, model.in_channels, frames, model.num_node, model.num_person)
    return torch.randn(shape, generator=gen)


def check_target(out: str | os.PathLike, overwrite: bool, source: str | os.PathLike | None = None) -> Path:
    """The export's output path: not a folder, not the ``source`` checkpoint, not an existing file
    without ``overwrite``."""
    from stgcn.fileio import check_output_path

    return check_output_path(out, overwrite, flag="OUT", inputs=() if source is None else (source,))


def onnx_bytes(model: nn.Module, opset: int = DEFAULT_OPSET, example: torch.Tensor | None = None) -> bytes:
    """The fused model as an ONNX graph (TorchScript-based exporter, no onnxscript needed); ``example``
    is the traced input (default random, any shape of the model's input does)."""
    require_onnx()
    fused = fused_model(model).cpu()
    example = example_input(fused) if example is None else example
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation
        torch.onnx.export(
            fused, (example,), buffer, dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch", 2: "frames"}, OUTPUT_NAME: {0: "batch"}})
    return buffer.getvalue()


def torchscript_bytes(model: nn.Module) -> bytes:
    """The fused model compiled with ``torch.jit.script`` (any N and T; no Python needed to run it)."""
    scripted = torch.jit.script(fused_model(model).cpu())
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    return buffer.getvalue()


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer logs a warning per shape op it leaves in float; keep the console clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


@contextlib.contextmanager
def _working_dir(path: str):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def quantize_int8(fp32_onnx: bytes, calibration: list[np.ndarray]) -> bytes:
    """Static int8 quantization of an ONNX model, calibrated on ``(N, C, T, V, M)`` float32 batches."""
    require_onnx()
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise StgcnError("int8 calibration needs at least one sample; check --calib and --calib-samples")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(calibration)

        def get_next(self) -> dict | None:
            item = next(self._items, None)
            return None if item is None else {INPUT_NAME: item}

    with tempfile.TemporaryDirectory(prefix="stgcn-int8-") as tmp, _quiet_quantizer(), _working_dir(tmp):
        # onnxruntime's shape inference writes scratch files into the working directory (and leaves them
        # when it fails), so it runs inside the temporary folder; models its symbolic shape inference
        # cannot follow (ST-GCN++'s fused blocks) are prepared without it.
        fp32, prep, int8 = (os.path.join(tmp, name) for name in ("fp32.onnx", "prep.onnx", "int8.onnx"))
        Path(fp32).write_bytes(fp32_onnx)
        try:
            quant_pre_process(fp32, prep)
        except Exception:  # noqa: BLE001 - onnxruntime raises plain Exception here
            quant_pre_process(fp32, prep, skip_symbolic_shape=True)
        quantize_static(prep, int8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return Path(int8).read_bytes()


def pipeline_inputs(cfg: dict, ann_file: str | os.PathLike, split: str | None,
                    limit: int | None = None, spread: bool = False) -> tuple[list[np.ndarray], list[int]]:
    """Samples of ``ann_file`` (``split`` when the file has splits) through the config's test pipeline:
    one float32 batch per sample, ``(clips, C, T, V, M)`` (clips is 1 unless the pipeline takes several
    clips per sample), and their labels. At most ``limit`` samples: the first ones, or with ``spread``
    evenly spaced over the file (annotation files are often sorted by class)."""
    from stgcn.data import build_dataset
    from stgcn.data.dataset import SampleSpec

    data_cfg = dict(type="PoseDataset", ann_file=str(ann_file), pipeline=cfg["data"]["test"]["pipeline"])
    if split is not None and _has_splits(ann_file):
        data_cfg["split"] = split
    dataset = build_dataset(data_cfg, test_mode=True, spec=SampleSpec.from_model_config(cfg["model"]))
    count = len(dataset) if limit is None else min(limit, len(dataset))
    picked = range(count)
    if spread and count < len(dataset):
        picked = np.linspace(0, len(dataset) - 1, count).round().astype(int).tolist()
    inputs = []
    for i in picked:
        x = dataset[i]["keypoint"].numpy().astype(np.float32)
        inputs.append(x if x.ndim == 5 else x[None])
    return inputs, [dataset.labels[i] for i in picked]


def calibration_inputs(cfg: dict, ann_file: str | os.PathLike, num_samples: int,
                       split: str | None = None) -> list[np.ndarray]:
    """``num_samples`` samples of ``ann_file`` (default: the config's training split when the file has
    splits), evenly spaced over it so that every part of a class-sorted file calibrates the int8 ranges,
    through the config's test pipeline, each ``(clips, C, T, V, M)`` float32."""
    if num_samples < 1:
        raise StgcnError(f"--calib-samples must be >= 1, got {num_samples}")
    if split is None:
        split = cfg["data"].get("train", {}).get("split")
    return pipeline_inputs(cfg, ann_file, split, num_samples, spread=True)[0]


def _has_splits(ann_file: str | os.PathLike) -> bool:
    from stgcn.data.safe_pickle import load_pickle

    path = Path(ann_file)
    if not path.is_file():
        raise StgcnError(f"{path}: calibration annotation file not found; check --calib")
    data = load_pickle(path)
    return isinstance(data, dict) and "split" in data


def export(model: nn.Module, out: str | os.PathLike, fmt: str = "onnx", opset: int = DEFAULT_OPSET,
           calibration: list[np.ndarray] | None = None, overwrite: bool = False) -> Path:
    """Write ``model`` (a SkeletonGCN) fused to ``out``; int8 ONNX when ``calibration`` is given."""
    if fmt not in FORMATS:
        raise StgcnError(f"--format {fmt!r} is not supported; valid: {', '.join(FORMATS)}")
    out = check_target(out, overwrite)
    if fmt == "torchscript":
        if calibration is not None:
            raise StgcnError("--int8 is only available with --format onnx")
        return write_atomic(out, torchscript_bytes(model))
    data = onnx_bytes(model, opset)
    if calibration is not None:
        data = quantize_int8(data, calibration)
    return write_atomic(out, data)


def onnx_session(path_or_bytes: str | os.PathLike | bytes, threads: int | None = None, spin: bool = False,
                 profile_prefix: str | None = None):
    """An onnxruntime CPU session for an exported model.

    ``threads`` defaults to torch's intra-op thread count, so both runtimes get the same cores.
    ``spin=False`` makes idle worker threads sleep instead of spin-waiting, which on a shared or
    oversubscribed CPU keeps them from taking the cores the busy threads need. One request at a time
    gains nothing from parallel execution of independent nodes: execution is sequential.
    ``profile_prefix`` turns on onnxruntime's profiler (``session.end_profiling()`` writes the file).
    """
    require_onnx()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if profile_prefix is not None:
        options.enable_profiling, options.profile_file_prefix = True, profile_prefix
    source = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own classes (InvalidProtobuf, Fail, ...) are not public
        name = "the ONNX model" if isinstance(source, bytes) else source
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StgcnError(f"{name}: onnxruntime cannot load it ({first}); give a model written by "
                         "stgcn export") from None


def check_session_input(session, shape: tuple[int, int, int], source: str) -> None:
    """A one-line error unless the one input is ``keypoint (N, C, T, V, M)`` with ``shape=(C, V, M)``."""
    inputs = session.get_inputs()
    names = [i.name for i in inputs]
    if names != [INPUT_NAME]:
        raise StgcnError(f"{source}: the ONNX model takes inputs {names}, not one '{INPUT_NAME}'; use a "
                         "model written by stgcn export")
    dims = inputs[0].shape
    c, v, m = shape
    if len(dims) != 5 or (dims[1], dims[3], dims[4]) != (c, v, m):
        raise StgcnError(f"{source}: the ONNX model's {INPUT_NAME} has shape {dims} but the checkpoint's "
                         f"model takes (N, {c}, T, {v}, {m}); export the ONNX model from this checkpoint")


__all__ = ["check_session_input", "export", "onnx_bytes", "torchscript_bytes", "quantize_int8",
           "calibration_inputs", "pipeline_inputs", "onnx_session", "require_onnx"]
