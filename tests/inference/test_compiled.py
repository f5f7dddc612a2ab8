"""The inductor back end and bf16 precision of Recognizer and `stgcn predict`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stgcn import Recognizer, StgcnError
from stgcn.cli import main
from stgcn.data import dump_pickle
from stgcn.inference import compiled
from tests.inference.helpers import make_checkpoint, make_samples


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("compiled")
    ckpt = make_checkpoint(directory)
    return directory, ckpt, Recognizer.from_checkpoint(str(ckpt))


def test_inductor_backend_gives_the_torch_scores(tiny):
    _, ckpt, rec = tiny
    samples = make_samples(4, frames=(24,))  # one shape: one compilation
    ind = Recognizer.from_checkpoint(str(ckpt), backend="inductor")
    if compiled.cxx_compiler() is None:  # no toolchain on this machine: the one-line refusal instead
        with pytest.raises(StgcnError, match="found no C.. compiler"):
            ind.scores(samples)
        return
    np.testing.assert_allclose(ind.scores(samples, batch_size=4), rec.scores(samples), rtol=1e-4, atol=1e-6)


def test_bf16_precision_stays_close_to_fp32(tiny):
    _, ckpt, rec = tiny
    samples = make_samples(6)
    bf16 = Recognizer.from_checkpoint(str(ckpt), precision="bf16")
    got, want = bf16.scores(samples), rec.scores(samples)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(got, want, atol=3e-2, rtol=0)
    assert not np.array_equal(got, want)  # it really ran in bf16


def test_bad_precision_and_backend_settings_are_one_line(tiny, monkeypatch):
    rec = tiny[2]
    with pytest.raises(StgcnError, match="precision 'fp16' is not valid; use one of fp32, bf16"):
        Recognizer(rec.model, rec.cfg, precision="fp16")
    with pytest.raises(StgcnError, match="precision 'bf16' runs on backend 'torch' or 'inductor'"):
        Recognizer(rec.model, rec.cfg, backend="onnxruntime", precision="bf16")
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CXX", raising=False)
    assert compiled.cxx_compiler() is None
    with pytest.raises(StgcnError, match="no C.. compiler .*install one .* or use backend 'torch'"):
        Recognizer(rec.model, rec.cfg, backend="inductor").scores(make_samples(1))


def test_predict_flags_choose_backend_and_precision(tiny, tmp_path, capsys):
    _, ckpt, rec = tiny
    samples = make_samples(3)
    ann = tmp_path / "ann.pkl"
    dump_pickle(samples, ann)
    out = tmp_path / "preds.json"
    assert main(["predict", str(ckpt), str(ann), "--precision", "bf16", "--out", str(out)]) == 0
    saved = np.array([p["scores"] for p in json.loads(out.read_text())["predictions"]])
    np.testing.assert_allclose(saved, rec.scores(samples), atol=3e-2, rtol=0)
    capsys.readouterr()
    assert main(["predict", str(ckpt), str(ann), "--backend", "onnxruntime", "--precision", "bf16"]) == 2
    err = capsys.readouterr().err
    assert "precision 'bf16' runs on backend 'torch' or 'inductor'" in err and err.count("\n") == 1
