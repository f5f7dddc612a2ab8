"""The Python inference API: a trained checkpoint in, class scores and names out.

``Recognizer.from_checkpoint(path_or_url_or_zoo_name)`` rebuilds the model from the config stored in the
checkpoint by ``tools/train.py`` (or the one given), loads the weights strictly and runs each sample
through the config's *test* pipeline (``data.test.pipeline``) exactly as ``tools/test.py`` does, so
``scores`` equals what ``tools/test.py --out`` writes for the same samples as probabilities (the softmax
of its logits, or its scores as they are when clips average as probabilities), in fp32 (``precision`` and
``backend`` choose faster ways: ``Recognizer.from_checkpoint``). Samples
are annotation-format dicts: ``keypoint [M, T, V, C]`` (``[T, V, C]`` is one person),
``keypoint_score [M, T, V]``, ``img_shape``, ``total_frames``; ``label`` and ``frame_dir`` are optional.

Batches run on the BatchNorm-folded model (``stgcn.models.fuse``) when it reproduces the plain model's
scores on a probe input. When a test pipeline yields several clips per sample (a leading clip axis, 1.x
configs), they merge as ``tools/test.py`` merges them (``stgcn.engine.test.merge_clips``): the mean of
the clips' softmax scores (``test_cfg.average_clips='prob'``), or of their
logits before the softmax ('score').
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from stgcn.data.classes import resolve_class_names
from stgcn.data.dataset import PoseDataset, SampleSpec
from stgcn.data.transforms import build_pipeline
from stgcn.engine.config_1x import average_clips
from stgcn.engine.runtime import autocast
from stgcn.engine.test import merge_clips
from stgcn.errors import StgcnError
from stgcn.inference.compiled import PRECISIONS, check_precision, compile_for_inference
from stgcn.inference.inputs import check_img_shape, check_label, needs_img_shape, sample_arrays
from stgcn.progress import Progress

logger = logging.getLogger("stgcn")
DATASET_KEYS = ("nan_policy", "start_index", "modality")  # data.test settings that shape a sample
FUSE_TOLERANCE = 1e-5
BACKENDS = ("torch", "onnxruntime", "inductor")


@dataclass
class Prediction:
    """One sample's result: softmax ``scores`` (num_classes,), the ``top_k`` (index, name, score) rows."""

    scores: np.ndarray
    top_k: list[tuple[int, str | None, float]]
    frame_dir: str | None = None
    label: int | None = None


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', ... -> a torch.device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise StgcnError(f"device {device!r} is not a torch device; use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise StgcnError(f"device {device!r}: CUDA is not available here; use --device cpu")
    return dev


def _load_config(config: str | os.PathLike | dict | None, meta: dict, checkpoint: str) -> dict:
    from stgcn.engine.config import load_config

    if isinstance(config, dict):
        return config
    if config is not None:
        return load_config(config)
    if isinstance(meta.get("config_dict"), dict):
        return meta["config_dict"]
    raise StgcnError(f"{checkpoint}: the checkpoint carries no config (not written by tools/train.py); "
                     "pass the model's config: --config CONFIG (Python: config='CONFIG.py')")


def _test_dataset_cfg(cfg: dict) -> dict:
    data = cfg.get("data") or {}
    test = data.get("test")
    while isinstance(test, dict) and test.get("type") == "RepeatDataset":
        test = test.get("dataset")
    if not isinstance(test, dict) or not isinstance(test.get("pipeline"), (list, tuple)):
        raise StgcnError("config: data.test.pipeline is missing; inference applies the test pipeline, so "
                         "give a config with data = dict(test=dict(pipeline=[...]))")
    return test


class Recognizer:
    """A trained ST-GCN ready for inference: ``Recognizer.from_checkpoint(...).predict(samples)``."""

    def __init__(self, model: nn.Module, cfg: dict, class_names: list[str] | None = None,
                 device: str | torch.device = "cpu", fuse: bool = True, backend: str | None = None,
                 onnx_model: str | os.PathLike | bytes | None = None, precision: str = "fp32") -> None:
        backend = backend or ("onnxruntime" if onnx_model is not None else "torch")
        if backend not in BACKENDS:
            raise StgcnError(f"backend {backend!r} is not valid; use one of {', '.join(BACKENDS)}")
        check_precision(precision, backend)
        self.precision = precision
        if onnx_model is not None:
            what = "the ONNX bytes" if isinstance(onnx_model, bytes) else repr(str(onnx_model))
            if backend != "onnxruntime":
                raise StgcnError(f"onnx_model={what} runs on backend='onnxruntime', not "
                                 f"{backend!r}; drop backend= or pass backend='onnxruntime'")
            if not isinstance(onnx_model, bytes) and not os.path.isfile(onnx_model):
                raise StgcnError(f"{onnx_model}: ONNX model file not found; write one with "
                                 "stgcn export CHECKPOINT OUT.onnx [--int8 --calib ANN]")
        self.onnx_model = onnx_model
        self.device = resolve_device(device)
        if backend == "onnxruntime" and self.device.type != "cpu":
            raise StgcnError(f"backend 'onnxruntime' runs on the CPU, not {self.device}; use device='cpu'")
        self.backend = backend
        self.model = model.eval().to(self.device)
        self.cfg = cfg
        backbone, head = model.backbone, model.cls_head
        self.num_classes: int = head.num_classes
        if class_names is not None:
            class_names = resolve_class_names(class_names, self.num_classes, "class_names")
        self.class_names = class_names
        self.num_person: int = head.num_person
        self.num_joints: int = backbone.num_node
        self.in_channels: int = backbone.in_channels
        self.layout: str | dict | None = (cfg["model"]["backbone"].get("graph_cfg") or {}).get("layout")
        # joints of the layout that the training data never had (Penn Action in coco: eyes, ears)
        self.absent_joints: tuple[str, ...] = tuple(cfg.get("absent_joints") or ())
        self.spec = SampleSpec(self.num_joints, self.in_channels, self.num_classes, self.num_person,
                               self.layout)
        test = _test_dataset_cfg(cfg)
        self.pipeline_cfg = list(test["pipeline"])
        self.needs_img_shape = needs_img_shape(self.pipeline_cfg)
        self.dataset_args = {k: test[k] for k in DATASET_KEYS if k in test}
        self.average_clips = average_clips(cfg)  # as tools/test.py merges clips
        loader = (cfg.get("data") or {}).get("test_dataloader") or {}
        self.batch_size = int(loader.get("videos_per_gpu", 16))
        self.fuse = fuse

    @classmethod
    def from_checkpoint(cls, checkpoint: str, config: str | dict | None = None, device: str = "cpu",
                        label_map: str | None = None, backend: str | None = None,
                        onnx_model: str | os.PathLike | None = None, precision: str = "fp32") -> Recognizer:
        """Load a checkpoint (path, URL or model zoo name); ``config`` when the checkpoint has none.

        ``backend='onnxruntime'`` runs the checkpoint's fp32 graph (``stgcn.inference.export``) in
        onnxruntime; ``onnx_model=PATH`` runs that file instead (implies the onnxruntime back end), such
        as the int8 model ``stgcn export --int8`` writes for this checkpoint: the fastest choice for
        streaming. ``backend='inductor'`` compiles the model with ``torch.compile`` (once per input
        shape; ``stgcn.inference.compiled``); ``precision='bf16'`` runs the torch or inductor back end
        under bf16 autocast (scores within ~1e-2 of fp32's). The checkpoint still gives the config, test
        pipeline and class names. Class names come from ``label_map`` (a text file, one name per line),
        else the checkpoint's ``meta['class_names']``, else the config's ``class_names``, else the model
        zoo entry.
        """
        from stgcn import build_model
        from stgcn.hub import resolve_checkpoint
        from stgcn.models.checkpoint import load_checkpoint

        path, entry = resolve_checkpoint(checkpoint)
        meta = load_checkpoint_meta(path)
        if config is None and entry is not None and not isinstance(meta.get("config_dict"), dict):
            config = entry.config_path()
        cfg = _load_config(config, meta, checkpoint)
        if "model" not in cfg:
            raise StgcnError(f"{config or checkpoint}: the config has no 'model'; give an ST-GCN config")
        model = build_model(cfg["model"])
        load_checkpoint(model, path, map_location="cpu", strict=True)
        num_classes = model.cls_head.num_classes
        if label_map is not None:
            names = resolve_class_names(str(label_map), num_classes, f"label map {label_map}")
        elif meta.get("class_names") is not None:
            names = resolve_class_names(meta["class_names"], num_classes, f"{checkpoint}: meta.class_names")
        elif cfg.get("class_names") is not None:
            names = resolve_class_names(cfg["class_names"], num_classes, "config: class_names")
        elif entry is not None:
            names = resolve_class_names(entry.classes, num_classes, f"model zoo {entry.name}: classes")
        else:
            names = None
        return cls(model, cfg, names, device, backend=backend, onnx_model=onnx_model, precision=precision)

    # ---------------------------------------------------------------------------------------------------

    @functools.cached_property
    def fast_model(self) -> nn.Module | None:
        """The BatchNorm-folded model when it reproduces the plain model's softmax scores, else None
        (built at first use: a user error in the input then costs no fusing)."""
        from stgcn.models.fuse import fuse_conv_bn

        if not self.fuse:
            return None
        try:
            fused = fuse_conv_bn(self.model)
        except StgcnError:
            return None
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, self.in_channels, 4, self.num_joints, self.num_person, generator=gen)
        with torch.inference_mode():
            x = x.to(self.device)
            a, b = (torch.softmax(m(x).float(), 1) for m in (self.model, fused))
        return fused if float((a - b).abs().max()) <= FUSE_TOLERANCE else None

    @functools.cached_property
    def compiled_model(self):
        """``backend='inductor'``: the (BN-folded when it can be) model compiled by inductor."""
        return compile_for_inference(self.fast_model or self.model, self.device)

    @functools.cached_property
    def ort_model(self):
        """``backend='onnxruntime'``: ``onnx_model`` (default: the model exported in fp32) in an
        onnxruntime session, as a callable tensor -> logits tensor (threads: torch's thread count)."""
        from stgcn.inference.export import INPUT_NAME, check_session_input, onnx_bytes, onnx_session

        source = onnx_bytes(self.model) if self.onnx_model is None else self.onnx_model
        session = onnx_session(source, threads=torch.get_num_threads())
        name = "ONNX model" if self.onnx_model is None or isinstance(self.onnx_model, bytes) \
            else str(self.onnx_model)
        check_session_input(session, (self.in_channels, self.num_joints, self.num_person), name)
        return lambda x: torch.from_numpy(session.run(None, {INPUT_NAME: x.numpy()})[0])

    @functools.cached_property
    def _transforms(self) -> list:
        """The test pipeline's transforms, built once and reused by every call (test-mode transforms
        keep no state between samples; building them costs more than running them on one window)."""
        return build_pipeline(self.pipeline_cfg).transforms

    def _check(self, sample: object, index: int) -> dict:
        """One input sample -> an annotation record the test pipeline accepts (or a one-line error)."""
        if not isinstance(sample, dict):
            raise StgcnError(f"sample {index}: expected an annotation dict with 'keypoint', got "
                             f"{type(sample).__name__}")
        name = sample.get("frame_dir", index)
        if "keypoint" not in sample:
            raise StgcnError(f"sample {name}: no 'keypoint'; give keypoint [M, T, V, C] (or [T, V, C])")
        kp, score = sample_arrays(sample, name)
        if kp.ndim != 4:
            raise StgcnError(f"sample {name}: keypoint has shape {kp.shape}; expected [M, T, V, C] or "
                             "[T, V, C]")
        if kp.shape[1] == 0 or kp.shape[0] == 0:
            raise StgcnError(f"sample {name}: keypoint is empty (shape {kp.shape}, T=0 frames); give at "
                             "least one frame with one person")
        if kp.shape[2] != self.num_joints:
            layout = self.layout if isinstance(self.layout, str) else "custom"
            raise StgcnError(f"sample {name}: keypoint has V={kp.shape[2]} joints but the checkpoint's "
                             f"layout {layout} has {self.num_joints}; give keypoints in that layout or use a "
                             "checkpoint trained on yours")
        label = sample.get("label")
        label = 0 if label is None else check_label(label, self.num_classes, name)
        record = dict(sample, keypoint=kp, frame_dir=str(name), label=label)
        if sample.get("img_shape") is not None:
            record["img_shape"] = check_img_shape(sample["img_shape"], f"sample {name}")
        elif self.needs_img_shape:
            raise StgcnError(f"sample {name}: no img_shape; this checkpoint's test pipeline divides 2D "
                             "pixel coordinates by the frame size (PreNormalize2D): give "
                             "img_shape=(height, width) of the video the keypoints come from "
                             "(stgcn predict: --img-shape H W)")
        if score is not None:
            if score.shape != kp.shape[:3]:
                raise StgcnError(f"sample {name}: keypoint_score has shape {score.shape}, expected "
                                 f"{kp.shape[:3]} ([M, T, V] of keypoint)")
            record["keypoint_score"] = score
        finite = np.isfinite(kp).all() and (score is None or np.isfinite(score).all())
        if not finite and self.dataset_args.get("nan_policy") != "zero":
            raise StgcnError(f"sample {name}: keypoint holds NaN/inf values; set missing joints to 0 with "
                             "keypoint_score 0 (or interpolate them), or give the config "
                             "data.test.nan_policy='zero'")
        record.setdefault("total_frames", kp.shape[1])
        return record

    def _dataset(self, samples: dict | list[dict]) -> tuple[PoseDataset, list[dict]]:
        items = [samples] if isinstance(samples, dict) else list(samples)
        if not items:
            raise StgcnError("no samples given; pass an annotation dict or a non-empty list of them")
        records = [self._check(s, i) for i, s in enumerate(items)]
        dataset = PoseDataset(records, self._transforms, test_mode=True, spec=self.spec,
                              **self.dataset_args)
        return dataset, items

    def _input(self, dataset: PoseDataset, i: int) -> torch.Tensor:
        """The test pipeline's tensor for sample i: (C, T, V, M), or (clips, C, T, V, M)."""
        record = dataset.prepare(i)
        shape = tuple(record["keypoint"].shape)
        try:
            x = dataset.pipeline(record)["keypoint"]
        except StgcnError as err:
            score = " + keypoint_score" if "keypoint_score" in record else ""
            raise StgcnError(f"sample {dataset.frame_dirs[i]} (keypoint {shape}{score}): {err}; the model "
                             f"takes in_channels={self.in_channels}, V={self.num_joints}") from None
        x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        name = dataset.frame_dirs[i]
        if x.dim() not in (4, 5) or x.shape[-2] != self.num_joints:
            raise StgcnError(f"sample {name}: the test pipeline gives shape {tuple(x.shape)}, "
                             f"expected (C, T, {self.num_joints}, M); check data.test.pipeline")
        c, m = x.shape[-4], x.shape[-1]
        if c != self.in_channels:
            raise StgcnError(f"sample {name}: the test pipeline makes C={c} input channels "
                             f"but the model takes in_channels={self.in_channels}; give keypoint [..., C] "
                             "with the coordinates the model was trained on (x, y + keypoint_score for 2D; "
                             "x, y, z for 3D)")
        if m != self.num_person:
            raise StgcnError(f"sample {name}: the test pipeline gives M={m} persons but the model "
                             f"takes num_person={self.num_person}; check FormatGCNInput(num_person=...)")
        return x

    @torch.inference_mode()
    def _forward(self, batch: list[torch.Tensor]) -> np.ndarray:
        """(B, num_classes) softmax scores of same-shaped pipeline outputs; clips averaged."""
        x = torch.stack(batch).to(self.device, non_blocking=True).float()
        clips = x.shape[1] if x.dim() == 6 else 1
        x = x.flatten(0, 1) if x.dim() == 6 else x
        if self.backend == "onnxruntime":
            model = self.ort_model
        elif self.backend == "inductor":
            model = self.compiled_model
        else:
            model = self.fast_model if self.fast_model is not None else self.model
        with autocast(self.device, PRECISIONS[self.precision]):
            logits = model(x).float()
        scores = merge_clips(logits, clips, self.average_clips)
        if self.average_clips != "prob":
            scores = torch.softmax(scores, -1)
        return scores.cpu().numpy()

    def scores(self, samples: dict | list[dict], batch_size: int | None = None,
               progress: bool | None = None) -> np.ndarray:
        """(N, num_classes) float32 softmax scores, in input order."""
        dataset, _ = self._dataset(samples)
        size = max(1, int(batch_size or self.batch_size))
        enabled = progress if progress is not None else (None if len(dataset) > size else False)
        bar = Progress(total=len(dataset), desc="predict", enabled=enabled)
        out, pending = [], []
        for i in range(len(dataset)):
            x = self._input(dataset, i)
            if pending and (x.shape != pending[0].shape or len(pending) == size):
                out.append(self._forward(pending))
                bar.update(len(pending))
                pending = []
            pending.append(x)
        out.append(self._forward(pending))
        bar.update(len(pending))
        bar.close()
        return np.concatenate(out).astype(np.float32)

    def predict(self, samples: dict | list[dict], top_k: int = 5, batch_size: int | None = None,
                progress: bool | None = None) -> list[Prediction]:
        """One :class:`Prediction` per sample, in input order."""
        if top_k < 1:
            raise StgcnError(f"top_k must be at least 1, got {top_k}")
        items = [samples] if isinstance(samples, dict) else list(samples)
        scores = self.scores(items, batch_size, progress)
        k = min(top_k, self.num_classes)
        preds = []
        for sample, row in zip(items, scores, strict=True):
            order = np.argsort(-row, kind="stable")[:k]
            top = [(int(c), self.class_names[c] if self.class_names else None, float(row[c])) for c in order]
            label = sample.get("label")
            preds.append(Prediction(row, top, None if sample.get("frame_dir") is None
                                    else str(sample["frame_dir"]),
                                    None if label is None else int(label)))
        return preds


def load_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The checkpoint's ``meta`` dict (empty when it has none)."""
    from stgcn.models.checkpoint import read_checkpoint

    meta = read_checkpoint(path).get("meta")
    return meta if isinstance(meta, dict) else {}
