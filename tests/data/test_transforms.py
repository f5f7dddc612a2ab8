"""Every transform on hand-made arrays, and the seed configs' pipelines against the reference oracle."""

import numpy as np
import pytest
import torch

from stgcn.data.transforms import TRANSFORMS, build_pipeline, build_transform
from stgcn.errors import StgcnError
from tests.data.helpers import PIPELINE_2D, PIPELINE_3D


def _sample(m=2, t=10, v=17, c=2, score=True, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    s = dict(frame_dir="S001C001P001R001A001", label=3, total_frames=t, img_shape=(1080, 1920),
             start_index=0, keypoint=(rng.random((m, t, v, c)) * 1000).astype(dtype))
    if score:
        s["keypoint_score"] = rng.random((m, t, v)).astype(dtype)
    return s


# --- building -----------------------------------------------------------------------------------

def test_unknown_type_suggests_and_lists():
    with pytest.raises(StgcnError, match=r"unknown transform type 'PoseNormalise' \(did you mean "
                                         r"'PoseNormalize'\?\); valid: .*PaddingWithLoop"):
        build_pipeline([dict(type="PoseNormalise")])


def test_unknown_and_missing_arguments():
    with pytest.raises(StgcnError, match=r"pipeline: PaddingWithLoop got unexpected argument 'clip_length' "
                                         r"\(did you mean 'clip_len'\?\); it accepts: clip_len, num_clips"):
        build_transform(dict(type="PaddingWithLoop", clip_length=300))
    with pytest.raises(StgcnError, match=r"UniformSampleFrames is missing required argument\(s\) 'clip_len'"):
        build_transform(dict(type="UniformSampleFrames"))
    with pytest.raises(StgcnError, match="'type' key"):
        build_transform(dict(clip_len=3))
    with pytest.raises(StgcnError, match="input_format='NCHW' is not supported"):
        build_transform(dict(type="FormatGCNInput", input_format="NCHW"))


MINIMAL = {  # a short pipeline exercising each registered transform on [M, T, V, C] data
    "PaddingWithLoop": [dict(type="PaddingWithLoop", clip_len=8), dict(type="PoseDecode")],
    "PadTo": [dict(type="PadTo", length=64), dict(type="PoseDecode")],
    "UniformSampleFrames": [dict(type="UniformSampleFrames", clip_len=8), dict(type="PoseDecode")],
    "RandomSampleFrames": [dict(type="RandomSampleFrames", clip_len=8), dict(type="PoseDecode")],
    "PoseDecode": [dict(type="PoseDecode")],
    "FormatGCNInput": [dict(type="FormatGCNInput")],
    "PackActionInputs": [dict(type="FormatGCNInput"), dict(type="PackActionInputs")],
    "PoseNormalize": [dict(type="FormatGCNInput"), dict(type="PoseNormalize")],
    "Collect": [dict(type="Collect", keys=["keypoint"])],
    "ToTensor": [dict(type="ToTensor", keys=["keypoint"])],
    "JointToBone": [dict(type="JointToBone", dataset="coco")],
    "GenSkeFeat": [dict(type="GenSkeFeat", dataset="coco", feats=["j", "b", "jm", "bm"])],
    "PreNormalize2D": [dict(type="PreNormalize2D")],
    "PreNormalize3D": [dict(type="PreNormalize3D")],
    "RandomRot": [dict(type="RandomRot")],
    "RandomScale": [dict(type="RandomScale")],
    "CenterJoint": [dict(type="CenterJoint")],
    "Flip": [dict(type="Flip", dataset="coco", flip_ratio=1.0)],
    "MinMaxNormalize": [dict(type="MinMaxNormalize")],
    "CenterScale": [dict(type="CenterScale")],
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_registered_transform_runs(name):
    assert set(MINIMAL) == set(TRANSFORMS)
    dims = 3 if name == "PreNormalize3D" else 2
    out = build_pipeline(MINIMAL[name])(_sample(v=25 if dims == 3 else 17, c=dims, score=dims == 2))
    assert out is not None and "keypoint" in out
    tensor_out = name in ("ToTensor", "PackActionInputs")
    assert all(isinstance(x, torch.Tensor) for x in [out["keypoint"]]) == tensor_out


# --- 0.x transforms ---------------------------------------------------------------------------

def test_padding_with_loop_loops_and_truncates():
    t = build_transform(dict(type="PaddingWithLoop", clip_len=10))
    out = t(dict(total_frames=4))
    assert out["frame_inds"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert (out["clip_len"], out["num_clips"], out["frame_interval"]) == (10, 1, None)
    assert t(dict(total_frames=25))["frame_inds"].tolist() == list(range(10))


def test_pose_decode():
    s = _sample(m=2, t=6, v=3, dtype=np.float16)
    out = build_transform(dict(type="PoseDecode"))(dict(s, frame_inds=np.array([[5, 0, 5]])))
    assert out["frame_inds"].shape == (3,)
    assert out["keypoint"].dtype == np.float32 and out["keypoint"].shape == (2, 3, 3, 2)
    np.testing.assert_array_equal(out["keypoint"], s["keypoint"][:, [5, 0, 5]].astype(np.float32))
    np.testing.assert_array_equal(out["keypoint_score"], s["keypoint_score"][:, [5, 0, 5]])
    out = build_transform(dict(type="PoseDecode"))(dict(s, frame_inds=np.array([0, 1]), offset=2))
    np.testing.assert_array_equal(out["keypoint"], s["keypoint"][:, [2, 3]].astype(np.float32))
    out = build_transform(dict(type="PoseDecode"))(dict(s))
    assert out["frame_inds"].tolist() == list(range(6))


def test_format_gcn_input_pads_and_truncates():
    kp = np.arange(1 * 2 * 3 * 2, dtype=np.float32).reshape(1, 2, 3, 2)
    score = np.full((1, 2, 3), 0.5, np.float32)
    out = build_transform(dict(type="FormatGCNInput", num_person=2))(dict(keypoint=kp, keypoint_score=score))
    x = out["keypoint"]
    assert x.shape == (3, 2, 3, 2) and out["input_shape"] == (3, 2, 3, 2) and x.flags.c_contiguous
    assert x[0, 1, 2, 0] == kp[0, 1, 2, 0] and x[1, 1, 2, 0] == kp[0, 1, 2, 1] and x[2, 0, 0, 0] == 0.5
    assert not x[..., 1].any()  # padded person is zeros
    kp3 = np.random.default_rng(0).random((3, 2, 3, 3)).astype(np.float32)
    x = build_transform(dict(type="FormatGCNInput"))(dict(keypoint=kp3))["keypoint"]
    np.testing.assert_array_equal(x, kp3[:2].transpose(3, 1, 2, 0))


def test_pose_normalize_turns_padding_into_minus_half():
    x = np.zeros((3, 1, 1, 2), np.float32)
    x[:, 0, 0, 0] = [1920, 0, 1]
    out = build_transform(dict(type="PoseNormalize"))(dict(keypoint=x))
    np.testing.assert_allclose(out["keypoint"][:, 0, 0, 0], [0.5, -0.5, 0.5])
    np.testing.assert_allclose(out["keypoint"][:, 0, 0, 1], [-0.5, -0.5, -0.5])
    assert out["keypoint"].dtype == np.float32 and "keypoint_norm_cfg" in out
    with pytest.raises(StgcnError, match="PoseNormalize has 3 channels"):
        build_transform(dict(type="PoseNormalize"))(dict(keypoint=np.zeros((2, 1, 1, 1), np.float32)))


def test_collect_and_to_tensor():
    results = dict(keypoint=np.ones((3, 2, 1, 2), np.float32), label=4, img_shape=(2, 3), extra=1)
    out = build_transform(dict(type="Collect", keys=["keypoint", "label"]))(dict(results))
    assert set(out) == {"keypoint", "label"}
    out = build_transform(dict(type="Collect", keys=["label"], meta_keys=["img_shape"], nested=True))(results)
    assert out == {"label": [4], "img_metas": [{"img_shape": (2, 3)}]}
    with pytest.raises(StgcnError, match=r"Collect needs results\['score'\]"):
        build_transform(dict(type="Collect", keys=["score"]))(results)
    arr = results["keypoint"]
    out = build_transform(dict(type="ToTensor", keys=["keypoint", "label", "img_shape"]))(dict(results))
    assert out["keypoint"].dtype == torch.float32 and np.shares_memory(out["keypoint"].numpy(), arr)
    assert out["label"].tolist() == [4] and out["label"].dtype == torch.int64
    assert out["img_shape"].tolist() == [2, 3]


# --- frame sampling -------------------------------------------------------------------------------

def _oracle_uniform(num_frames, clip_len, num_clips, seed):
    """0.x test-mode UniformSampleFrames restated with the global generator it reseeds."""
    np.random.seed(seed)
    clips = []
    for i in range(num_clips):
        if num_frames < clip_len:
            start = i if num_frames < num_clips else i * num_frames // num_clips
            inds = np.arange(start, start + clip_len)
        elif num_frames < 2 * clip_len:
            offset = np.zeros(clip_len + 1, np.int64)
            offset[np.random.choice(clip_len + 1, num_frames - clip_len, replace=False)] = 1
            inds = np.arange(clip_len) + np.cumsum(offset)[:-1]
        else:
            bids = np.array([j * num_frames // clip_len for j in range(clip_len + 1)])
            inds = bids[:clip_len] + np.random.randint(np.diff(bids))
        clips.append(inds)
    return np.mod(np.concatenate(clips), num_frames)


@pytest.mark.parametrize("num_frames", [3, 7, 10, 15, 19, 20, 57])
@pytest.mark.parametrize("num_clips", [1, 4])
def test_uniform_sample_frames_test_mode(num_frames, num_clips):
    t = build_transform(dict(type="UniformSampleFrames", clip_len=10, num_clips=num_clips, test_mode=True))
    np.random.seed(7)
    state = np.random.get_state()[1].copy()
    first = t(dict(total_frames=num_frames, start_index=0))["frame_inds"]
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global generator untouched
    np.testing.assert_array_equal(first, t(dict(total_frames=num_frames))["frame_inds"])
    np.testing.assert_array_equal(first, _oracle_uniform(num_frames, 10, num_clips, 255))
    assert len(first) == 10 * num_clips and first.dtype == np.int64


def test_uniform_sample_frames_train_regimes():
    t = build_transform(dict(type="UniformSampleFrames", clip_len=10))
    np.random.seed(0)
    short = t(dict(total_frames=4))["frame_inds"]  # random start, then consecutive frames looped
    assert np.all(np.diff(short) % 4 == 1)
    for _ in range(20):
        mid = t(dict(total_frames=15))["frame_inds"]  # clip_len <= T < 2 clip_len: distinct, increasing
        assert len(set(mid.tolist())) == 10 and np.all(np.diff(mid) >= 1) and mid.max() < 15
        long = t(dict(total_frames=57, start_index=1))["frame_inds"] - 1  # one frame per segment
        bounds = np.array([i * 57 // 10 for i in range(11)])
        assert np.all((long >= bounds[:-1]) & (long < bounds[1:]))
    np.random.seed(3)
    a = t(dict(total_frames=57))["frame_inds"]
    np.random.seed(3)
    np.testing.assert_array_equal(a, t(dict(total_frames=57))["frame_inds"])


def test_random_sample_frames():
    train = build_transform(dict(type="RandomSampleFrames", clip_len=12))
    np.random.seed(1)
    inds = train(dict(total_frames=5))["frame_inds"]
    assert len(inds) == 12 and np.all(np.diff(inds) >= 0) and inds.min() >= 0 and inds.max() < 5
    np.random.seed(1)
    np.testing.assert_array_equal(inds, train(dict(total_frames=5))["frame_inds"])
    test = build_transform(dict(type="RandomSampleFrames", clip_len=5, test_mode=True))
    assert test(dict(total_frames=9))["frame_inds"].tolist() == [0, 2, 4, 6, 8]
    assert test(dict(total_frames=2))["frame_inds"].tolist() == [0, 0, 0, 1, 1]


# --- features and normalisation -------------------------------------------------------------------

def test_joint_to_bone():
    kp = np.random.default_rng(0).random((1, 2, 17, 3)).astype(np.float32)
    out = build_transform(dict(type="JointToBone", dataset="coco"))(dict(keypoint=kp))["keypoint"]
    np.testing.assert_array_equal(out[..., 7, :2], kp[..., 7, :2] - kp[..., 5, :2])
    np.testing.assert_array_equal(out[..., 7, 2], (kp[..., 7, 2] + kp[..., 5, 2]) / 2)
    np.testing.assert_array_equal(out[..., 0, :2], 0)  # (0, 0): the root bone is zero
    kp = np.random.default_rng(1).random((2, 2, 25, 3)).astype(np.float32)
    out = build_transform(dict(type="JointToBone"))(dict(keypoint=kp))["keypoint"]
    np.testing.assert_array_equal(out[..., 1, :], kp[..., 1, :] - kp[..., 20, :])  # xyz: no score mean
    from stgcn.graph import LAYOUTS

    assert build_transform(dict(type="JointToBone", dataset="openpose")).layout is LAYOUTS["openpose-18"]
    for spelling in ("nturgb+d", "ntu-rgb+d"):  # mmaction2's and the graph's names of one layout
        out = build_transform(dict(type="JointToBone", dataset=spelling))(dict(keypoint=kp))["keypoint"]
        np.testing.assert_array_equal(out[..., 1, :], kp[..., 1, :] - kp[..., 20, :])
    with pytest.raises(StgcnError, match="dataset='kinect' has no bone pairs; valid: openpose-18, ntu-rgb"):
        build_transform(dict(type="JointToBone", dataset="kinect"))
    with pytest.raises(StgcnError, match="dataset='openpose-25' has no bone pairs"):
        build_transform(dict(type="JointToBone", dataset="openpose-25"))
    with pytest.raises(StgcnError, match="before FormatGCNInput"):
        build_transform(dict(type="JointToBone"))(dict(keypoint=np.zeros((3, 4, 17, 2), np.float32)))


def test_gen_ske_feat():
    s = _sample(m=1, t=4, v=17)
    out = build_transform(dict(type="GenSkeFeat", dataset="coco", feats=["j", "b", "jm"]))(dict(s))
    x = out["keypoint"]
    assert x.shape == (1, 4, 17, 9) and "keypoint_score" not in out
    joints = np.concatenate([s["keypoint"], s["keypoint_score"][..., None]], -1)
    np.testing.assert_array_equal(x[..., :3], joints)
    np.testing.assert_array_equal(x[..., 3:5][..., 13, :], joints[..., 13, :2] - joints[..., 11, :2])
    np.testing.assert_array_equal(x[:, :3, :, 6:8], np.diff(joints, axis=1)[..., :2])
    np.testing.assert_array_equal(x[:, 3, :, 6:], 0)  # last frame of motion is zero
    np.testing.assert_array_equal(x[:, :3, :, 8], (joints[:, :-1, :, 2] + joints[:, 1:, :, 2]) / 2)
    with pytest.raises(StgcnError, match="feats=\\['x'\\] is invalid"):
        build_transform(dict(type="GenSkeFeat", feats=["x"]))


def test_pre_normalize_2d():
    kp = np.array([[[[0, 0], [960, 540], [1920, 1080]]]], np.float32)
    out = build_transform(dict(type="PreNormalize2D"))(dict(keypoint=kp, keypoint_score=np.ones((1, 1, 3))))
    np.testing.assert_allclose(out["keypoint"][0, 0], [[-1, -1], [0, 0], [1, 1]])
    assert "keypoint_score" in out  # scores untouched
    out = build_transform(dict(type="PreNormalize2D"))(dict(keypoint=kp, img_shape=(540, 960)))
    np.testing.assert_allclose(out["keypoint"][0, 0, 1], [1, 1])


def _body(rng, t):
    x = rng.normal(0, 0.3, (t, 25, 3)) + np.array([0.2, -0.1, 3.0])
    return x.astype(np.float32)


def test_pre_normalize_3d_centres_and_aligns():
    rng = np.random.default_rng(0)
    kp = np.stack([_body(rng, 8), _body(rng, 8)])
    kp[0, :2] = 0  # person 0 absent in the first two frames
    kp[1, 5:] = 0
    kp[0, :, 24] = 0  # an absent joint
    out = build_transform(dict(type="PreNormalize3D"))(dict(keypoint=kp, total_frames=8))
    x = out["keypoint"]
    assert x.shape == (2, 6, 25, 3) and out["total_frames"] == 6 and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 1], 0, atol=1e-6)  # centred on joint 1, first kept frame
    shoulders = x[0, 0, 8] - x[0, 0, 4]  # xaxis (8, 4): right minus left shoulder along +x
    np.testing.assert_allclose(shoulders / np.linalg.norm(shoulders), [1, 0, 0], atol=1e-5)
    spine_only = build_transform(dict(type="PreNormalize3D", align_shoulder=False))(dict(keypoint=kp))
    spine = spine_only["keypoint"][0, 0, 1] - spine_only["keypoint"][0, 0, 0]
    np.testing.assert_allclose(spine / np.linalg.norm(spine), [0, 0, 1], atol=1e-5)
    assert not x[0, :, 24].any() and not x[1, 3:].any()  # absent stays absent
    np.testing.assert_allclose(np.linalg.norm(x[0, 1, 3] - x[0, 1, 7]),
                               np.linalg.norm(kp[0, 3, 3] - kp[0, 3, 7]), rtol=1e-5)  # rigid
    swapped = build_transform(dict(type="PreNormalize3D"))(dict(keypoint=kp[[1, 0]].copy()))
    assert swapped["keypoint"].shape[1] == 6  # the person present longer becomes person 0


def test_random_rot_and_scale_keep_zeros():
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(2, 5, 25, 3)).astype(np.float32)
    kp[1] = 0
    kp[0, :, 3] = 0
    np.random.seed(0)
    out = build_transform(dict(type="RandomRot", theta=0.5))(dict(keypoint=kp))["keypoint"]
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(kp, axis=-1), rtol=1e-5)
    assert not out[1].any() and not out[0, :, 3].any() and not np.allclose(out, kp)
    np.random.seed(0)
    np.testing.assert_array_equal(out, build_transform(dict(type="RandomRot", theta=0.5))(
        dict(keypoint=kp))["keypoint"])
    kp2 = np.zeros((1, 1, 2, 2), np.float32)
    kp2[0, 0, 0] = [1, 0]
    for _ in range(10):
        x, y = build_transform(dict(type="RandomRot", theta=0.2))(dict(keypoint=kp2))["keypoint"][0, 0, 0]
        assert abs(np.arctan2(y, x)) <= 0.2 + 1e-6
    # per-axis ranges: a turn about z only keeps every z and the distance from the z axis
    pts = np.random.default_rng(0).standard_normal((1, 5, 4, 3)).astype(np.float32)
    turn = build_transform(dict(type="RandomRot", theta=(0, 0, 1.0)))
    for _ in range(5):
        out = turn(dict(keypoint=pts.copy()))["keypoint"]
        np.testing.assert_allclose(out[..., 2], pts[..., 2], atol=1e-6)
        radius = np.linalg.norm(pts[..., :2], axis=-1)
        np.testing.assert_allclose(np.linalg.norm(out[..., :2], axis=-1), radius, rtol=1e-5)
        assert not np.allclose(out, pts)
    for bad in ((0.1, 0.2), (0.1, -0.2, 0.3)):
        with pytest.raises(StgcnError, match="RandomRot: theta=.*give one angle or three"):
            build_transform(dict(type="RandomRot", theta=bad))
    ones = np.ones((1, 3, 4, 3), np.float32)
    ones[0, 1] = 0
    for scale, (lo, hi) in ((0.1, (0.9, 1.1)), ((0.5, 1.5), (0.5, 1.5))):
        out = build_transform(dict(type="RandomScale", scale=scale))(dict(keypoint=ones))["keypoint"]
        f = out[0, 0, 0]
        assert np.all((f >= lo) & (f <= hi)) and len(set(f.tolist())) == 3 and not out[0, 1].any()
        np.testing.assert_array_equal(out[0, 2], out[0, 0])


def test_center_joint():
    kp = np.zeros((2, 2, 3, 2), np.float32)
    kp[0, 0] = [[1, 1], [2, 3], [5, 5]]
    kp[0, 1] = [[2, 2], [0, 0], [4, 4]]
    kp[1, 0, 0] = [9, 9]
    out = build_transform(dict(type="CenterJoint", joint=1, frame=0))(dict(keypoint=kp))["keypoint"]
    np.testing.assert_array_equal(out[0, 0], [[-1, -2], [0, 0], [3, 2]])
    np.testing.assert_array_equal(out[0, 1], [[0, -1], [0, 0], [2, 1]])  # absent joint stays 0
    np.testing.assert_array_equal(out[1, 0, 0], [7, 6])
    assert not out[1, 1].any() and not out[1, 0, 1:].any()


def test_min_max_normalize():
    kp = np.zeros((1, 2, 3, 2), np.float32)
    kp[0, 0] = [[1, 10], [3, 10], [0, 0]]
    kp[0, 1] = [[2, 10], [0, 0], [5, 10]]
    out = build_transform(dict(type="MinMaxNormalize"))(dict(keypoint=kp))["keypoint"]
    np.testing.assert_allclose(out[0, 0], [[-1, 0], [0, 0], [0, 0]])
    np.testing.assert_allclose(out[0, 1], [[-0.5, 0], [0, 0], [1, 0]])
    out = build_transform(dict(type="MinMaxNormalize", low=0, high=2))(dict(keypoint=kp))["keypoint"]
    assert out[0, 1, 2, 0] == 2 and out[0, 0, 0, 0] == 0 and out[0, 0, 2].tolist() == [0, 0]


def test_center_scale_keeps_proportions_and_absent_joints():
    kp = np.zeros((1, 2, 3, 2), np.float32)
    kp[0, 0] = [[100, 50], [300, 150], [0, 0]]  # box x 100..300, y 50..250: centre (200, 150), half 100
    kp[0, 1] = [[200, 250], [0, 0], [150, 100]]
    out = build_transform(dict(type="CenterScale"))(dict(keypoint=kp))["keypoint"]
    np.testing.assert_allclose(out[0, 0], [[-1, -1], [1, 0], [0, 0]])
    np.testing.assert_allclose(out[0, 1], [[0, 1], [0, 0], [-0.5, -0.5]])
    wide = kp.copy()
    wide[..., 0] *= 2  # a wider body: x spans [-1, 1], y keeps half the scale
    out = build_transform(dict(type="CenterScale"))(dict(keypoint=wide))["keypoint"]
    assert out[0, 0, 0].tolist() == [-1, -0.5] and out[0, 0, 2].tolist() == [0, 0]
    moved = kp + np.where(kp != 0, np.float32(37), 0)  # a shifted frame: same output
    np.testing.assert_allclose(build_transform(dict(type="CenterScale"))(dict(keypoint=moved))["keypoint"],
                               build_transform(dict(type="CenterScale"))(dict(keypoint=kp))["keypoint"])
    empty = np.zeros((1, 2, 3, 2), np.float32)
    assert not build_transform(dict(type="CenterScale"))(dict(keypoint=empty))["keypoint"].any()


def test_center_scale_by_body_ignores_how_far_the_person_moves():
    kp = np.zeros((1, 4, 3, 2), np.float32)
    for t in range(4):  # a 2 x 4 body (longer side 4) walking 10 px a frame
        kp[0, t] = [[1 + 10 * t, 1], [3 + 10 * t, 1], [1 + 10 * t, 5]]
    body = build_transform(dict(type="CenterScale", by="body"))
    out = body(dict(keypoint=kp))["keypoint"]
    np.testing.assert_allclose(out[0, 0, 2] - out[0, 0, 0], [0, 2])  # 4 px of body = 2 units
    # centred on the clip's box
    np.testing.assert_allclose(out.min(axis=(0, 1, 2)) + out.max(axis=(0, 1, 2)), [0, 0], atol=1e-6)
    window = body(dict(keypoint=kp[:, :2].copy()))["keypoint"]  # half the clip: the same body size
    np.testing.assert_allclose(window[0, 0, 2] - window[0, 0, 0], [0, 2])
    clip = build_transform(dict(type="CenterScale"))(dict(keypoint=kp[:, :2].copy()))["keypoint"]
    assert not np.allclose(clip[0, 0, 2] - clip[0, 0, 0], [0, 2])  # by clip it does depend on the motion
    with pytest.raises(StgcnError, match="CenterScale by='person'; use 'clip' or 'body'"):
        build_transform(dict(type="CenterScale", by="person"))


# --- the seed configs, bit for bit -----------------------------------------------------------------

SEED_CASES = [  # (M, T) covering padding one person, truncating a third, looping and cutting at 300
    (1, 50), (2, 300), (3, 120), (2, 417), (1, 1),
]


@pytest.mark.parametrize("m,t", SEED_CASES)
def test_seed_pipeline_2d_matches_reference(reference, m, t):
    s = _sample(m=m, t=t, v=17, c=2, score=True, seed=t, dtype=np.float16 if t == 120 else np.float32)
    out = build_pipeline(PIPELINE_2D)(dict(s))
    want = reference.seed_pipeline(s, normalize=True)
    assert set(out) == {"keypoint", "label"} and out["label"] == 3
    x = out["keypoint"]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (3, 300, 17, 2)
    assert want.dtype == np.float32 and np.array_equal(x.numpy(), want)
    if m == 1:
        assert np.all(x.numpy()[..., 1] == -0.5)  # the zero-padded person quirk


@pytest.mark.parametrize("m,t", SEED_CASES)
def test_seed_pipeline_3d_matches_reference(reference, m, t):
    s = _sample(m=m, t=t, v=25, c=3, score=False, seed=t)
    x = build_pipeline(PIPELINE_3D)(dict(s))["keypoint"].numpy()
    want = reference.seed_pipeline(s, normalize=False)
    assert x.shape == (3, 300, 25, 2) and np.array_equal(x, want)
    np.testing.assert_array_equal(x[:, t % 300 if t < 300 else 0], x[:, 0])  # looped from frame 0


# Kinect v1 (NW-UCLA), written out by hand: each joint's neighbour towards the shoulder centre (2).
NW_UCLA_PARENTS = [1, 2, 2, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18]


def test_nw_ucla_bones_difference_z_not_average_it():
    from stgcn.data.transforms import GenSkeFeat

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 5, 20, 3)).astype(np.float32)
    out = GenSkeFeat(dataset="nw-ucla", feats=["b"])({"keypoint": x.copy()})["keypoint"]
    for child, parent in enumerate(NW_UCLA_PARENTS):
        np.testing.assert_allclose(out[..., child, :], x[..., child, :] - x[..., parent, :], atol=1e-6)


def test_2d_scores_merged_by_gen_ske_feat_are_averaged():
    from stgcn.data.transforms import GenSkeFeat

    kp = np.ones((1, 2, 17, 2), np.float32)
    score = np.full((1, 2, 17), 0.5, np.float32)
    out = GenSkeFeat(dataset="coco", feats=["b"])({"keypoint": kp, "keypoint_score": score})["keypoint"]
    assert out.shape[-1] == 3 and np.allclose(out[..., 2], 0.5) and np.allclose(out[..., :2], 0)


@pytest.mark.parametrize("name, dims", [("coco", 2), ("openpose-18", 2), ("openpose", 2), ("openpose-25", 2),
                                        ("ntu-rgb+d", 3), ("nturgb+d", 3), ("ntu_edge", 3), ("nw-ucla", 3)])
def test_layout_coordinate_dims(name, dims):
    """2D detector layouts carry a score as third channel, depth-camera layouts a z coordinate."""
    from stgcn.graph import get_layout

    assert get_layout(name).dims == dims


def test_flip_mirrors_x_and_swaps_left_right():
    from stgcn.data.augment import Flip

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 5, 17, 2)).astype(np.float32)
    score = rng.uniform(size=(1, 5, 17)).astype(np.float32)
    out = Flip(dataset="coco", flip_ratio=1.0)({"keypoint": x.copy(), "keypoint_score": score.copy()})
    # coco: 5 left_shoulder <-> 6 right_shoulder; 0 nose stays
    np.testing.assert_array_equal(out["keypoint"][..., 5, 0], -x[..., 6, 0])
    np.testing.assert_array_equal(out["keypoint"][..., 5, 1], x[..., 6, 1])
    np.testing.assert_array_equal(out["keypoint"][..., 0, 0], -x[..., 0, 0])
    np.testing.assert_array_equal(out["keypoint_score"][..., 6], score[..., 5])
    kept = Flip(dataset="coco", flip_ratio=0.0)({"keypoint": x.copy()})
    np.testing.assert_array_equal(kept["keypoint"], x)
    twice = Flip(dataset="coco", flip_ratio=1.0)(Flip(dataset="coco", flip_ratio=1.0)({"keypoint": x.copy()}))
    np.testing.assert_array_equal(twice["keypoint"], x)


def test_flip_test_mode_adds_mirrored_clips():
    pipeline = build_pipeline([
        dict(type="UniformSampleFrames", clip_len=4, num_clips=3, test_mode=True), dict(type="PoseDecode"),
        dict(type="Flip", dataset="coco", test_mode=True), dict(type="FormatGCNInput", num_person=1)])
    out = pipeline(_sample(v=17, c=2, score=True))
    clips = out["keypoint"]
    assert clips.shape == (6, 3, 4, 17, 1)  # 3 clips, then the same 3 mirrored
    np.testing.assert_allclose(clips[3:, 0, :, 5], -clips[:3, 0, :, 6])
    np.testing.assert_allclose(clips[3:, 2, :, 5], clips[:3, 2, :, 6])  # scores follow their joint


def test_flip_pairs_and_bad_arguments():
    from stgcn.layouts_map import flip_pairs

    assert flip_pairs("coco")[0] == (1, 2) and len(flip_pairs("coco")) == 8
    assert (4, 8) in flip_pairs("nw-ucla") and (21, 23) in flip_pairs("nturgb+d")
    with pytest.raises(StgcnError, match="no joint names for layout 'cocoo'.*did you mean 'coco'"):
        flip_pairs("cocoo")
    with pytest.raises(StgcnError, match="either dataset"):
        build_transform(dict(type="Flip"))
    with pytest.raises(StgcnError, match="matching pairs"):
        build_transform(dict(type="Flip", left_kp=[1, 3], right_kp=[2]))
    with pytest.raises(StgcnError, match="keypoints have 17 joints"):
        flip = build_transform(dict(type="Flip", dataset="nturgb+d", flip_ratio=1.0))
        flip(_sample(v=17, c=2, score=False))


def test_random_sample_frames_test_clips():
    from stgcn.data.transforms import RandomSampleFrames

    one = RandomSampleFrames(clip_len=6, test_mode=True)({"total_frames": 40})
    many = RandomSampleFrames(clip_len=6, test_mode=True, num_clips=4)({"total_frames": 40})
    again = RandomSampleFrames(clip_len=6, test_mode=True, num_clips=4)({"total_frames": 40})
    assert many["num_clips"] == 4 and many["frame_inds"].shape == (24,)
    np.testing.assert_array_equal(many["frame_inds"][:6], one["frame_inds"])  # clip 0: evenly spaced
    np.testing.assert_array_equal(many["frame_inds"], again["frame_inds"])  # deterministic
    clips = many["frame_inds"].reshape(4, 6)
    assert (np.diff(clips, axis=1) >= 0).all() and clips.max() < 40 and len({tuple(c) for c in clips}) == 4
    with pytest.raises(StgcnError, match="set test_mode=True"):
        RandomSampleFrames(clip_len=6, num_clips=2)
