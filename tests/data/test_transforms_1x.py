"""The 1.x pose transforms against mmaction2 1.2.0's own pipeline outputs (`mmaction2_1x/pipeline.pt`)
and on hand-made arrays."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from stgcn.data.transforms import FormatGCNInput, PackActionInputs, build_pipeline
from stgcn.engine.config_1x import as_in_1x
from stgcn.errors import StgcnError
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def oracle() -> dict:
    return torch.load(shared_path("data", "mmaction2_1x", "pipeline.pt"), weights_only=True)


def _cases():
    # (sample index, pipeline name) for every output the oracle holds: 4 samples x 5 (2D), 4 x 3 (3D)
    two_d = ["stgcn_joint_2d/val", "stgcn_joint_2d/test", "stgcnpp_bone_motion_2d/val",
             "stgcnpp_bone_motion_2d/test", "stgcn_bone_2d/val"]
    three_d = ["stgcn_joint_3d/val", "stgcn_joint_3d/test", "stgcnpp_bone_motion_3d/val"]
    return [(i, n) for i in range(4) for n in two_d] + [(i, n) for i in range(4, 8) for n in three_d]


def _run(oracle: dict, index: int, name: str) -> tuple[dict, dict]:
    sample = oracle["samples"][index]
    results = {k: v.numpy() if torch.is_tensor(v) else copy.deepcopy(v) for k, v in sample["ann"].items()}
    results.update(modality="Pose", start_index=0)
    steps = [as_in_1x(step) for step in oracle["pipelines"][name]["pipeline"]]
    inds = None
    pipeline = build_pipeline(steps)
    for transform in pipeline.transforms:  # keep the sampled indices before PackActionInputs drops them
        results = transform(results)
        inds = results.get("frame_inds", inds) if isinstance(results, dict) else inds
    return {"packed": results, "frame_inds": inds}, sample["outputs"][name]


@pytest.mark.parametrize(("index", "name"), _cases())
def test_pipeline_matches_mmaction2_1x(oracle, index, name):
    ours, expected = _run(oracle, index, name)
    np.testing.assert_array_equal(ours["frame_inds"], expected["frame_inds"].numpy())
    x = ours["packed"]["keypoint"]
    clips = expected["inputs"].shape[0]
    if clips == 1:
        assert x.dim() == 4  # one clip: the model's (C, T, V, M)
        x = x.unsqueeze(0)
    assert ours["packed"]["label"] == int(expected["gt_label"][0])
    got = x.permute(0, 4, 2, 3, 1).numpy()  # (nc, C, T, V, M) -> 1.x's (nc, M, T, V, C)
    assert got.dtype == np.float32 and got.shape == tuple(expected["inputs"].shape)
    if index != 7:
        np.testing.assert_array_equal(got, expected["inputs"].numpy())
    else:  # one NTU clip: PreNormalize3D's rotation matrix differs from 1.x's in the last float64 bits,
        # which moves some coordinates by one float32 step
        np.testing.assert_allclose(got, expected["inputs"].numpy(), rtol=0, atol=2.5e-7)


def test_test_mode_sampling_is_fixed_and_leaves_the_global_rng_alone():
    pipeline = build_pipeline([dict(type="UniformSampleFrames", clip_len=5, num_clips=3, test_mode=True)])
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    a = pipeline({"total_frames": 23, "start_index": 0})["frame_inds"]
    b = pipeline({"total_frames": 23, "start_index": 0})["frame_inds"]
    np.testing.assert_array_equal(a, b)
    assert a.shape == (15,)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_format_gcn_input_loop_copies_the_single_person():
    x = np.arange(3 * 4 * 2, dtype=np.float32).reshape(1, 3, 4, 2)  # M=1, T=3, V=4, C=2
    loop = FormatGCNInput(num_person=3, mode="loop")({"keypoint": x.copy()})["keypoint"]
    zero = FormatGCNInput(num_person=3)({"keypoint": x.copy()})["keypoint"]
    assert loop.shape == zero.shape == (2, 3, 4, 3)
    for m in range(3):
        np.testing.assert_array_equal(loop[..., m], x[0].transpose(2, 0, 1))
    assert not zero[..., 1:].any()
    two = np.stack([x[0], x[0] + 100])  # two persons: loop pads with zeros as 1.x does
    out = FormatGCNInput(num_person=3, mode="loop")({"keypoint": two})["keypoint"]
    assert not out[..., 2].any() and out[..., 1].min() >= 100
    with pytest.raises(StgcnError, match="mode"):
        FormatGCNInput(mode="repeat")


def test_format_gcn_input_splits_clips_in_order():
    from stgcn.data.transforms import FormatGCNInput

    c, t, v, m, clips = 3, 4, 2, 2, 3
    x = np.random.default_rng(0).normal(size=(m, clips * t, v, c)).astype(np.float32)  # [M, T, V, C]
    split = FormatGCNInput(num_person=m)({"keypoint": x.copy(), "num_clips": clips})["keypoint"]
    assert split.shape == (clips, c, t, v, m)
    for k in range(clips):
        np.testing.assert_array_equal(split[k], x[:, k * t:(k + 1) * t].transpose(3, 1, 2, 0))
    out = PackActionInputs()({"keypoint": split, "label": 5})
    assert out["label"] == 5 and out["keypoint"].shape == (clips, c, t, v, m)
    single = FormatGCNInput(num_person=m)({"keypoint": x.copy()})["keypoint"]
    assert single.shape == (c, clips * t, v, m)
    with pytest.raises(StgcnError, match="multiple of num_clips"):
        FormatGCNInput(num_person=m)({"keypoint": x.copy(), "num_clips": 5})
    with pytest.raises(StgcnError, match="PackActionInputs needs"):
        PackActionInputs()({"keypoint": x[0], "label": 1})


def test_pad_to_loops_or_zero_pads():
    from stgcn.data.transforms import PadTo

    x = np.arange(1, 4, dtype=np.float32).reshape(1, 3, 1, 1)  # frames 1, 2, 3
    loop = PadTo(7)({"keypoint": x.copy(), "total_frames": 3})
    assert loop["keypoint"].ravel().tolist() == [1, 2, 3, 1, 2, 3, 1] and loop["total_frames"] == 7
    sample = {"keypoint": x.copy(), "keypoint_score": x[..., 0].copy(), "total_frames": 3}
    zero = PadTo(5, mode="zero")(sample)
    assert zero["keypoint"].ravel().tolist() == [1, 2, 3, 0, 0]
    assert zero["keypoint_score"].ravel().tolist() == [1, 2, 3, 0, 0]
    with pytest.raises(StgcnError, match="raise length"):
        PadTo(2)({"keypoint": x, "total_frames": 3})
