"""The short recipes: their full recipe's data handling with the half-width model, bf16 and one evaluation."""

from pathlib import Path

import pytest
import torch

import stgcn
from stgcn.commands.bench import model_flops
from stgcn.engine.config import load_config
from stgcn.models.stgcn import STGCNBlock

CONFIGS = Path(__file__).resolve().parents[1] / "configs/skeleton/stgcn"
PAIRS = {"stgcn_penn_action_joint_2d_quick.py": "stgcn_penn_action_joint_2d.py",
         "stgcn_nwucla_xview_joint_3d_quick.py": "stgcn_nwucla_xview_joint_3d.py"}


# the ST-GCN blocks (0.x maths, edge importance) at half the width: channels and temporal strides per
# block, and the FLOPs against the full recipe's model (a quarter for the ten blocks, a fifth for seven)
SHAPES = {"stgcn_penn_action_joint_2d_quick.py": ([32] * 4 + [64] * 3 + [128] * 3, (4, 7), (0.24, 0.3)),
          "stgcn_nwucla_xview_joint_3d_quick.py": ([32] * 2 + [64] * 2 + [128] * 3, (2, 4), (0.19, 0.23))}


@pytest.mark.parametrize("name", list(PAIRS))
def test_quick_recipe_is_a_half_width_stgcn(name):
    quick, full = load_config(CONFIGS / name), load_config(CONFIGS / PAIRS[name])
    small, big = stgcn.build_model(quick["model"]), stgcn.build_model(full["model"])
    widths, strided, (low, high) = SHAPES[name]
    blocks = small.backbone.st_gcn_networks
    assert all(isinstance(b, STGCNBlock) for b in blocks)
    assert [b.tcn[0].num_features for b in blocks] == widths
    assert tuple(i for i, b in enumerate(blocks) if b.tcn[2].stride[0] == 2) == strided
    assert small.backbone.edge_importance is not None
    ratio = model_flops(small, 32, 1) / model_flops(big, 32, 1)
    assert low < ratio < high, ratio
    assert (small.cls_head.num_classes, small.cls_head.num_person) == (big.cls_head.num_classes, 1)
    assert quick["fp16"] == {"loss_scale": 512.0}  # bf16 autocast on a CPU
    assert quick["evaluation"]["interval"] == quick["total_epochs"]  # one evaluation, after the last epoch
    assert quick["model"]["test_cfg"] == {"average_clips": "prob"}
    v = small.backbone.num_node
    with torch.no_grad():
        assert small.eval()(torch.randn(2, 3, 16, v, 1)).shape == (2, big.cls_head.num_classes)


def test_nwucla_quick_recipe_keeps_the_data_handling_and_doubles_batch_and_rate():
    quick = load_config(CONFIGS / "stgcn_nwucla_xview_joint_3d_quick.py")
    full = load_config(CONFIGS / "stgcn_nwucla_xview_joint_3d.py")
    for part in ("train", "val", "test"):
        # a RecognizerGCN model makes the file a PYSKL-format config: 1.x rounding in PreNormalize3D and
        # PackActionInputs for the final Collect + ToTensor (the same item for one clip)
        want = [dict(step, keep_float64=True) if step["type"] == "PreNormalize3D" else step
                for step in full["data"][part]["pipeline"][:-2]] + [{"type": "PackActionInputs"}]
        if part == "train":  # its own rotation: up to 1.0 rad about the vertical axis
            want = [dict(step, theta=(0.3, 0.3, 1.0)) if step["type"] == "RandomRot" else step
                    for step in want]
        assert quick["data"][part] == dict(full["data"][part], pipeline=want)
    assert (quick["data"]["videos_per_gpu"], full["data"]["videos_per_gpu"]) == (32, 16)
    assert quick["optimizer"] == dict(full["optimizer"], lr=2 * full["optimizer"]["lr"])
    assert quick["lr_config"] == full["lr_config"]
    assert (quick["total_epochs"], full["total_epochs"]) == (56, 48)


def test_penn_configs_name_the_coco_joints_penn_action_lacks():
    from stgcn.data.convert.penn_action import NUM_COCO, PENN_TO_COCO
    from stgcn.layouts_map import JOINT_NAMES

    lacking = [JOINT_NAMES["coco"][i] for i in range(NUM_COCO) if i not in PENN_TO_COCO]
    paths = sorted(CONFIGS.parent.glob("*/*penn_action*.py"))
    assert len(paths) == 3
    for path in paths:
        assert load_config(path)["absent_joints"] == lacking, path
