"""Models: ``build_model(cfg['model'])`` turns an mmaction2 0.x model dict into a module."""

from __future__ import annotations

from stgcn.errors import StgcnError
from stgcn.models.stgcn import STGCN, SkeletonGCN, STGCNHead
from stgcn.registry import build_from_table

BACKBONES = {"STGCN": STGCN}
HEADS = {"STGCNHead": STGCNHead}
RECOGNIZERS = {"SkeletonGCN": SkeletonGCN}


def build_model(model_cfg: dict) -> SkeletonGCN:
    """Build ``dict(type='SkeletonGCN', backbone=dict(type='STGCN', ...), cls_head=dict(...))``."""
    if not isinstance(model_cfg, dict):
        raise StgcnError(f"model config must be a dict, got {type(model_cfg).__name__}")
    cfg = dict(model_cfg)
    kind = cfg.pop("type", None)
    if kind not in RECOGNIZERS:
        raise StgcnError(f"model.type: unknown recognizer {kind!r}; valid: {', '.join(RECOGNIZERS)}")
    for key in ("train_cfg", "test_cfg"):
        if cfg.pop(key, None) not in (None, {}):
            raise StgcnError(f"model.{key} has no effect on SkeletonGCN; remove it or set it to None")
    unknown = set(cfg) - {"backbone", "cls_head"}
    if unknown:
        raise StgcnError(f"model: unknown keys {sorted(unknown)}; SkeletonGCN takes backbone, cls_head")
    if "backbone" not in cfg or "cls_head" not in cfg:
        raise StgcnError("model needs both 'backbone' and 'cls_head' dicts")
    backbone = build_from_table(cfg["backbone"], BACKBONES, "model.backbone")
    head = build_from_table(cfg["cls_head"], HEADS, "model.cls_head")
    return RECOGNIZERS[kind](backbone, head)


__all__ = ["build_model", "STGCN", "STGCNHead", "SkeletonGCN"]
