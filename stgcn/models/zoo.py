"""The model zoo in code: one entry per released ST-GCN checkpoint this project can load.

Each entry gives the download URL (its name ends in ``-<sha256 prefix>.pth``), the config that rebuilds
the model (a project path for mmaction2 0.x checkpoints; the mmaction2 1.x config name otherwise), the
joint layout, the class list, the top-1 accuracy its authors report and the parameter count (a test
recounts it from the config). A zoo name is accepted wherever a checkpoint path is
(``stgcn predict stgcn_80e_ntu60_xsub_keypoint INPUT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stgcn.errors import StgcnError, did_you_mean

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_MMACTION = "https://download.openmmlab.com/mmaction"


@dataclass(frozen=True)
class ZooEntry:
    """A released checkpoint: where it is, how to rebuild it, and what it reached."""

    name: str
    url: str
    config: str          # project config path (0.x) or mmaction2 1.x config name
    layout: str
    classes: str         # a built-in class list name (stgcn.data.classes.BUILTIN)
    top1: float          # reported top-1 accuracy, percent, on `dataset`
    num_params: int
    dataset: str
    source: str          # 'mmaction2 0.x' or 'mmaction2 1.x'
    model: dict | None = None  # the model part of a 1.x config (its config file is not in this project)

    def model_config(self) -> dict:
        """The model dict that rebuilds this checkpoint's network."""
        if self.model is not None:
            return dict(self.model)
        from stgcn.engine.config import load_config

        return load_config(self.config_path())["model"]

    def config_path(self) -> Path:
        """The project config that rebuilds this model (0.x entries) or a one-line error."""
        path = PROJECT_ROOT / self.config
        if not self.config.endswith(".py") or not path.is_file():
            raise StgcnError(f"model zoo {self.name}: its config {self.config!r} is not part of this "
                             "project; pass the matching config with --config CONFIG")
        return path


def _x1(arch: str, name: str, stamp: str, top1: float, params: int, layout: str, dataset: str) -> ZooEntry:
    url = f"{_MMACTION}/v1.0/skeleton/{arch}/{name}/{name}_{stamp}.pth"
    if arch == "stgcn":
        backbone = dict(type="STGCN", graph_cfg=dict(layout=layout, mode="stgcn_spatial"))
    else:  # ST-GCN++ (PYSKL): adaptive graph initialised from A, residual GCN, multi-scale TCN
        backbone = dict(type="STGCN", gcn_adaptive="init", gcn_with_res=True, tcn_type="mstcn",
                        graph_cfg=dict(layout=layout, mode="spatial"))
    model = dict(type="RecognizerGCN", backbone=backbone,
                 cls_head=dict(type="GCNHead", num_classes=60, in_channels=256))
    return ZooEntry(name, url, f"{name}.py", layout, "ntu60", top1, params, dataset, "mmaction2 1.x", model)


ZOO: dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry("stgcn_80e_ntu60_xsub_keypoint",
             f"{_MMACTION}/skeleton/stgcn/stgcn_80e_ntu60_xsub_keypoint/stgcn_80e_ntu60_xsub_keypoint-e7bb9653.pth",
             "configs/skeleton/stgcn/stgcn_80e_ntu60_xsub_keypoint.py", "coco", "ntu60", 86.91, 3_088_704,
             "NTU60 xsub 2D (HRNet)", "mmaction2 0.x"),
    ZooEntry("stgcn_80e_ntu60_xsub_keypoint_3d",
             f"{_MMACTION}/skeleton/stgcn/stgcn_80e_ntu60_xsub_keypoint_3d/"
             "stgcn_80e_ntu60_xsub_keypoint_3d-13e7ccf0.pth",
             "configs/skeleton/stgcn/stgcn_80e_ntu60_xsub_keypoint_3d.py", "ntu-rgb+d", "ntu60", 84.61,
             3_098_832, "NTU60 xsub 3D (Kinect)", "mmaction2 0.x"),
    _x1("stgcn", "stgcn_8xb16-joint-u100-80e_ntu60-xsub-keypoint-2d", "20221129-484a394a", 88.95,
        3_088_704, "coco", "NTU60 xsub 2D (HRNet)"),
    _x1("stgcn", "stgcn_8xb16-joint-u100-80e_ntu60-xsub-keypoint-3d", "20221129-850308e1", 88.11,
        3_098_832, "nturgb+d", "NTU60 xsub 3D (Kinect)"),
    _x1("stgcnpp", "stgcnpp_8xb16-joint-u100-80e_ntu60-xsub-keypoint-2d", "20221228-86e1e77a", 89.29,
        1_393_016, "coco", "NTU60 xsub 2D (HRNet)"),
    _x1("stgcnpp", "stgcnpp_8xb16-joint-u100-80e_ntu60-xsub-keypoint-3d", "20221230-4e455ce3", 89.14,
        1_403_144, "nturgb+d", "NTU60 xsub 3D (Kinect)"),
)}


def get_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name`` or a one-line error listing the names."""
    if name not in ZOO:
        raise StgcnError(f"model zoo: no entry {name!r}{did_you_mean(name, ZOO)}; `stgcn zoo` lists "
                         f"{', '.join(ZOO)}")
    return ZOO[name]
