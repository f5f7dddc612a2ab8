"""The ST-GCN++ configs: the data handling and schedule of their ST-GCN counterparts, an ST-GCN++ model."""

from pathlib import Path

import numpy as np
import pytest
import torch

import stgcn
from stgcn.engine.config import load_config
from stgcn.models.stgcnpp import MSTCN, GCNBlock

ROOT = Path(__file__).resolve().parents[1]
PAIRS = {f"stgcnpp_nwucla_xview_{s}_3d.py": f"stgcn_nwucla_xview_{s}_3d.py"
         for s in ("joint", "bone", "jm", "bm")}
# Penn Action: the short recipe's data (16 frames, mirroring, CenterScale), itself a RecognizerGCN config
PAIRS["stgcnpp_penn_action_joint_2d.py"] = "stgcn_penn_action_joint_2d_quick.py"


@pytest.mark.parametrize("name", list(PAIRS))
def test_stgcnpp_config_is_its_stgcn_recipe_with_the_stgcnpp_model(name):
    plus = load_config(ROOT / "configs/skeleton/stgcnpp" / name)
    base = load_config(ROOT / "configs/skeleton/stgcn" / PAIRS[name])
    if "nwucla" in name:
        # a RecognizerGCN model makes the file a PYSKL-format config: its final Collect + ToTensor read
        # as PackActionInputs (the same item for one clip); it asks for float32 and logits, as 0.x (the
        # joint stream's ten test clips averaged as logits)
        assert plus["test_cfg"] == {"average_clips": "score"}
        for part in ("train", "val", "test"):
            want = [dict(step, keep_float64=False) if step["type"] == "PreNormalize3D" else step
                    for step in base["data"][part]["pipeline"][:-2]] + [{"type": "PackActionInputs"}]
            # their own rotation: wide about the vertical
            want = [dict(step, theta=(0.3, 0.3, 1.0)) if step["type"] == "RandomRot" else step
                    for step in want]
            if name == "stgcnpp_nwucla_xview_joint_3d.py" and part == "test":
                # the joint stream tests ten clips, as mmaction2 1.x does; validation takes one
                want = [dict(step, num_clips=10) if step["type"] == "RandomSampleFrames" else step
                        for step in want]
            assert plus["data"][part]["pipeline"] == want
            assert {**plus["data"][part], "pipeline": None} == {**base["data"][part], "pipeline": None}
        # keep_float64=False in the pipelines; the ST-GCN recipe is fp32 and a 0.x config
        # (val_pipeline: the joint stream's one-clip validation; the other streams validate on their
        # test_pipeline and inherit the variable unused)
        extra = {"train_pipeline", "val_pipeline", "test_pipeline", "data", "test_cfg", "fp16",
                 "converted_from", "ROT"}
    else:
        assert plus["data"] == base["data"]
        assert plus["model"]["test_cfg"] == base["model"]["test_cfg"]
        extra = set()
    if name == "stgcnpp_nwucla_xview_joint_3d.py":  # ST-GCN++'s own CPU schedule: 72 epochs at batch 32
        schedule = (plus["total_epochs"], plus["data"]["videos_per_gpu"], plus["optimizer"]["lr"])
        assert schedule == (72, 32, 0.2)
        assert {**plus["optimizer"], "lr": None} == {**base["optimizer"], "lr": None}
        extra |= {"total_epochs", "optimizer", "evaluation", "checkpoint_config"}
    differ = {k for k in set(plus) | set(base) if plus.get(k) != base.get(k)}
    assert differ == {"model", "work_dir"} | extra
    assert plus["fp16"] == {"loss_scale": 512.0}  # bf16 autocast on CPU
    model = stgcn.build_model(plus["model"])
    blocks = model.backbone.st_gcn_networks
    assert all(isinstance(b, GCNBlock) and isinstance(b.tcn, MSTCN) and b.gcn.adaptive == "init"
               for b in blocks)
    head = base["model"]["cls_head"]
    v = model.backbone.num_node
    assert (model.cls_head.num_classes, model.cls_head.num_person, v) == (head["num_classes"], 1,
                                                                        20 if "nwucla" in name else 17)
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 24, v, 1)).shape == (2, head["num_classes"])


def test_recognizer_runs_stgcnpp_fused_with_the_unfused_scores():
    from stgcn.inference.api import Recognizer
    from stgcn.models.fuse import FusedSkeletonGCN
    from tests.models.helpers import randomize

    cfg = load_config(ROOT / "configs/skeleton/stgcnpp/stgcnpp_penn_action_joint_2d.py")
    torch.manual_seed(0)
    model = stgcn.build_model(cfg["model"])
    randomize(model)
    rng = np.random.default_rng(0)
    samples = [{"keypoint": rng.uniform(0, 400, (1, t, 17, 2)).astype(np.float32),
                "keypoint_score": rng.uniform(0, 1, (1, t, 17)).astype(np.float32),
                "img_shape": (480, 640), "total_frames": t} for t in (40, 75)]
    fused = Recognizer(model, cfg, class_names="penn_action")
    assert isinstance(fused.fast_model, FusedSkeletonGCN)
    plain = Recognizer(model, cfg, fuse=False)
    np.testing.assert_allclose(fused.scores(samples), plain.scores(samples), atol=1e-5, rtol=0)


def test_stgcnpp_nwucla_config_builds_its_datasets_on_real_data(tmp_path):
    from stgcn.data import build_dataset
    from stgcn.data.convert.nw_ucla import convert_nw_ucla
    from stgcn.data.dataset import SampleSpec
    from stgcn.data.safe_pickle import dump_pickle
    from stgcn.engine.config import load_config
    from tests.conftest import shared_path

    ann, _ = convert_nw_ucla(shared_path("data", "nw_ucla", "all_sqe"), progress=False)
    ann_file = tmp_path / "nw_ucla.pkl"
    dump_pickle(ann, ann_file)
    path = Path(__file__).resolve().parents[1] / "configs/skeleton/stgcnpp/stgcnpp_nwucla_xview_joint_3d.py"
    cfg = load_config(path, {f"data.{part}.ann_file": str(ann_file) for part in ("train", "val", "test")})
    spec = SampleSpec.from_model_config(cfg["model"])
    assert spec.num_person == 1  # the backbone's count: GCNHead has none of its own
    item = build_dataset(cfg["data"]["train"], spec=spec)[0]
    assert tuple(item["keypoint"].shape) == (3, 24, 20, 1)
