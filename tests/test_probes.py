"""Bad input never gives a traceback: one table of malformed-input probes, each run through the `stgcn`
command line in process. Every probe must exit 2 with a single stderr line that names what is wrong.

Add a row per malformed-input class: ``Probe(id, make)`` where ``make(tmp_path) -> argv`` writes the bad
files it needs and returns the command line, and ``expect`` is a piece of text the error must contain
(the file, field or fix it names).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from stgcn.cli import main


@dataclass(frozen=True)
class Probe:
    id: str
    make: Callable[[Path], list[str]]
    expect: str


def sample(**overrides) -> dict:
    """A valid 2D sample (1 person, 8 frames, COCO-17) with some fields overridden."""
    s = {"frame_dir": "s0", "label": 0, "total_frames": 8, "img_shape": (64, 64),
         "keypoint": np.zeros((1, 8, 17, 2), np.float32), "keypoint_score": np.ones((1, 8, 17), np.float32)}
    s.update(overrides)
    return s


def write_pickle(path: Path, obj) -> str:
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return str(path)


def validate_ann(samples: list[dict]) -> Callable[[Path], list[str]]:
    return lambda tmp: ["validate", write_pickle(tmp / "ann.pkl", samples), "--layout", "coco"]


def pack_ann(data: list | dict) -> Callable[[Path], list[str]]:
    """`stgcn pack` on an annotation file: it opens and checks every sample as a dataset does."""
    return lambda tmp: ["pack", write_pickle(tmp / "ann.pkl", data), str(tmp / "out")]


def damaged_pack(damage: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    """`stgcn validate` on a packed directory after `damage(dir)`."""
    def make(tmp: Path) -> list[str]:
        assert main(["pack", write_pickle(tmp / "ann.pkl", [sample()]), str(tmp / "ann.packed")]) == 0
        damage(tmp / "ann.packed")
        return ["validate", str(tmp / "ann.packed")]
    return make


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-16])


NESTED_100K = b"\x80\x04" + b"]" * 100_000 + b"a" * 99_999 + b"."  # 100000 lists, each in the next

PROBES = [
    Probe("missing-annotation-file", lambda tmp: ["validate", str(tmp / "missing.pkl")], "missing.pkl"),
    Probe("annotation-not-a-pickle", lambda tmp: ["validate", _write(tmp / "a.pkl", b"not a pickle")],
          "a.pkl"),
    Probe("missing-config", lambda tmp: ["train", str(tmp / "nope.py")], "nope.py"),
    Probe("missing-checkpoint", lambda tmp: ["test", str(tmp / "model.pth"), "--eval", "top_k_accuracy"],
          "model.pth"),
    # data
    Probe("data-pickle-nested-too-deep",
          lambda tmp: ["validate", _write(tmp / "a.pkl", NESTED_100K)],
          "nested more than 100 levels deep"),
    Probe("data-pickle-truncated",
          lambda tmp: ["validate", _write(tmp / "a.pkl", pickle.dumps([sample()], protocol=4)[:-30])],
          "a.pkl: the pickle ends early"),
    Probe("data-keypoint-is-a-list", pack_ann([sample(), sample(frame_dir="s1", keypoint=[[0.0]])]),
          "sample #1 (s1): field 'keypoint' is not a numpy array (list)"),
    Probe("data-keypoint-object-dtype",
          pack_ann([sample(frame_dir="s1", keypoint=np.zeros((1, 8, 17, 2), object))]),
          "field 'keypoint' does not hold numbers (dtype object)"),
    Probe("data-keypoint-str-dtype", pack_ann([sample(keypoint=np.full((1, 8, 17, 2), "0"))]),
          "field 'keypoint' does not hold numbers (dtype <U1)"),
    Probe("data-wrong-c-in-some-samples",
          pack_ann([sample(), sample(frame_dir="s1"),
                    sample(frame_dir="s2", keypoint=np.zeros((1, 8, 17, 3), np.float32))]),
          "sample #2 (s2): field 'keypoint' has a C unlike most samples (C=3, most have 2)"),
    Probe("data-score-missing-in-some-samples",
          pack_ann([sample(), sample(frame_dir="s1"), {k: v for k, v in sample(frame_dir="s2").items()
                                                       if k != "keypoint_score"}]),
          "sample #2 (s2): field 'keypoint_score' is present in some samples only (lacks it)"),
    Probe("data-no-persons", pack_ann([sample(keypoint=np.zeros((0, 8, 17, 2), np.float32),
                                              keypoint_score=np.zeros((0, 8, 17), np.float32))]),
          "field 'keypoint' has no persons (M = 0)"),
    Probe("data-total-frames-negative", pack_ann([sample(total_frames=-3)]),
          "field 'total_frames' is not in [1, T] (total_frames=-3, T=8)"),
    Probe("data-total-frames-not-int", pack_ann([sample(total_frames="8")]),
          "field 'total_frames' is not an integer (str '8')"),
    Probe("data-split-sample-without-frame-dir",
          pack_ann({"split": {"train": ["s0"]},
                    "annotations": [sample(), {k: v for k, v in sample().items() if k != "frame_dir"}]}),
          "sample #1: field 'frame_dir' is missing"),
    Probe("data-no-samples", pack_ann([]), "no samples to pack"),
    Probe("data-packed-truncated-array", damaged_pack(lambda d: _truncate(d / "keypoint.npy")),
          "keypoint.npy: is truncated or not a .npy file"),
    Probe("data-packed-missing-file", damaged_pack(lambda d: (d / "index.npy").unlink()),
          "index.npy: is missing"),
    Probe("data-packed-bad-meta",
          damaged_pack(lambda d: (d / "meta.json").write_text('{"format": "stgcn-packed"')),
          "meta.json: is not readable JSON"),
    Probe("data-packed-mismatched-shapes",
          damaged_pack(lambda d: np.save(d / "keypoint_score.npy", np.zeros((8, 18), np.float32))),
          "keypoint_score.npy: has shape (8, 18), meta.json implies (N, 17)"),
    Probe("data-convert-penn-empty-folder",
          lambda tmp: ["convert", "penn-action", str(tmp), str(tmp / "o.pkl")],
          "no .mat files found"),
    # engine
    Probe("train-work-dir-in-use", lambda tmp: _train(tmp, "--work-dir", _locked(tmp / "w")),
          "another run (pid"),
    Probe("train-work-dir-under-a-file", lambda tmp: _train(tmp, "--work-dir", _write(tmp / "f", b"") + "/w"),
          "is a file, not a folder"),
    Probe("config-unused-name-whose-value-appears", lambda tmp: _train(tmp, config=_tiny(
        tmp, "total_epochs = 2\n", "total_epoch = 2\n")), "did you mean 'total_epochs'"),
    Probe("config-misspelt-data-key", lambda tmp: _train(tmp, config=_tiny(
        tmp, "    test_dataloader=", "    tset_dataloader=")), "data.tset_dataloader (did you mean"),
    Probe("cfg-options-misspelt-data-key", lambda tmp: _train(tmp, "--cfg-options", "data.trian.ann_file=x"),
          "data.trian (did you mean 'train'?)"),
    Probe("cfg-options-negative-lr", lambda tmp: _train(tmp, "--cfg-options", "optimizer.lr=-0.1"),
          "optimizer.lr must be non-negative"),
    Probe("cfg-options-zero-classes",
          lambda tmp: _train(tmp, "--cfg-options", "model.cls_head.num_classes=0"),
          "model.cls_head.num_classes must be a positive int"),
    Probe("cfg-options-bad-gamma", lambda tmp: _train(tmp, "--cfg-options", "lr_config.gamma=x"),
          "lr_config.gamma must be a number"),
    Probe("config-not-utf8", lambda tmp: _train(tmp, config=_write(tmp / "latin1.py", "# caf\xe9\n".encode(
        "latin-1"))), "not UTF-8"),
    Probe("test-out-exists", lambda tmp: _test(tmp, "--out", _write(tmp / "r.pkl", b"keep")), "--overwrite"),
    Probe("test-out-is-a-folder", lambda tmp: _test(tmp, "--out", _folder(tmp / "r.pkl")), "is a folder"),
    Probe("test-out-under-a-file", lambda tmp: _test(tmp, "--out", _write(tmp / "f", b"") + "/r.pkl"),
          "is a file, not a folder"),
    Probe("test-work-dir-under-a-file",
          lambda tmp: _test(tmp, "--eval", "top_k_accuracy", "--work-dir", _write(tmp / "f", b"") + "/w"),
          "is a file, not a folder"),
    Probe("test-deeply-nested-checkpoint", lambda tmp: ["test", _deep_checkpoint(tmp / "deep.pth"), "--eval",
                                                        "top_k_accuracy"], "nested more than"),
    # pictures
    Probe("vis-index-out-of-range", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", [sample()]),
                                                 str(tmp / "a.png"), "--index", "3"], "--index 3"),
    Probe("vis-unknown-split", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", {
        "split": {"train": ["s0"]}, "annotations": [sample()]}), str(tmp / "a.png"), "--split", "tran"],
        "did you mean 'train'"),
    Probe("vis-bad-suffix", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", [sample()]), str(tmp / "a.jpg")],
          ".jpg"),
    Probe("vis-unknown-layout-size", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", [sample(
        keypoint=np.zeros((1, 8, 13, 2), np.float32), keypoint_score=np.ones((1, 8, 13), np.float32))]),
        str(tmp / "a.png")], "no built-in layout has 13 joints"),
    Probe("plot-curve-text-log", lambda tmp: ["plot-curve", _write(tmp / "run.log", b"2026 - stgcn - INFO\n"),
                                              "--keys", "loss", str(tmp / "c.png")], "run.log"),
    Probe("plot-curve-unknown-key", lambda tmp: ["plot-curve", _write(
        tmp / "r.log.json", b'{"mode": "train", "epoch": 1, "iter": 1, "loss": 1.0}\n'),
        "--keys", "acc", str(tmp / "c.png")], "available: loss"),
    Probe("vis-out-exists", lambda tmp: ["vis", write_pickle(tmp / "a.pkl", [sample()]),
                                         _write(tmp / "a.png", b"keep")], "--overwrite"),
    Probe("plot-curve-out-exists", lambda tmp: ["plot-curve", _write(
        tmp / "r.log.json", b'{"mode": "train", "epoch": 1, "iter": 1, "loss": 1.0}\n'),
        "--keys", "loss", _write(tmp / "c.png", b"keep")], "--overwrite"),
    Probe("demo-out-exists", lambda tmp: ["demo", str(tmp / "in.mp4"), _write(tmp / "out.mp4", b"keep"),
                                          "--checkpoint", "x.pth"], "--overwrite"),
    # inference
    Probe("predict-wrong-joint-count", lambda tmp: predict(tmp, [sample(
        keypoint=np.zeros((1, 8, 25, 2), np.float32), keypoint_score=np.ones((1, 8, 25), np.float32))]),
        "V=25 joints but the checkpoint's layout coco has 17"),
    Probe("predict-wrong-channels",
          lambda tmp: predict(tmp, [sample(keypoint=np.zeros((1, 8, 17, 3), np.float32))]), "in_channels=3"),
    Probe("predict-nan-keypoints", lambda tmp: predict(tmp, [sample(keypoint=np.full((1, 8, 17, 2), np.nan,
                                                                                     np.float32))]),
          "keypoint holds NaN/inf values"),
    Probe("predict-empty-sample", lambda tmp: predict(tmp, [sample(
        total_frames=0, keypoint=np.zeros((1, 0, 17, 2), np.float32), keypoint_score=np.ones((1, 0, 17)))]),
        "T=0"),
    Probe("predict-checkpoint-without-config", lambda tmp: predict(tmp, [sample()], with_config=False),
          "pass the model's config: --config CONFIG"),
    Probe("predict-label-map-wrong-length", lambda tmp: predict(tmp, [sample()], "--label-map",
                                                                _write(tmp / "names.txt", b"a\nb\n")),
          "2 class names but the model has num_classes=4"),
]
_CHECKPOINTS: dict[bool, bytes] = {}


def predict(tmp: Path, samples: list[dict], *flags: str, with_config: bool = True) -> list[str]:
    """`stgcn predict` of a tiny 4-class coco checkpoint (built once, then copied) on `samples`."""
    from tests.inference.helpers import make_checkpoint

    if with_config not in _CHECKPOINTS:
        _CHECKPOINTS[with_config] = make_checkpoint(tmp, "made.pth", with_config=with_config).read_bytes()
    ckpt = _write(tmp / "model.pth", _CHECKPOINTS[with_config])
    return ["predict", ckpt, write_pickle(tmp / "ann.pkl", samples), *flags]


def _tiny(tmp: Path, old: str = "", new: str = "") -> str:
    from tests.engine.tiny import TINY_CONFIG

    assert old in TINY_CONFIG
    path = tmp / "tiny.py"
    path.write_text(TINY_CONFIG.replace(old, new))
    return str(path)


def _train(tmp: Path, *args: str, config: str | None = None) -> list[str]:
    config = config or _tiny(tmp)
    return ["train", config, "--device", "cpu", *args] + ([] if "--work-dir" in args else
                                                           ["--work-dir", str(tmp / "work")])


def _test(tmp: Path, *args: str) -> list[str]:
    return ["test", _tiny(tmp), str(tmp / "missing.pth"), "--device", "cpu", *args]


def _folder(path: Path) -> str:
    path.mkdir()
    return str(path)


def _locked(work_dir: Path) -> str:
    """A work dir whose lock names a live process (this test's parent)."""
    import os

    from stgcn.fileio import LOCK_NAME

    work_dir.mkdir()
    (work_dir / LOCK_NAME).write_text(f"{os.getppid()}\n")
    return str(work_dir)


def _deep_checkpoint(path: Path) -> str:
    """A valid torch zip checkpoint whose meta.config_dict nests 100000 dicts (built opcode by opcode)."""
    import io
    import struct
    import zipfile

    import torch

    def text(s: str) -> bytes:
        return b"X" + struct.pack("<I", len(s)) + s.encode()

    n = 100_000
    data = (b"\x80\x02}" + text("state_dict") + b"}s" + text("meta") + b"}" + text("config_dict") + b"}"
            + (text("model") + b"}") * n + b"s" * n + b"ss.")
    buf = io.BytesIO()
    torch.save({"state_dict": {}}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename.endswith("data.pkl") else zin.read(item.filename))
    return str(path)


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_bad_input_is_one_line_exit_2(probe: Probe, tmp_path, capsys):
    argv = probe.make(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err, "no error message"
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert probe.expect in err, err
