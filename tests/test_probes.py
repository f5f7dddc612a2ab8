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


PROBES = [
    Probe("missing-annotation-file", lambda tmp: ["validate", str(tmp / "missing.pkl")], "missing.pkl"),
    Probe("annotation-not-a-pickle", lambda tmp: ["validate", _write(tmp / "a.pkl", b"not a pickle")],
          "a.pkl"),
    Probe("missing-config", lambda tmp: ["train", str(tmp / "nope.py")], "nope.py"),
    Probe("missing-checkpoint", lambda tmp: ["test", str(tmp / "model.pth"), "--eval", "top_k_accuracy"],
          "model.pth"),
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
    Probe("test-deeply-nested-checkpoint", lambda tmp: ["test", _deep_checkpoint(tmp / "deep.pth"), "--eval",
                                                        "top_k_accuracy"], "nested more than"),
]


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
