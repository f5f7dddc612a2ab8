"""Models: ``build_model(cfg['model'])`` turns an mmaction2 0.x or 1.x / PYSKL model dict into a module.

The recognizer ``type`` picks the vocabulary: ``SkeletonGCN`` (0.x: ``STGCN``, ``STGCNHead``) or
``RecognizerGCN`` (1.x / PYSKL: ``STGCN`` with the 1.x options, ``GCNHead``). Both build the same
:class:`SkeletonGCN` module around the same backbone family.
"""

from __future__ import annotations

from stgcn.errors import StgcnError
from stgcn.models.stgcn import STGCN, GCNBackbone, SkeletonGCN, STGCNHead
from stgcn.models.stgcnpp import GCNHead, build_stgcn_1x
from stgcn.registry import build_from_table

# recognizer type -> (backbone table, head table)
VOCABULARIES = {
    "SkeletonGCN": ({"STGCN": STGCN}, {"STGCNHead": STGCNHead}),
    "RecognizerGCN": ({"STGCN": build_stgcn_1x}, {"GCNHead": GCNHead}),
}


def build_model(model_cfg: dict) -> SkeletonGCN:
    """Build ``dict(type='SkeletonGCN' | 'RecognizerGCN', backbone=dict(...), cls_head=dict(...))``."""
    if not isinstance(model_cfg, dict):
        raise StgcnError(f"model config must be a dict, got {type(model_cfg).__name__}")
    cfg = dict(model_cfg)
    kind = cfg.pop("type", None)
    if kind not in VOCABULARIES:
        raise StgcnError(f"model.type: unknown recognizer {kind!r}; valid: {', '.join(VOCABULARIES)}")
    test_cfg = cfg.pop("test_cfg", None) or {}
    if set(test_cfg) - {"average_clips"}:  # average_clips is read by evaluation (config_1x.average_clips)
        raise StgcnError(f"model.test_cfg: only average_clips has an effect on {kind}; remove "
                         f"{sorted(set(test_cfg) - {'average_clips'})}")
    for key in ("train_cfg", "data_preprocessor"):
        if cfg.pop(key, None) not in (None, {}):
            raise StgcnError(f"model.{key} has no effect on {kind}; remove it or set it to None")
    unknown = set(cfg) - {"backbone", "cls_head"}
    if unknown:
        raise StgcnError(f"model: unknown keys {sorted(unknown)}; {kind} takes backbone, cls_head")
    if "backbone" not in cfg or "cls_head" not in cfg:
        raise StgcnError("model needs both 'backbone' and 'cls_head' dicts")
    backbones, heads = VOCABULARIES[kind]
    backbone = build_from_table(cfg["backbone"], backbones, "model.backbone")
    head = build_from_table(cfg["cls_head"], heads, "model.cls_head")
    if isinstance(head, GCNHead):
        head.num_person = backbone.num_person
    return SkeletonGCN(backbone, head)


__all__ = ["build_model", "STGCN", "STGCNHead", "SkeletonGCN", "GCNBackbone", "GCNHead"]
