"""CTR-GCN .npz converter: the real 11-sample NTU60 file (layout of the flat 150 values, one-hot labels,
trailing zero frames) and malformed files."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from stgcn.commands.convert import add_arguments, run
from stgcn.data.convert.ctrgcn import convert_ctrgcn_npz
from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError
from tests.conftest import shared_path


def test_real_ctrgcn_file(tmp_path):
    path = shared_path("data", "ntu_raw_samples", "ctrgcn_format_NTU60_CS_11samples.npz")
    raw = np.load(path)
    anno, summary = convert_ctrgcn_npz(path)
    assert anno["split"] == {"train": [], "test": [f"test_{i}" for i in range(11)]}
    # the 11 files are S017C003P020R002A050 .. A060: labels 49 .. 59
    assert [a["label"] for a in anno["annotations"]] == list(range(49, 60))
    for i, sample in enumerate(anno["annotations"]):
        x = raw["x_test"][i]
        t = sample["total_frames"]
        assert sample["keypoint"].shape == (2, t, 25, 3) and not x[t:].any() and x[t - 1].any()
        for m, v, c in ((0, 0, 0), (1, 24, 2), (0, 11, 1)):  # value index m*75 + v*3 + c
            np.testing.assert_array_equal(sample["keypoint"][m, :, v, c], x[:t, m * 75 + v * 3 + c])
    out = tmp_path / "ntu.pkl"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["ctrgcn-npz", str(path), str(out)])) == 0
    assert len(load_pickle(out)["annotations"]) == 11


def test_malformed_npz(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((1, 4, 150), np.float32), y_train=np.eye(3)[:1],
             x_test=np.zeros((1, 4, 100), np.float32), y_test=np.eye(3)[:1])
    with pytest.raises(StgcnError, match="expected \\(N, T, 150\\)"):
        convert_ctrgcn_npz(bad)
    np.savez(bad, x_train=np.zeros((1, 4, 150), np.float32))
    with pytest.raises(StgcnError, match="missing arrays"):
        convert_ctrgcn_npz(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(StgcnError, match="cannot read"):
        convert_ctrgcn_npz(tmp_path / "junk.npz")
