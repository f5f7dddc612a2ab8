"""PYSKL configs (mmcv-1.x style: `data=dict(videos_per_gpu=..., train=...)`, `optimizer`, `lr_config`,
`total_epochs`, model `RecognizerGCN`) translated for the engine, which already reads that shape.

What differs from mmaction2 0.x is the pipeline vocabulary and clip averaging: `UniformSample` (test mode
from the dataset) becomes `UniformSampleFrames(test_mode=...)`, `Collect` + `ToTensor` become
`PackActionInputs` (which splits multi-clip samples as PYSKL's `FormatGCNInput` does), PYSKL's dataset
options are checked, and clip scores are averaged as probabilities (`average_clips='prob'`).
"""

from __future__ import annotations

from stgcn.engine.config_1x import as_in_1x
from stgcn.errors import StgcnError

PYSKL_DATASET_DEFAULTS = {"valid_ratio": None, "box_thr": None, "class_prob": None, "memcached": False,
                          "squeeze": True, "multi_class": False}


def _pyskl_pipeline(steps: list, test_mode: bool, source: str) -> list:
    out = []
    for step in steps:
        step = dict(step)
        kind = step.get("type")
        if kind == "UniformSample":  # PYSKL's name; test mode comes from the dataset
            if step.pop("p_interval", 1) != 1:
                raise StgcnError(f"{source}: UniformSample p_interval is not supported; remove it")
            step = dict(step, type="UniformSampleFrames", test_mode=test_mode)
        elif kind == "Collect":  # Collect + ToTensor of keypoint/label -> one PackActionInputs
            if set(step.get("keys", [])) != {"keypoint", "label"} or step.get("meta_keys"):
                raise StgcnError(f"{source}: Collect must keep keys ['keypoint', 'label'] and no meta_keys")
            step = {"type": "PackActionInputs"}
        elif kind == "ToTensor":
            continue
        out.append(as_in_1x(step))
    return out


def translate_pyskl(cfg: dict, source: str) -> dict:
    """PYSKL's mmcv-1.x config: pipelines and datasets adapted, clip averaging 'prob', the rest as 0.x."""
    out = dict(cfg)
    data = dict(cfg["data"])
    for part in ("train", "val", "test"):
        if part in data:
            data[part] = _pyskl_dataset(data[part], part != "train", f"data.{part}", source)
    out["data"] = data
    out["test_cfg"] = {"average_clips": (cfg.get("test_cfg") or {}).get("average_clips", "prob")}
    evaluation = cfg.get("evaluation") or {}
    metrics = evaluation.get("metrics", ["top_k_accuracy"])
    out["converted_from"] = {"format": "pyskl", "notes": [], "topk": (1, 5),
                             "test_metrics": [metrics] if isinstance(metrics, str) else list(metrics)}
    return out


def _pyskl_dataset(ds: dict, test_mode: bool, where: str, source: str) -> dict:
    ds = dict(ds)
    if ds.get("type") == "RepeatDataset":
        ds["dataset"] = _pyskl_dataset(ds["dataset"], test_mode, f"{where}.dataset", source)
        return ds
    for key, default in PYSKL_DATASET_DEFAULTS.items():
        if ds.pop(key, default) != default:
            raise StgcnError(f"{source}: {where}.{key} is not supported; remove it (default {default!r})")
    ds["pipeline"] = _pyskl_pipeline(ds.get("pipeline", []), test_mode, source)
    return ds
