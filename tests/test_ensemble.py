"""`stgcn ensemble`: loading result files, weighted (softmax) fusion, metrics and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stgcn.cli import main as cli_main
from stgcn.commands.ensemble import fuse, load_scores, softmax
from stgcn.data import dump_pickle
from stgcn.engine.test import dump_results
from stgcn.errors import StgcnError

LABELS = [0, 1, 2, 1]


@pytest.fixture
def ann(tmp_path):
    """A split-dict annotation file: 'val' holds 4 samples with LABELS, 'train' one more."""
    samples = [dict(frame_dir=f"s{i}", label=label, total_frames=2, img_shape=(10, 10),
                    original_shape=(10, 10), keypoint=np.zeros((1, 2, 3, 3), np.float32))
               for i, label in enumerate(LABELS + [2])]
    path = tmp_path / "ann.pkl"
    splits = {"val": [f"s{i}" for i in range(4)], "train": ["s4"]}
    dump_pickle({"split": splits, "annotations": samples}, path)
    return path


def _write(tmp_path, name, rows):
    return str(dump_results([np.asarray(r, np.float32) for r in rows], tmp_path / name))


def test_fusion_fixes_what_each_stream_gets_wrong(tmp_path, ann, capsys):
    # joint stream misses sample 3, bone stream misses sample 0; weighted together all four are right
    joint = _write(tmp_path, "j.pkl", [[3, 0, 0], [0, 3, 0], [0, 0, 3], [2, 0, 0]])
    bone = _write(tmp_path, "b.json", [[0, 1, 0], [0, 3, 0], [0, 0, 3], [0, 5, 0]])
    assert json.loads(open(bone).read())[0] == [0, 1, 0]
    argv = ["ensemble", joint, bone, "--weights", "2", "1", "--ann", str(ann), "--split", "val"]
    assert cli_main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "top1 0.7500" in lines[0] and "weight 2" in lines[0]
    assert "top1 0.7500" in lines[1]
    assert lines[2].startswith("fused") and "2 streams" in lines[2] and "top1 1.0000" in lines[2]
    assert "mean_class 1.0000" in lines[2]


def test_fuse_weights_and_softmax():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[0.0, 4.0], [1.0, 0.0]])
    np.testing.assert_allclose(fuse([a, b], [2, 1]), 2 * a + b)
    probs = softmax(np.array([[1000.0, 1000.0, 999.0]]))
    assert np.isfinite(probs).all() and probs.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(fuse([a, b], [1, 1], apply_softmax=True), softmax(a) + softmax(b))


def test_out_writes_fused_scores(tmp_path, ann):
    joint = _write(tmp_path, "j.pkl", [[1, 0, 0]] * 4)
    out = tmp_path / "fused.pkl"
    assert cli_main(["ensemble", joint, joint, "--ann", str(ann), "--split", "val", "--out", str(out)]) == 0
    fused = load_scores(out)
    np.testing.assert_allclose(fused, [[2, 0, 0]] * 4)


@pytest.mark.parametrize("case, message", [
    ("short", "3 samples but"),
    ("weights", "2 result files but 1 --weights"),
    ("classes", "different shapes"),
    ("suffix", "must end in"),
])
def test_clear_errors(tmp_path, ann, capsys, case, message):
    good = _write(tmp_path, "good.pkl", [[1, 0, 0]] * 4)
    argv = ["ensemble", good, "--ann", str(ann), "--split", "val"]
    if case == "short":
        argv[1] = _write(tmp_path, "short.pkl", [[1, 0, 0]] * 3)
    elif case == "weights":
        argv[2:2] = [good, "--weights", "1"]
    elif case == "classes":
        argv[2:2] = [_write(tmp_path, "wide.pkl", [[1, 0, 0, 0]] * 4)]
    else:
        (tmp_path / "r.txt").write_text("x")
        argv[1] = str(tmp_path / "r.txt")
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_unreadable_result_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(StgcnError, match="not valid JSON"):
        load_scores(bad)
    ragged = tmp_path / "ragged.json"
    ragged.write_text("[[1, 2], [1, 2, 3]]")
    with pytest.raises(StgcnError, match="different numbers of class scores"):
        load_scores(ragged)
    nan = tmp_path / "nan.pkl"
    dump_results([np.array([np.nan, 1], np.float32)], nan)
    with pytest.raises(StgcnError, match="NaN"):
        load_scores(nan)
