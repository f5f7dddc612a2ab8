"""NTU RGB+D raw converter: parser strictness, body selection, 0.x pre-normalisation, splits, CLI."""

import argparse

import numpy as np
import pytest

from stgcn.commands import convert as convert_cmd
from stgcn.data.augment import rotation_onto
from stgcn.data.convert import ntu
from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError
from tests.conftest import shared_path
from tests.data.helpers import first_item

BODY_LINE = "72057594037931101 0 1 1 1 1 0 0.02 0.05 2"


def _joint_line(x, y, z):
    return f"{x} {y} {z} 277.4 191.8 1036.2 519.1 -0.2 0.05 0.96 -0.12 2"


def _skeleton_text(frames):
    """frames: list of frames, each a list of bodies, each a (25, 3) array."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body in bodies:
            lines += [BODY_LINE, "25"] + [_joint_line(*joint) for joint in body]
    return "\n".join(lines) + "\n"


def _body(seed):
    return np.random.default_rng(seed).uniform(-1, 1, (25, 3)).round(4)


@pytest.fixture(scope="module")
def raw_dir():
    return shared_path("data", "ntu_raw_samples")


@pytest.fixture(scope="module")
def converted(raw_dir):
    return ntu.convert_ntu(raw_dir, workers=1, progress=False)


def test_parse_name_and_benchmark_rules():
    ident = ntu.parse_name("S018C002P045R001A061.skeleton")
    assert (ident.setup, ident.camera, ident.performer, ident.replication, ident.action) == (18, 2, 45, 1, 61)
    assert ident.label == 60
    assert ntu.is_train(ident, "xsub") and ntu.is_train(ident, "xview") and ntu.is_train(ident, "xset")
    other = ntu.parse_name("S017C001P003R002A001")
    assert not ntu.is_train(other, "xsub") and not ntu.is_train(other, "xview")
    assert not ntu.is_train(other, "xset")
    with pytest.raises(StgcnError, match="not an NTU sample name"):
        ntu.parse_name("S1C1P1R1A1")
    with pytest.raises(StgcnError, match="xsub, xview, xset"):
        ntu.is_train(ident, "xsetup")
    assert ntu.default_benchmarks(["S001C001P001R001A001"]) == ("xsub", "xview")
    assert ntu.default_benchmarks(["S001C001P001R001A001", "S018C001P001R001A001"]) == ("xsub", "xset")


def test_parser_places_bodies_by_position():
    b0, b1, b2 = _body(0), _body(1), _body(2)
    text = _skeleton_text([[b0], [], [b1, b2]])
    bodies = ntu.parse_skeleton(text, "t.skeleton")
    assert bodies.shape == (4, 3, 25, 3)
    np.testing.assert_allclose(bodies[0, 0], b0)
    assert not bodies[:, 1].any()  # a frame without bodies is zeros
    np.testing.assert_allclose(bodies[0, 2], b1)
    np.testing.assert_allclose(bodies[1, 2], b2)
    assert not bodies[2:].any()


@pytest.mark.parametrize("mutate, message", [
    (lambda lines: lines[:40], "line 41: file ends inside frame 2 of 2, body 1"),
    (lambda lines: lines[:5] + ["1 2 3"] + lines[6:], "line 6: expected 12 joint values, found 3"),
    (lambda lines: lines[:2] + ["1 2 3"] + lines[3:], "line 3: expected 10 body values"),
    (lambda lines: ["two"] + lines[1:], "line 1: expected the frame count"),
    (lambda lines: lines + ["garbage"], "unexpected text after the last of 2 frames"),
    (lambda lines: lines[:4] + ["a b c 1 1 1 1 1 1 1 1 2"] + lines[5:], "not a number"),
    (lambda lines: lines[:29], "file ends where the body count of frame 2 of 2 was expected"),
    (lambda lines: lines[:29] + [""] + lines[29:], "line 30: expected the body count of frame 2"),
])
def test_parser_is_strict_and_names_the_line(mutate, message):
    lines = _skeleton_text([[_body(0)], [_body(1)]]).rstrip("\n").split("\n")
    with pytest.raises(StgcnError, match=message) as info:
        ntu.parse_skeleton("\n".join(mutate(lines)) + "\n", "bad.skeleton")
    assert str(info.value).startswith("bad.skeleton: ") and "\n" not in str(info.value)


def test_select_bodies_keeps_the_two_most_energetic():
    still = np.tile(_body(0), (6, 1, 1))
    moving = still + np.linspace(0, 1, 6)[:, None, None]
    shaking = still + np.linspace(0, 3, 6)[:, None, None]
    empty = np.zeros_like(still)
    picked = ntu.select_bodies(np.stack([still, empty, moving, shaking]), keep=2)
    np.testing.assert_array_equal(picked, np.stack([shaking, moving]))
    one = ntu.select_bodies(np.stack([moving]), keep=2)
    assert one.shape == (2, 6, 25, 3) and not one[1].any()


def test_real_files_convert_and_truncated_ones_are_reported(converted, raw_dir):
    anno, summary = converted
    assert summary.files_read == 19 and summary.samples == 17
    skipped = dict(summary.skipped)
    assert set(skipped) == {"S005C002P013R002A056", "S012C001P008R002A030"}
    cut = skipped["S005C002P013R002A056"]
    assert "line 2086" in cut and "frame 44 of 59" in cut
    assert "frame 101 of 161" in skipped["S012C001P008R002A030"]
    items = {a["frame_dir"]: a for a in anno["annotations"]}
    first = items["S001C001P001R001A001"]
    assert first["label"] == 0 and first["total_frames"] == 103
    assert first["keypoint"].shape == (2, 103, 25, 3) and first["keypoint"].dtype == np.float32
    assert first["img_shape"] == (1080, 1920) and "keypoint_score" not in first
    # raw coordinates: the first joint line of the file
    np.testing.assert_allclose(first["keypoint"][0, 0, 0], [0.2181153, 0.1725972, 3.785547], rtol=1e-6)
    assert not first["keypoint"][1].any()  # one-person clip: the second body is zeros
    assert items["S001C001P001R001A050"]["keypoint"][1].any()  # mutual action: two bodies
    for item in anno["annotations"]:
        assert item["label"] == int(item["frame_dir"][-3:]) - 1


def test_splits_follow_the_ntu60_protocol(converted):
    anno, summary = converted
    split = anno["split"]
    assert set(split) == {"xsub_train", "xsub_val", "xview_train", "xview_val"}
    names = [a["frame_dir"] for a in anno["annotations"]]
    for bench, rule in (("xsub", lambda n: int(n[9:12]) in ntu.XSUB_TRAIN_SUBJECTS),
                        ("xview", lambda n: int(n[5:8]) in (2, 3))):
        assert split[f"{bench}_train"] == [n for n in names if rule(n)]
        assert split[f"{bench}_val"] == [n for n in names if not rule(n)]
    assert summary.splits == {"xsub_train": 10, "xsub_val": 7, "xview_train": 9, "xview_val": 8}


def test_workers_give_the_same_result(converted, raw_dir):
    anno, _ = ntu.convert_ntu(raw_dir, workers=2, progress=False)
    names = [a["frame_dir"] for a in anno["annotations"]]
    assert names == [a["frame_dir"] for a in converted[0]["annotations"]]
    for a, b in zip(anno["annotations"], converted[0]["annotations"], strict=True):
        np.testing.assert_array_equal(a["keypoint"], b["keypoint"])


def test_missing_list_max_frames_and_drop_empty_bodies(raw_dir, tmp_path):
    missing = tmp_path / "missing.txt"
    missing.write_text("# NTU missing skeletons\nS001C001P001R001A001\nS001C001P001R001A011.skeleton\n\n")
    anno, summary = ntu.convert_ntu(raw_dir, missing=missing, max_frames=60, drop_empty_bodies=True,
                                    benchmarks=("xset",), workers=1, progress=False)
    names = [a["frame_dir"] for a in anno["annotations"]]
    assert "S001C001P001R001A001" not in names and "S001C001P001R001A011" not in names
    assert "2 files not read: named in --missing" in summary.notes and summary.files_read == 17
    assert set(anno["split"]) == {"xset_train", "xset_val"}
    assert all(a["total_frames"] <= 60 for a in anno["annotations"])
    assert any("files longer than --max-frames 60 were cut" in note for note in summary.notes)
    persons = {a["frame_dir"]: a["keypoint"].shape[0] for a in anno["annotations"]}
    assert persons["S001C001P001R001A050"] == 2 and persons["S002C001P003R001A003"] == 1


def _centre_per_frame_loops(kp):
    """A plain-loop rendering of 0.x steps 5a-5b (pad null frames, subtract joint 1 of body 0)."""
    kp = kp.copy()
    for m in range(len(kp)):
        person = kp[m]
        if not person.any():
            continue
        if not person[0].any():
            frames = [f.copy() for f in person if f.any()]
            person[:] = 0
            person[:len(frames)] = frames
        for t in range(len(person)):
            if not person[t].any() and not person[t:].any():
                for k in range(t, len(person)):
                    person[k] = person[k % t]
                break
    centre = kp[0, :, 1].copy()
    for m in range(len(kp)):
        if not kp[m].any():
            continue
        for t in range(kp.shape[1]):
            for v in range(kp.shape[2]):
                if kp[m, t, v].any():
                    kp[m, t, v] = kp[m, t, v] - centre[t]
    return kp


def test_pre_normalize_pads_and_centres_like_the_0x_loops():
    rng = np.random.default_rng(3)
    kp = rng.uniform(-1, 1, (2, 9, 25, 3))
    kp[0, :2] = 0  # body 0 starts late -> compacted to the front
    kp[1, 5:] = 0  # body 1 leaves early -> its frames loop
    kp[1, 2, 7] = 0  # a missing joint stays zero
    out = ntu.pre_normalize(kp)
    expected = _centre_per_frame_loops(kp)
    # undo the two rotations (orthonormal, applied to every point) to compare the centring step
    spine = expected[0, 0, 1] - expected[0, 0, 0]
    r1 = rotation_onto(spine, np.array([0.0, 0.0, 1.0]))
    shoulders = (expected[0, 0, 8] - expected[0, 0, 4]) @ r1.T
    r2 = rotation_onto(shoulders, np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(out, expected @ r1.T @ r2.T, atol=1e-12)
    assert not out[1, 2, 7].any()


def test_rotation_onto_turns_a_vector_onto_the_target():
    rng = np.random.default_rng(0)
    for _ in range(20):
        v, target = rng.normal(size=3), rng.normal(size=3)
        r = rotation_onto(v, target)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(r), 1.0)
        np.testing.assert_allclose(r @ v / np.linalg.norm(v), target / np.linalg.norm(target), atol=1e-12)
    np.testing.assert_array_equal(rotation_onto(np.zeros(3), np.array([0, 0, 1.0])), np.eye(3))


def test_prenorm_output_has_the_promised_properties(converted, raw_dir):
    normed, _ = ntu.convert_ntu(raw_dir, prenorm=True, workers=1, progress=False)
    for raw, item in zip(converted[0]["annotations"], normed["annotations"], strict=True):
        kp, rk = item["keypoint"].astype(np.float64), raw["keypoint"].astype(np.float64)
        body0 = np.any(kp[0] != 0, axis=(1, 2))
        assert body0.all()  # padded: body 0 exists in every frame
        np.testing.assert_allclose(kp[0, body0, 1], 0, atol=1e-6)  # centred on its spine joint
        shoulders = kp[0, 0, 8] - kp[0, 0, 4]
        np.testing.assert_allclose(shoulders / np.linalg.norm(shoulders), [1, 0, 0], atol=1e-5)
        spine = kp[0, 0, 1] - kp[0, 0, 0]
        assert spine[2] / np.linalg.norm(spine) > 0.95  # up, tilted only by the shoulder alignment
        # rigid motion: distances within body 0, frame 0 are unchanged
        for a, b in ((0, 3), (4, 8), (12, 19)):
            assert np.isclose(np.linalg.norm(kp[0, 0, a] - kp[0, 0, b]),
                              np.linalg.norm(rk[0, 0, a] - rk[0, 0, b]), atol=1e-5)
    # the z step alone puts the spine of body 0, frame 0 on +z
    kp = normed["annotations"][0]["keypoint"].astype(np.float64)
    spine = ntu.align(kp, (0, 1), np.array([0.0, 0.0, 1.0]))[0, 0]
    np.testing.assert_allclose((spine[1] - spine[0]) / np.linalg.norm(spine[1] - spine[0]), [0, 0, 1],
                               atol=1e-9)


def _parser():
    parser = argparse.ArgumentParser()
    convert_cmd.add_arguments(parser)
    return parser


def test_cli_writes_split_dict_and_legacy_lists_and_refuses_overwrite(raw_dir, tmp_path, capsys):
    out, legacy = tmp_path / "ntu60_3d.pkl", tmp_path / "legacy"
    argv = ["ntu", str(raw_dir), str(out), "--legacy-dir", str(legacy), "--prenorm", "--workers", "1"]
    assert convert_cmd.run(_parser().parse_args(argv)) == 0
    text = capsys.readouterr().out
    assert "wrote 17 samples, skipped 2" in text and "S005C002P013R002A056" in text
    anno = load_pickle(out)
    assert len(anno["annotations"]) == 17 and len(anno["split"]["xsub_train"]) == 10
    train = load_pickle(legacy / "xsub" / "train.pkl")
    assert isinstance(train, list) and [a["frame_dir"] for a in train] == anno["split"]["xsub_train"]
    assert (legacy / "xview" / "val.pkl").exists()
    before = out.read_bytes()
    with pytest.raises(StgcnError, match="already exists; pass --overwrite"):
        convert_cmd.run(_parser().parse_args(argv))
    assert out.read_bytes() == before
    assert convert_cmd.run(_parser().parse_args(argv + ["--overwrite"])) == 0
    assert tuple(first_item(out, "xsub_val")["keypoint"].shape) == (3, 300, 25, 2)
    assert tuple(first_item(legacy / "xsub" / "train.pkl")["keypoint"].shape) == (3, 300, 25, 2)
