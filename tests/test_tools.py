"""tools/train.py and tools/test.py end to end (subprocesses, tiny synthetic data), and their errors."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from stgcn.commands.test import main as cli_test
from stgcn.commands.train import main as cli_train
from stgcn.fileio import LOCK_NAME
from tests.engine.tiny import ROOT, interrupt_when, run_command, write_tiny_config

TRAIN, TEST = str(ROOT / "tools/train.py"), str(ROOT / "tools/test.py")


def python(*args: str, cwd: Path):
    return run_command([sys.executable, *args], cwd, timeout=240)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 2-epoch run with --validate --test-last --test-best, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("tools")
    config = write_tiny_config(tmp)
    work = tmp / "work"
    proc = python(TRAIN, str(config), "--work-dir", str(work), "--validate", "--seed", "0", "--deterministic",
                  "--test-last", "--test-best", "--device", "cpu", cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, config, work


def test_train_writes_the_mmaction2_work_dir(trained):
    _, _, work = trained
    names = {p.name for p in work.iterdir()}
    assert {"epoch_1.pth", "epoch_2.pth", "latest.pth", "tiny.py", "last_pred.pkl", "best_pred.pkl"} <= names
    assert len([n for n in names if n.startswith("best_top1_acc_epoch_")]) == 1
    assert len([n for n in names if n.endswith(".log")]) == 1
    text = next(work.glob("*.log")).read_text()
    for expected in ("Environment info:", "Distributed training: False", "Config:",
                     "Set random seed to 0, deterministic: True", "Epoch [1][1/2]\tlr: 5.000e-02, eta: ",
                     "Saving checkpoint at 2 epochs", "Epoch(val) [2][2]\ttop1_acc: ",
                     "Now best checkpoint is saved as best_top1_acc_epoch_", "Testing results of the last"):
        assert expected in text, expected
    records = [json.loads(line) for line in next(work.glob("*.log.json")).read_text().splitlines()]
    assert set(records[0]) == {"env_info", "seed", "config_name", "work_dir", "hook_msgs"}
    train_lines = [r for r in records if r.get("mode") == "train"]
    val_lines = [r for r in records if r.get("mode") == "val"]
    assert len(train_lines) == 4 and len(val_lines) == 2  # log interval 1, 2 iterations x 2 epochs
    assert list(train_lines[0]) == ["mode", "epoch", "iter", "lr", "data_time", "top1_acc", "top5_acc",
                                    "loss_cls", "loss", "time"]
    assert [(r["epoch"], r["iter"]) for r in train_lines] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert list(val_lines[0]) == ["mode", "epoch", "iter", "lr", "top1_acc", "top5_acc",
                                  "mean_class_accuracy"]
    assert train_lines[2]["lr"] == 0.005  # step=[1]: the second epoch runs at lr x 0.1
    for pred in ("last_pred.pkl", "best_pred.pkl"):
        results = pickle.loads((work / pred).read_bytes())
        assert len(results) == 10 and results[0].shape == (4,) and results[0].dtype == np.float32


def test_test_dumps_pkl_and_json_and_prints_metrics(trained):
    tmp, config, work = trained
    proc = python(TEST, str(config), str(work / "latest.pth"), "--out", str(tmp / "r.pkl"), "--eval",
                  "top_k_accuracy", "mean_class_accuracy", "--device", "cpu", cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if ": " in line]
    assert [line.split(":")[0] for line in lines][-3:] == ["top1_acc", "top5_acc", "mean_class_accuracy"]
    assert f"writing results to {tmp / 'r.pkl'}" in proc.stdout
    results = pickle.loads((tmp / "r.pkl").read_bytes())
    assert isinstance(results, list) and len(results) == 10
    assert all(r.shape == (4,) and r.dtype == np.float32 for r in results)
    last = np.stack(pickle.loads((work / "last_pred.pkl").read_bytes()))
    np.testing.assert_array_equal(np.stack(results), last)

    proc = python(TEST, str(config), str(work / "latest.pth"), "--out", str(tmp / "r.json"), "--device",
                  "cpu", "--per-class", "--confusion-matrix", str(tmp / "cm.csv"), cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from_json = np.array(json.loads((tmp / "r.json").read_text()))
    np.testing.assert_allclose(from_json, np.stack(results), rtol=1e-6)
    matrix = np.loadtxt(tmp / "cm.csv", delimiter=",")
    assert matrix.shape == (4, 4) and matrix.sum() == 10
    assert "class\tsamples\taccuracy" in proc.stdout


def test_test_from_the_checkpoint_alone_and_fused(trained):
    tmp, _, work = trained
    proc = python(TEST, str(work / "epoch_2.pth"), "--out", str(tmp / "alone.pkl"), "--device", "cpu",
                  cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp / "alone.pkl").read_bytes() == (work / "last_pred.pkl").read_bytes()
    proc = python(TEST, str(work / "epoch_2.pth"), "--out", str(tmp / "fused.pkl"), "--fuse-conv-bn",
                  "--device", "cpu", cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fused = np.stack(pickle.loads((tmp / "fused.pkl").read_bytes()))
    last = np.stack(pickle.loads((work / "last_pred.pkl").read_bytes()))
    np.testing.assert_allclose(fused, last, atol=1e-4)


def test_checkpoint_config_mismatch_is_reported(trained):
    tmp, config, work = trained
    proc = python(TEST, str(config), str(work / "latest.pth"), "--eval", "top_k_accuracy", "--device", "cpu",
                  "--cfg-options", "model.backbone.edge_importance_weighting=False", cwd=tmp)
    assert proc.returncode == 2
    assert "different model config (model.backbone.edge_importance_weighting)" in proc.stderr
    proc = python(TEST, str(config), str(work / "latest.pth"), "--eval", "top_k_accuracy", "--device", "cpu",
                  "--cfg-options", "model.cls_head.num_classes=5", cwd=tmp)
    assert proc.returncode == 2 and "cls_head.fc" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2


@pytest.mark.parametrize("args, message", [
    (["--cfg-options", "total_epoch=3"], "did you mean 'total_epochs'"),
    (["--cfg-options", "data.train.pipeline.9.x=1"], "not a valid index"),
    (["--cfg-options", "total_epochs=0"], "total_epochs must be a positive int"),
    (["--launcher", "pytorch"], "torchrun"),
    (["--cfg-options", "optimizer.type=LARS"], "valid: SGD"),
    (["--cfg-options", "lr_config.policy=cyclic"], "valid: step"),
    (["--cfg-options", "evaluation.metrics=mAP"], "valid: top_k_accuracy"),
    (["--cfg-options", "data.train.type=PoseDatset"], "PoseDataset"),
])
def test_train_errors_are_one_line_exit_2(tmp_path, monkeypatch, capsys, args, message):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    config = write_tiny_config(tmp_path)
    assert cli_train([str(config), "--work-dir", str(tmp_path / "w"), "--device", "cpu", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tools/train.py: error: ") and message in err[-1], err


def test_test_errors_are_one_line_exit_2(tmp_path, capsys):
    config = str(write_tiny_config(tmp_path))
    cases = [([config, "x.pth"], "--out"),
             ([config, "x.pth", "--onnx", "--eval", "top_k_accuracy"], "skeleton"),
             ([config, "x.pth", "--out", "r.yaml"], ".pkl"),
             ([config, "--eval", "top_k_accuracy"], "CHECKPOINT"),
             ([config, "missing.pth", "--eval", "top_k_accuracy"], "not found")]
    for args, message in cases:
        assert cli_test(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("tools/test.py: error: ") and message in err[-1], (args, err)


def test_wrappers_exit_2_on_bad_configs_and_flags(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("optimzer = dict(type='SGD', lr=0.1)\n")
    proc = python(TRAIN, str(bad), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"tools/train.py: error: {bad}: unknown top-level config key 'optimzer'; did you mean 'optimizer'?")
    proc = python(TEST, str(bad), "--launcher", "ssh", cwd=tmp_path)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr  # argparse


def test_a_second_process_reproduces_the_weights_bit_for_bit(trained, tmp_path):
    """--seed 0 --deterministic again (here in this process, without --validate/--test-*, with the
    subprocess's one thread: float sums depend on the thread count) -> equal weights."""
    import torch

    from stgcn.models.checkpoint import read_checkpoint

    _, config, work = trained
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args = [str(config), "--work-dir", str(tmp_path / "again"), "--seed", "0", "--deterministic",
                "--device", "cpu"]
        assert cli_train(args) == 0
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    want = read_checkpoint(work / "epoch_2.pth")["state_dict"]
    got = read_checkpoint(tmp_path / "again" / "epoch_2.pth")["state_dict"]
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)


def test_ctrl_c_is_one_line_exit_130(trained, tmp_path):
    """SIGINT in the middle of training and of testing: one line, exit 130, no traceback, lock released."""
    _, config, work = trained
    work_dir = tmp_path / "w"
    proc = interrupt_when([sys.executable, TRAIN, str(config), "--work-dir", str(work_dir), "--device", "cpu",
                           "--cfg-options", "total_epochs=50"], tmp_path, "Start running")
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and proc.stderr.splitlines()[-1] == "tools/train.py: interrupted"
    assert not [p.name for p in work_dir.iterdir() if p.name.endswith(".tmp") or p.name == LOCK_NAME]
    proc = interrupt_when([sys.executable, TEST, str(config), str(work / "latest.pth"), "--device", "cpu",
                           "--eval", "top_k_accuracy", "--batch-size", "1", "--out", str(tmp_path / "r.pkl"),
                           "--cfg-options", "data.test.num_samples=500"], tmp_path, "Testing 500 samples")
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and proc.stderr.splitlines()[-1] == "tools/test.py: interrupted"
    assert not (tmp_path / "r.pkl").exists()


def test_non_finite_weights_warn_with_the_tensor_name(trained, tmp_path, capsys):
    import torch

    from stgcn.models.checkpoint import read_checkpoint

    _, config, work = trained
    ckpt = read_checkpoint(work / "epoch_2.pth")
    ckpt["state_dict"]["backbone.st_gcn_networks.3.tcn.2.weight"][0] = float("nan")
    torch.save(ckpt, tmp_path / "nan.pth")
    args = [str(config), str(tmp_path / "nan.pth"), "--eval", "top_k_accuracy", "--device", "cpu"]
    assert cli_test(args) == 0
    captured = capsys.readouterr()
    warning = [line for line in captured.err.splitlines() if "NaN/inf" in line]
    assert len(warning) == 1 and "backbone.st_gcn_networks.3.tcn.2.weight" in warning[0], captured.err
    assert "top1_acc: " in captured.out
