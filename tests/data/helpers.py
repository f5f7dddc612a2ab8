"""Pipelines and loaders shared by the data tests."""

from stgcn.data.dataset import build_dataset

PIPELINE_2D = [  # stgcn_80e_ntu60_xsub_keypoint.py (SPEC §1.1)
    dict(type="PaddingWithLoop", clip_len=300),
    dict(type="PoseDecode"),
    dict(type="FormatGCNInput", input_format="NCTVM"),
    dict(type="PoseNormalize"),
    dict(type="Collect", keys=["keypoint", "label"], meta_keys=[]),
    dict(type="ToTensor", keys=["keypoint"]),
]
PIPELINE_3D = [p for p in PIPELINE_2D if p["type"] != "PoseNormalize"]


def first_item(ann_file, split=None, num_person=2):
    """Load a written file the way the 3D seed config does and return the first pipeline output."""
    pipeline = [dict(p, num_person=num_person) if p["type"] == "FormatGCNInput" else p for p in PIPELINE_3D]
    cfg = dict(type="PoseDataset", ann_file=str(ann_file), pipeline=pipeline)
    if split:
        cfg["split"] = split
    return build_dataset(cfg, test_mode=True)[0]
