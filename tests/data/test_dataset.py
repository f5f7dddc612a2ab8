"""PoseDataset / RepeatDataset / build_dataset: both file layouts, validation messages, copies."""

import json
import pickle
import warnings

import numpy as np
import pytest
import torch

from stgcn.data import (
    PoseDataset,
    RepeatDataset,
    SampleSpec,
    SyntheticPoseDataset,
    build_dataset,
    dump_pickle,
)
from stgcn.errors import StgcnError
from tests.conftest import shared_path
from tests.data.helpers import PIPELINE_2D

SHORT = [dict(type="PaddingWithLoop", clip_len=8), dict(type="PoseDecode"), dict(type="FormatGCNInput"),
         dict(type="Collect", keys=["keypoint", "label"]), dict(type="ToTensor", keys=["keypoint"])]
COCO = SampleSpec(num_joints=17, in_channels=3, num_classes=60, num_person=2, layout="coco")


def _item(name, label=0, m=1, t=5, v=17, c=2, seed=0):
    rng = np.random.default_rng(seed)
    item = dict(frame_dir=name, label=label, total_frames=t, img_shape=(1080, 1920),
                original_shape=(1080, 1920), keypoint=(rng.random((m, t, v, c)) * 900).astype(np.float32))
    if c == 2:
        item["keypoint_score"] = rng.random((m, t, v)).astype(np.float32)
    return item


def _items(n=6, **kw):
    return [_item(f"S001C001P00{i}R001A00{i}", label=i % 3, t=3 + i, seed=i, **kw) for i in range(n)]


def _write(tmp_path, data, name="ann.pkl"):
    path = tmp_path / name
    dump_pickle(data, path)
    return path


def test_plain_list_matches_reference(tmp_path, reference):
    items = _items()
    ds = PoseDataset(_write(tmp_path, items), PIPELINE_2D, spec=COCO)
    assert len(ds) == 6 and ds.labels == [0, 1, 2, 0, 1, 2]
    assert ds.frame_dirs == [a["frame_dir"] for a in items]
    for i, item in enumerate(items):
        out = ds[i]
        assert set(out) == {"keypoint", "label"} and out["label"] == item["label"]
        assert type(out["label"]) is int and out["keypoint"].dtype == torch.float32
        assert np.array_equal(out["keypoint"].numpy(), reference.seed_pipeline(item))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["keypoint"].shape == (4, 3, 300, 17, 2) and batch["label"].tolist() == [0, 1, 2, 0]


def test_split_layout(tmp_path):
    items = _items()
    items[5]["filename"] = "renamed"  # 'filename' wins over frame_dir for split membership
    split = {"xsub_train": [items[0]["frame_dir"], items[2]["frame_dir"], "renamed"],
             "xsub_val": [items[1]["frame_dir"]]}
    path = _write(tmp_path, dict(split=split, annotations=items))
    ds = PoseDataset(path, SHORT, split="xsub_train")
    assert ds.frame_dirs == [items[0]["frame_dir"], items[2]["frame_dir"], items[5]["frame_dir"]]
    assert ds.labels == [0, 2, 2] and len(PoseDataset(path, SHORT, split="xsub_val")) == 1
    with pytest.raises(StgcnError, match=r"unknown split 'xsub_tran' \(did you mean 'xsub_train'\?\); "
                                         r"available: xsub_train, xsub_val"):
        PoseDataset(path, SHORT, split="xsub_tran")
    with pytest.raises(StgcnError, match=r"has splits \['xsub_train', 'xsub_val'\]; set split="):
        PoseDataset(path, SHORT)
    with pytest.raises(StgcnError, match="plain list without splits"):
        PoseDataset(_write(tmp_path, items, "list.pkl"), SHORT, split="xsub_train")


def test_split_sample_without_frame_dir_is_reported_not_dropped(tmp_path):
    items = _items(4)
    del items[2]["frame_dir"]
    split = {"train": [items[0]["frame_dir"], items[1]["frame_dir"]]}
    path = _write(tmp_path, dict(split=split, annotations=items))
    with pytest.raises(StgcnError, match=r"sample #2: field 'frame_dir' is missing, so no split can name it "
                                         r"\(1 such samples\); add 'frame_dir' to every sample"):
        PoseDataset(path, SHORT, split="train")


def test_split_names_without_samples_and_shared_names_are_reported(tmp_path):
    items = _items(4)
    items[3]["frame_dir"] = items[1]["frame_dir"]
    split = {"train": [items[0]["frame_dir"], items[1]["frame_dir"], "gone"]}
    path = _write(tmp_path, dict(split=split, annotations=items))
    with pytest.warns(UserWarning) as caught:
        ds = PoseDataset(path, SHORT, split="train")
    text = " | ".join(str(w.message) for w in caught)
    assert "split 'train' names 1 samples the file does not hold (e.g. 'gone')" in text
    assert f"1 samples share a frame_dir with another (e.g. {items[1]['frame_dir']!r})" in text
    assert len(ds) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean split says nothing
        PoseDataset(_write(tmp_path, dict(split={"train": [items[0]["frame_dir"]]}, annotations=items),
                           "clean.pkl"), SHORT, split="train")


def test_layout_mismatch_message(tmp_path):
    items = [_item("S001C001P001R001A001", v=25, c=3)] + [_item(f"x{i}", v=25, c=3) for i in range(2)]
    path = _write(tmp_path, items, "ntu60_val.pkl")
    with pytest.raises(StgcnError) as info:
        PoseDataset(path, SHORT, spec=COCO)
    msg = str(info.value)
    assert msg.startswith(f"{path}: sample #0 (S001C001P001R001A001): field 'keypoint' has V != 17 (the "
                          "layout's joint count) (shape (1, 5, 25, 3)); use the layout")
    assert "(+2 more; `stgcn validate" in msg and "\n" not in msg


@pytest.mark.parametrize("change,expected", [
    (lambda a: a.pop("total_frames"), "field 'total_frames' is missing; add 'total_frames'"),
    (lambda a: a.update(keypoint=np.zeros((1, 0, 17, 2), np.float32), keypoint_score=np.zeros((1, 0, 17)),
                        total_frames=0), r"field 'keypoint' has no frames \(T = 0\)"),
    (lambda a: a.update(total_frames=0), r"field 'total_frames' is not in \[1, T\] \(total_frames=0, T=4\)"),
    (lambda a: a.update(total_frames=9), r"is not in \[1, T\] \(total_frames=9, T=4\)"),
    (lambda a: a.update(total_frames=-2), r"is not in \[1, T\] \(total_frames=-2, T=4\)"),
    (lambda a: a.update(total_frames=4.0), r"field 'total_frames' is not an integer \(float 4.0\)"),
    (lambda a: a.update(keypoint_score=np.zeros((1, 3, 17))),
     r"field 'keypoint_score' shape is not \[M, T, V\] of keypoint \(\(1, 3, 17\) vs"),
    (lambda a: a.pop("keypoint_score"),
     r"field 'keypoint_score' is present in some samples only \(lacks it\)"),
    (lambda a: a.update(keypoint=np.zeros((1, 4, 17, 3), np.float32)),
     r"field 'keypoint' has a C unlike most samples \(C=3, most have 2\)"),
    (lambda a: a.update(keypoint=np.zeros((0, 4, 17, 2), np.float32), keypoint_score=np.zeros((0, 4, 17))),
     r"field 'keypoint' has no persons \(M = 0\)"),
    (lambda a: a.update(keypoint=np.zeros((5, 17, 2))), r"is not a 4-d array \[M, T, V, C\]"),
    (lambda a: a.update(keypoint=a["keypoint"].tolist()), r"field 'keypoint' is not a numpy array \(list\)"),
    (lambda a: a.update(keypoint=a["keypoint"].astype(object)),
     r"field 'keypoint' does not hold numbers \(dtype object\)"),
    (lambda a: a.update(keypoint=np.full((1, 4, 17, 2), "x")), r"does not hold numbers \(dtype <U1\)"),
    (lambda a: a.update(label=60), r"field 'label' is outside \[0, 60\) \(label=60\)"),
    (lambda a: a.update(label=-1), "field 'label' is not a non-negative integer"),
    (lambda a: a.update(label=2.0), r"field 'label' is not a non-negative integer \(float 2.0\)"),
])
def test_bad_samples_name_file_and_sample(tmp_path, change, expected):
    items = _items(3)
    change(items[1])
    path = _write(tmp_path, items)
    with pytest.raises(StgcnError, match=expected) as info:
        PoseDataset(path, SHORT, spec=COCO)
    msg = str(info.value)
    assert msg.startswith(f"{path}: sample #1 ({items[1]['frame_dir']}): field '") and "\n" not in msg


def test_nan_policy(tmp_path):
    items = _items(3)
    items[1]["keypoint"][0, 2, 4, 1] = np.nan
    items[2]["keypoint_score"][0, 0, 0] = np.inf
    path = _write(tmp_path, items)
    with pytest.raises(StgcnError, match=f"sample {items[1]['frame_dir']} has NaN/inf values "
                                         r"\(2 samples affected\); .*nan_policy='zero'"):
        PoseDataset(path, SHORT)
    with pytest.warns(UserWarning, match=r"2 joints with NaN/inf values in 2 samples are set to 0"):
        ds = PoseDataset(path, SHORT, nan_policy="zero")
    ds.pipeline = lambda r: r  # inspect the prepared sample itself
    got = ds[1]
    assert got["keypoint"][0, 2, 4].tolist() == [0, 0] and got["keypoint_score"][0, 2, 4] == 0
    assert np.isfinite(got["keypoint"]).all() and ds[2]["keypoint_score"][0, 0, 0] == 0
    with pytest.raises(StgcnError, match="unknown nan_policy 'drop'"):
        PoseDataset(path, SHORT, nan_policy="drop")


def test_output_checked_against_model(tmp_path):
    path = _write(tmp_path, _items(2))
    ds = PoseDataset(path, SHORT, spec=SampleSpec(17, in_channels=2, num_person=2, layout="coco"))
    with pytest.raises(StgcnError, match=r"makes 3 input channels .* in_channels=2"):
        ds[0]
    one = [dict(p, num_person=1) if p["type"] == "FormatGCNInput" else p for p in SHORT]
    ds = PoseDataset(path, one, spec=COCO)
    with pytest.raises(StgcnError, match=r"1 person slots but the model head has num_person=2"):
        ds[0]


def test_items_are_private_copies(tmp_path):
    items = _items(2)
    before = items[0]["keypoint"].copy()

    def scribble(results):
        results["keypoint"] *= 0
        results["img_shape"] = None
        return results

    ds = PoseDataset(items, [scribble], data_prefix="root")
    assert ds.records is items  # loading keeps the annotations as they are, no copy
    first = ds[0]
    assert not first["keypoint"].any() and first["frame_dir"] == "root/" + items[0]["frame_dir"]
    assert np.array_equal(items[0]["keypoint"], before) and items[0]["img_shape"] == (1080, 1920)
    assert ds.frame_dirs[0] == items[0]["frame_dir"]
    assert first["modality"] == "Pose" and first["start_index"] == 0


def test_repeat_dataset():
    base = PoseDataset(_items(3), SHORT)
    rep = RepeatDataset(base, 3)
    assert len(rep) == 9 and rep.labels == base.labels * 3 and rep.frame_dirs == base.frame_dirs * 3
    assert torch.equal(rep[7]["keypoint"], base[1]["keypoint"])


def test_build_dataset(tmp_path):
    path = _write(tmp_path, _items(4))
    cfg = dict(type="RepeatDataset", times=2, dataset=dict(type="PoseDataset", ann_file=str(path),
                                                           data_prefix="", pipeline=SHORT))
    ds = build_dataset(cfg, test_mode=True, spec=COCO)
    assert isinstance(ds, RepeatDataset) and len(ds) == 8
    assert ds.dataset.test_mode and ds.dataset.spec == COCO
    assert not build_dataset(dict(cfg["dataset"], test_mode=False), test_mode=True).test_mode
    with pytest.raises(StgcnError, match=r"unknown dataset type 'PoseDatset' \(did you mean 'PoseDataset'"):
        build_dataset(dict(cfg["dataset"], type="PoseDatset"))
    with pytest.raises(StgcnError, match=r"PoseDataset got unexpected argument 'ann_files' \(did you mean "
                                         r"'ann_file'\?\); it accepts: ann_file, pipeline, split"):
        build_dataset(dict(type="PoseDataset", ann_files=str(path), pipeline=SHORT))
    with pytest.raises(StgcnError, match="RepeatDataset takes exactly"):
        build_dataset(dict(type="RepeatDataset", dataset=cfg["dataset"]))


def test_synthetic_from_config_uses_the_spec():
    spec = SampleSpec(num_joints=25, in_channels=3, num_classes=7, num_person=2, layout="ntu-rgb+d")
    ds = build_dataset(dict(type="SyntheticPoseDataset", num_samples=14, dims=3, pipeline=SHORT), spec=spec)
    assert isinstance(ds, SyntheticPoseDataset) and len(ds) == 14 and sorted(set(ds.labels)) == list(range(7))
    assert ds[0]["keypoint"].shape == (3, 8, 25, 2)
    cfg = dict(type="SyntheticPoseDataset", num_samples=14, dims=3, pipeline=SHORT)
    val = build_dataset(dict(cfg, split="val"), spec=spec)
    assert not torch.equal(val[0]["keypoint"], ds[0]["keypoint"])  # splits draw different samples
    again = build_dataset(cfg, spec=spec)
    assert torch.equal(again[3]["keypoint"], ds[3]["keypoint"])


def test_sample_spec_from_model_config():
    model = dict(type="SkeletonGCN",
                 backbone=dict(type="STGCN", in_channels=3, edge_importance_weighting=True,
                               graph_cfg=dict(layout="coco", strategy="spatial")),
                 cls_head=dict(type="STGCNHead", num_classes=60, in_channels=256))
    assert SampleSpec.from_model_config(model) == COCO


def test_dataset_pickles_small(tmp_path):
    ds = PoseDataset(_write(tmp_path, _items(3)), SHORT)
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[2]["keypoint"], ds[2]["keypoint"])


def test_real_nw_ucla_samples():
    root = shared_path("data", "nw_ucla", "all_sqe")
    items = []
    for path in sorted(root.glob("*.json"))[:6]:
        raw = json.loads(path.read_text())
        kp = np.asarray(raw["skeletons"], np.float32)[None]  # [1, T, 20, 3]
        items.append(dict(frame_dir=raw["file_name"], label=raw["label"] - 1, total_frames=kp.shape[1],
                          keypoint=kp))
    spec = SampleSpec(num_joints=20, in_channels=3, num_classes=10, num_person=1, layout="nw-ucla")
    pipeline = [dict(type="CenterJoint", joint=1),
                dict(type="RandomSampleFrames", clip_len=16, test_mode=True), dict(type="PoseDecode"),
                dict(type="FormatGCNInput", num_person=1),
                dict(type="Collect", keys=["keypoint", "label"]), dict(type="ToTensor", keys=["keypoint"])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = PoseDataset(items, pipeline, spec=spec)
    x = torch.stack([ds[i]["keypoint"] for i in range(len(ds))])
    assert x.shape == (6, 3, 16, 20, 1) and torch.isfinite(x).all()
    assert x[:, :, 0, 1].abs().max() < 1e-6  # joint 1 of the first frame is the origin
    assert ds.labels == [item["label"] for item in items]
