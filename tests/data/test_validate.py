"""`validate_annotations` / `stgcn validate` on hand-made files, and the numpy-array converter it checks."""

import argparse
import pickle

import numpy as np
import pytest

from stgcn.commands import convert as convert_cmd
from stgcn.commands import validate as validate_cmd
from stgcn.data.convert.numpy_arrays import convert_numpy, load_labels, valid_length
from stgcn.data.safe_pickle import dump_pickle, load_pickle
from stgcn.data.validate import validate_annotations
from stgcn.errors import StgcnError


def _sample(name, label=0, m=2, t=5, v=17, c=2, score=True):
    item = dict(frame_dir=name, label=label, total_frames=t, img_shape=(1080, 1920),
                original_shape=(1080, 1920),
                keypoint=np.ones((m, t, v, c), np.float32))
    if score:
        item["keypoint_score"] = np.ones((m, t, v), np.float32)
    return item


def _split_file(*items, split=None):
    names = [i["frame_dir"] for i in items]
    return {"split": split or {"train": names[:-1], "val": names[-1:]}, "annotations": list(items)}


def test_clean_file_is_summarised():
    anno = _split_file(_sample("a", 0, t=4), _sample("b", 1, m=1, t=9), _sample("c", 1))
    report = validate_annotations(anno, num_joints=17, num_classes=2, source="x.pkl")
    assert report.ok and report.samples == 3
    assert report.class_counts == {0: 1, 1: 2}
    assert report.frames == (4, 9, 6.0) and report.persons == (1, 2)
    assert report.joints == [17] and report.channels == [2] and report.with_score == 3
    assert report.dtypes == ["float32"] and report.splits == {"train": 2, "val": 1}
    text = report.format()
    assert "x.pkl: 3 samples, 2 classes" in text and "problems: none" in text


def test_plain_list_layout_and_split_selection():
    items = [_sample("a"), _sample("b", 3)]
    assert validate_annotations(items).ok
    report = validate_annotations(_split_file(*items), split="val")
    assert report.samples == 1 and report.class_counts == {3: 1}
    with pytest.raises(StgcnError, match="has no 'test'; valid: train, val"):
        validate_annotations(_split_file(*items), split="test")
    with pytest.raises(StgcnError, match="plain list without splits"):
        validate_annotations(items, split="train")


def _broken(kind):
    good = _sample("ok")
    bad = _sample("bad")
    if kind == "missing":
        del bad["label"]
    elif kind == "nan":
        bad["keypoint"][0, 1, 2, 0] = np.nan
    elif kind == "inf score":
        bad["keypoint_score"][0, 0, 0] = np.inf
    elif kind == "empty":
        bad.update(keypoint=np.zeros((2, 0, 17, 2), np.float32), keypoint_score=np.zeros((2, 0, 17)),
                   total_frames=0)
    elif kind == "total_frames":
        bad["total_frames"] = 7
    elif kind == "joints":
        bad.update(keypoint=np.ones((2, 5, 18, 2), np.float32), keypoint_score=np.ones((2, 5, 18)))
    elif kind == "score shape":
        bad["keypoint_score"] = np.ones((2, 5, 16), np.float32)
    elif kind == "label":
        bad["label"] = 9
    elif kind == "negative label":
        bad["label"] = -1
    elif kind == "not array":
        bad["keypoint"] = [[1, 2]]
    elif kind == "duplicate":
        bad["frame_dir"] = "ok"
    elif kind == "split":
        return {"split": {"train": ["ok", "ghost"]}, "annotations": [good, bad]}
    elif kind == "top":
        return {"samples": [good]}
    elif kind == "no samples":
        return []
    elif kind == "no persons":
        bad.update(keypoint=np.zeros((0, 5, 17, 2), np.float32), keypoint_score=np.zeros((0, 5, 17)))
    elif kind == "negative total":
        bad["total_frames"] = -1
    elif kind == "float total":
        bad["total_frames"] = 5.0
    elif kind == "channels":
        bad.update(keypoint=np.ones((2, 5, 17, 3), np.float32))
        return [good, _sample("ok2"), bad]
    elif kind == "some scores":
        del bad["keypoint_score"]
        return [good, _sample("ok2"), bad]
    elif kind == "object dtype":
        bad["keypoint"] = bad["keypoint"].astype(object)
    elif kind == "str dtype":
        bad["keypoint"] = np.full((2, 5, 17, 2), "1.0")
    elif kind == "no frame_dir":
        del bad["frame_dir"]
        return {"split": {"train": ["ok"]}, "annotations": [good, bad]}, "train"
    return [good, bad]


@pytest.mark.parametrize("kind, message", [
    ("missing", "field 'label' is missing: 1 sample (#1 (bad)); add 'label' to every sample"),
    ("nan", "keypoint holds NaN or inf: 1 sample (#1 (bad)); fix the data or set nan_policy='zero'"),
    ("inf score", "keypoint_score holds NaN or inf"),
    ("empty", "field 'keypoint' has no frames (T = 0): 1 sample (#1 (bad))"),
    ("no persons", "field 'keypoint' has no persons (M = 0): 1 sample (#1 (bad))"),
    ("total_frames", "field 'total_frames' is not in [1, T]: 1 sample (#1 (bad))"),
    ("negative total", "field 'total_frames' is not in [1, T]: 1 sample (#1 (bad))"),
    ("float total", "field 'total_frames' is not an integer: 1 sample (#1 (bad))"),
    ("joints", "field 'keypoint' has V != 17 (the layout's joint count): 1 sample (#1 (bad))"),
    ("channels", "field 'keypoint' has a C unlike most samples: 1 sample (#2 (bad))"),
    ("some scores", "field 'keypoint_score' is present in some samples only: 1 sample (#2 (bad))"),
    ("score shape", "field 'keypoint_score' shape is not [M, T, V] of keypoint: 1 sample (#1 (bad))"),
    ("label", "field 'label' is outside [0, 5): 1 sample (#1 (bad))"),
    ("negative label", "field 'label' is not a non-negative integer: 1 sample (#1 (bad))"),
    ("not array", "field 'keypoint' is not a numpy array: 1 sample (#1 (bad))"),
    ("object dtype", "field 'keypoint' does not hold numbers: 1 sample (#1 (bad))"),
    ("str dtype", "field 'keypoint' does not hold numbers: 1 sample (#1 (bad))"),
    ("duplicate", "frame_dir occurs more than once: 1 sample (ok)"),
    ("split", "split 'train': 1 entries name no sample (ghost)"),
    ("no frame_dir", "frame_dir is missing, so no split can name the sample: 1 sample (#1)"),
    ("top", "top level"),
    ("no samples", "no samples: there is nothing to train or test on"),
])
def test_each_problem_is_found(kind, message):
    data = _broken(kind)
    data, split = data if isinstance(data, tuple) else (data, None)
    report = validate_annotations(data, num_joints=17, num_classes=5, split=split)
    assert not report.ok
    assert any(message in p for p in report.problems), report.problems


def test_many_bad_samples_make_one_line():
    items = [_sample(f"s{i}") for i in range(500)]
    for item in items:
        item["label"] = 99
    report = validate_annotations(items, num_classes=60)
    assert report.problems == ["field 'label' is outside [0, 60): 500 samples (#0 (s0), #1 (s1), #2 (s2), "
                               "...); check num_classes in the config"]


def test_total_frames_below_t_is_valid():
    """0.x's pipeline reads frames 0 .. total_frames - 1, so a shorter total_frames is not a problem."""
    item = _sample("a", t=6)
    item["total_frames"] = 3
    assert validate_annotations([item]).ok


def test_mixed_shapes_across_samples():
    report = validate_annotations([_sample("a"), _sample("b", c=3, score=False)])
    assert "field 'keypoint' has a C unlike most samples: 1 sample (#1 (b))" in report.problems[0]
    assert "field 'keypoint_score' is present in some samples only: 1 sample (#1 (b))" in report.problems[1]


def _validate(argv):
    parser = argparse.ArgumentParser()
    validate_cmd.add_arguments(parser)
    return validate_cmd.run(parser.parse_args(argv))


def test_cli_exit_codes(tmp_path, capsys):
    clean, broken = tmp_path / "clean.pkl", tmp_path / "broken.pkl"
    dump_pickle(_split_file(_sample("a"), _sample("b", 1)), clean)
    dump_pickle(_broken("nan"), broken)
    assert _validate([str(clean), "--layout", "coco", "--num-classes", "2"]) == 0
    assert "problems: none" in capsys.readouterr().out
    assert _validate([str(clean), "--num-joints", "25"]) == 1
    assert "V != 25" in capsys.readouterr().out
    assert _validate([str(broken)]) == 1
    with pytest.raises(StgcnError, match="unknown graph layout"):
        _validate([str(clean), "--layout", "cocoa"])


# ---- stgcn convert numpy: users' own (N, C, T, V, M) arrays, checked by validate_annotations ----

def _feeder_arrays(tmp_path, n=4, c=3, t=12, v=17, m=2):
    rng = np.random.default_rng(0)
    data = rng.uniform(0.1, 1, (n, c, t, v, m)).astype(np.float32)
    data[1, :, 7:] = 0  # sample 1 is 7 frames long, zero-padded
    data[2, :, :, :, 1] = 0  # one person only
    data[3] = 0  # an empty sample
    np.save(tmp_path / "data.npy", data)
    return data


def test_numpy_arrays_with_npy_labels(tmp_path):
    data = _feeder_arrays(tmp_path)
    np.save(tmp_path / "labels.npy", np.array([0, 2, 1, 1]))
    anno, summary = convert_numpy([tmp_path / "data.npy"], [tmp_path / "labels.npy"],
                                  score_channel=True, progress=False)
    items = anno["annotations"]
    assert [a["frame_dir"] for a in items] == ["train_000000", "train_000001", "train_000002"]
    assert summary.skipped == [("train[3] train_000003", "every frame is zero")]
    assert [a["total_frames"] for a in items] == [12, 7, 12]
    assert items[0]["keypoint"].shape == (2, 12, 17, 2) and items[0]["keypoint_score"].shape == (2, 12, 17)
    np.testing.assert_array_equal(items[1]["keypoint"], data[1, :2, :7].transpose(3, 1, 2, 0))
    np.testing.assert_array_equal(items[1]["keypoint_score"], data[1, 2, :7].transpose(2, 0, 1))
    assert [a["label"] for a in items] == [0, 2, 1]
    assert validate_annotations(anno, num_joints=17).ok


def test_numpy_arrays_with_stgcn_label_pickle_and_two_splits(tmp_path):
    _feeder_arrays(tmp_path)
    np.save(tmp_path / "val.npy", np.ones((1, 3, 4, 17, 1), np.float32))
    with open(tmp_path / "train_label.pkl", "wb") as f:
        pickle.dump((["v1", "v2", "v3", "v4"], [5, 4, 3, 2]), f)
    with open(tmp_path / "val_label.pkl", "wb") as f:
        pickle.dump((["w1"], [0]), f)
    anno, _ = convert_numpy([tmp_path / "data.npy", tmp_path / "val.npy"],
                            [tmp_path / "train_label.pkl", tmp_path / "val_label.pkl"], progress=False)
    assert anno["split"] == {"train": ["v1", "v2", "v3"], "val": ["w1"]}
    first = anno["annotations"][0]
    assert first["keypoint"].shape[-1] == 3 and "keypoint_score" not in first
    names, labels = load_labels(tmp_path / "val_label.pkl")
    assert names == ["w1"] and labels.tolist() == [0] and labels.dtype == np.int64


def test_numpy_input_errors(tmp_path):
    _feeder_arrays(tmp_path)
    np.save(tmp_path / "short.npy", np.array([0, 1]))
    with pytest.raises(StgcnError, match="4 samples but 2 labels"):
        convert_numpy([tmp_path / "data.npy"], [tmp_path / "short.npy"], progress=False)
    np.save(tmp_path / "floats.npy", np.zeros(4))
    with pytest.raises(StgcnError, match="1-D array of integers"):
        load_labels(tmp_path / "floats.npy")
    np.save(tmp_path / "four.npy", np.arange(4))
    np.save(tmp_path / "c4.npy", np.ones((4, 4, 2, 17, 1), np.float32))
    with pytest.raises(StgcnError, match="C = 4 channels; expected 2 or 3 coordinates"):
        convert_numpy([tmp_path / "c4.npy"], [tmp_path / "four.npy"], progress=False)
    np.save(tmp_path / "c2.npy", np.ones((4, 2, 2, 17, 1), np.float32))
    with pytest.raises(StgcnError, match="C = 2 channels; expected 2 or 3 coordinates plus a score"):
        convert_numpy([tmp_path / "c2.npy"], [tmp_path / "four.npy"], score_channel=True, progress=False)
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump((["a"], [0], print), f)
    with pytest.raises(StgcnError, match="refuses to unpickle"):
        load_labels(tmp_path / "evil.pkl")
    assert valid_length(np.zeros((3, 5, 17, 2))) == 0


def test_numpy_cli_checks_the_layout(tmp_path, capsys):
    _feeder_arrays(tmp_path)
    np.save(tmp_path / "labels.npy", np.array([0, 2, 1, 1]))
    parser = argparse.ArgumentParser()
    convert_cmd.add_arguments(parser)
    base = ["numpy", "--data", str(tmp_path / "data.npy"), "--labels", str(tmp_path / "labels.npy"),
            "--score-channel"]
    assert convert_cmd.run(parser.parse_args(base + ["--layout", "ntu-rgb+d", str(tmp_path / "x.pkl")])) == 1
    assert "V != 25" in capsys.readouterr().out and not (tmp_path / "x.pkl").exists()
    assert convert_cmd.run(parser.parse_args(base + ["--layout", "coco", str(tmp_path / "x.pkl")])) == 0
    assert len(load_pickle(tmp_path / "x.pkl")["annotations"]) == 3
