"""The training loop: determinism, kill-and-resume equality, fine-tuning, checkpoints and distributed runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from stgcn.engine import train as train_module
from stgcn.engine import train_eval
from stgcn.engine.config import load_config, parse_cfg_options
from stgcn.engine.metrics import parse_evaluation
from stgcn.engine.train import TrainOptions, train
from stgcn.engine.workdir import parse_checkpoint_config
from stgcn.errors import StgcnError
from stgcn.fileio import LOCK_NAME
from stgcn.models.checkpoint import read_checkpoint
from tests.engine.tiny import free_port, run_command, write_tiny_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_global_flags():
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False


def run_tiny(tmp_path: Path, name: str, options: list[str] = (), **opts) -> train_module.Run:
    """The tiny config trained into tmp_path/name; `seed` (default 0), `resume_from` and `load_from` go
    into the config as the command line puts them, the rest into TrainOptions."""
    config = write_tiny_config(tmp_path)
    cfg = load_config(config, parse_cfg_options(list(options)))
    cfg["work_dir"] = str(tmp_path / name)
    for key, default in (("seed", 0), ("resume_from", None), ("load_from", None)):
        value = opts.pop(key, default)
        if value is not None:
            cfg[key] = value
    return train(cfg, TrainOptions(config_path=str(config), device="cpu", **opts))


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_gives_bit_identical_weights_whatever_the_worker_count(tmp_path):
    a = read_checkpoint(run_tiny(tmp_path, "a", deterministic=True).work_dir / "epoch_2.pth")
    b = read_checkpoint(run_tiny(tmp_path, "b", deterministic=True).work_dir / "epoch_2.pth")
    assert states_equal(a["state_dict"], b["state_dict"])
    c = run_tiny(tmp_path, "c", ["data.workers_per_gpu=1"], deterministic=True)
    assert states_equal(a["state_dict"], read_checkpoint(c.work_dir / "epoch_2.pth")["state_dict"])
    d = run_tiny(tmp_path, "d", seed=1)
    assert not states_equal(a["state_dict"], read_checkpoint(d.work_dir / "epoch_2.pth")["state_dict"])


def test_dropout_streams_do_not_depend_on_the_worker_count(tmp_path):
    """Starting an epoch's loader draws nothing from the global torch RNG, which dropout reads."""
    options = ["model.backbone.dropout=0.5"]
    a = run_tiny(tmp_path, "a", options, deterministic=True)
    b = run_tiny(tmp_path, "b", options + ["data.workers_per_gpu=1"], deterministic=True)
    assert states_equal(read_checkpoint(a.work_dir / "epoch_2.pth")["state_dict"],
                        read_checkpoint(b.work_dir / "epoch_2.pth")["state_dict"])


def _tied_scores(results, labels, metrics, topk=(1, 5), logger=None):
    """Every validation scores the same: only the first epoch may be the best (mmcv keeps the first)."""
    return OrderedDict(top1_acc=0.5, top5_acc=1.0, mean_class_accuracy=0.5)


def _outputs(work_dir: Path) -> dict[str, str]:
    """The run's files except the timestamped logs; symlinks as their target."""
    return {p.name: (os.readlink(p) if p.is_symlink() else "file") for p in work_dir.iterdir()
            if not p.name.endswith((".log", ".log.json"))}


def test_killed_and_resumed_run_ends_like_the_uninterrupted_one(tmp_path, monkeypatch):
    """Weights, optimizer state, seed and files (best, pruned epochs) as if never interrupted."""
    monkeypatch.setattr(train_eval, "evaluate", _tied_scores)
    options = ["checkpoint_config.max_keep_ckpts=1"]
    save = train_module.save_epoch_checkpoint

    def save_then_die(run, settings):
        save(run, settings)
        if run.epoch == 1:
            raise KeyboardInterrupt  # the process is killed right after epoch 1's checkpoint

    monkeypatch.setattr(train_module, "save_epoch_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_tiny(tmp_path, "killed", options, seed=None, validate=True)  # a random seed
    monkeypatch.setattr(train_module, "save_epoch_checkpoint", save)
    killed = tmp_path / "killed"
    assert not (killed / "epoch_2.pth").exists() and not (killed / LOCK_NAME).exists()
    seed = read_checkpoint(killed / "epoch_1.pth")["meta"]["seed"]
    full = run_tiny(tmp_path, "full", options, seed=seed, validate=True)
    resumed = run_tiny(tmp_path, "killed", options, seed=None, validate=True,
                       resume_from=str(killed / "epoch_1.pth"))
    assert resumed.meta["seed"] == seed and resumed.cfg["seed"] == seed
    assert resumed.epoch == 2 and resumed.global_iter == full.global_iter == 4
    assert _outputs(killed) == _outputs(full.work_dir) == {
        "tiny.py": "file", "epoch_2.pth": "file", "latest.pth": "epoch_2.pth",
        "best_top1_acc_epoch_1.pth": "file"}
    want = read_checkpoint(full.work_dir / "epoch_2.pth")
    got = read_checkpoint(killed / "epoch_2.pth")
    assert states_equal(want["state_dict"], got["state_dict"])
    assert got["meta"]["hook_msgs"]["best_ckpt"] == str(killed / "best_top1_acc_epoch_1.pth")
    for p, q in zip(want["optimizer"]["state"].values(), got["optimizer"]["state"].values(), strict=True):
        assert torch.equal(p["momentum_buffer"], q["momentum_buffer"])


def test_checkpoint_files_meta_and_best(tmp_path):
    run = run_tiny(tmp_path, "w", validate=True)
    files = sorted(p.name for p in run.work_dir.iterdir() if p.suffix == ".pth")
    best = [f for f in files if f.startswith("best_top1_acc_epoch_")]
    assert {"epoch_1.pth", "epoch_2.pth", "latest.pth"} <= set(files) and len(best) == 1
    latest = run.work_dir / "latest.pth"
    assert latest.is_symlink() and os.readlink(latest) == "epoch_2.pth"
    meta = read_checkpoint(run.work_dir / "epoch_2.pth")["meta"]
    assert meta["epoch"] == 2 and meta["iter"] == 4 and meta["seed"] == 0
    assert meta["config_name"] == "tiny.py" and meta["work_dir"] == "w"
    assert meta["config_dict"]["model"]["cls_head"]["num_classes"] == 4
    assert "model = dict(" in meta["config"] and meta["stgcn_version"]
    assert set(meta["hook_msgs"]) >= {"last_ckpt", "best_score", "best_ckpt"}
    best_meta = read_checkpoint(run.work_dir / best[0])["meta"]
    assert best_meta["hook_msgs"]["best_ckpt"].endswith(best[0])


def test_load_from_reinitialises_a_head_of_another_class_count(tmp_path, caplog):
    source = run_tiny(tmp_path, "src", ["total_epochs=1"])
    run = run_tiny(tmp_path, "ft", ["total_epochs=1", "model.cls_head.num_classes=6"],
                   load_from=str(source.work_dir / "epoch_1.pth"))
    assert run.raw_model.cls_head.num_classes == 6
    log = next(run.work_dir.glob("*.log")).read_text()
    assert "re-initialised head" in log or "re-initialise" in log


def test_bf16_autocast_on_cpu_trains_float32_weights(tmp_path):
    run = run_tiny(tmp_path, "amp", ["total_epochs=1"], amp="bf16")
    state = read_checkpoint(run.work_dir / "epoch_1.pth")["state_dict"]
    assert run.amp == torch.bfloat16 and state["cls_head.fc.weight"].dtype == torch.float32
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_interval_rules_follow_mmcv():
    settings = parse_evaluation(dict(interval=3, metrics=["top_k_accuracy"]))
    assert [e for e in range(1, 81) if settings.due(e)][-1] == 78  # the 3D config never evaluates epoch 80
    assert parse_evaluation(dict(interval=2, start=3)).due(3) and not parse_evaluation(dict(start=3)).due(2)
    assert parse_checkpoint_config(dict(interval=5)).save_last
    with pytest.raises(StgcnError, match="unknown metric"):
        parse_evaluation(dict(metrics=["mAP"]))
    with pytest.raises(StgcnError, match="unknown keys"):
        parse_checkpoint_config(dict(intervall=5))
    options = dict(metric_options=dict(top_k_accuracy=dict(topk=(1, 3))), save_best="top3_acc")
    assert parse_evaluation(options).topk == (1, 3)
    with pytest.raises(StgcnError, match="one of top1_acc, top5_acc"):
        parse_evaluation(dict(save_best="acc"))


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    with pytest.raises(StgcnError, match="loss is nan"):
        run_tiny(tmp_path, "nan", ["optimizer.lr=1e30", "total_epochs=1"])


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
              f"--master_port={free_port()}"]
    return run_command(launch + args, cwd)


def test_two_process_gloo_training_and_testing(tmp_path):
    config = str(write_tiny_config(tmp_path))
    work = tmp_path / "dist"
    train_py, test_py = str(ROOT / "tools/train.py"), str(ROOT / "tools/test.py")
    proc = _torchrun([train_py, config, "--launcher", "pytorch", "--device", "cpu", "--work-dir", str(work),
                      "--validate", "--seed", "0"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # meta line, then per epoch one train line (16 samples / 2 ranks / batch 8 = 1 iteration) and one val line
    records = [json.loads(line) for line in next(work.glob("*.log.json")).read_text().splitlines()]
    assert [r.get("mode") for r in records] == [None, "train", "val", "train", "val"]
    assert {"top1_acc", "top5_acc", "loss_cls", "loss", "lr", "time", "data_time"} <= set(records[1])
    assert "Distributed training: True" in next(work.glob("*.log")).read_text()
    assert len(list(work.glob("*.log"))) == 1  # rank 1 writes no files
    ckpt = str(work / "epoch_2.pth")
    one, two = tmp_path / "one.pkl", tmp_path / "two.pkl"
    # batch 1 (the seed configs' test batch): the same per-sample computation in both runs, so equal bytes
    single = run_command([sys.executable, test_py, config, ckpt, "--out", str(one), "--device", "cpu",
                          "--batch-size", "1"], tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    proc = _torchrun([test_py, config, ckpt, "--out", str(two), "--launcher", "pytorch", "--device", "cpu",
                      "--eval", "top_k_accuracy", "--batch-size", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("top1_acc: ") == 1  # printed by rank 0 only
    assert one.read_bytes() == two.read_bytes()


def test_first_training_step_is_marked_once_before_and_after_it(tmp_path):
    run = run_tiny(tmp_path, "first", ["total_epochs=2", "log_config.interval=1"])
    lines = next(run.work_dir.glob("*.log")).read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if "First training step starts" in line]
    dones = [i for i, line in enumerate(lines) if "First training step done" in line]
    first_iter = next(i for i, line in enumerate(lines) if "Epoch [1][1/" in line)
    assert len(starts) == len(dones) == 1 and starts[0] < dones[0] < first_iter
    assert re.search(r"s after the process started \([\d.]+ s of CPU; its batch took", lines[starts[0]])
    assert run.global_iter > 1  # later steps are not announced


def test_closing_line_says_where_the_time_went(tmp_path):
    run = run_tiny(tmp_path, "spent", ["total_epochs=2", "evaluation.interval=1"], validate=True)
    lines = next(run.work_dir.glob("*.log")).read_text().splitlines()
    spent = [line for line in lines if "Time spent:" in line]
    assert len(spent) == 1
    match = re.search(r"training ([\d.]+) s, validation ([\d.]+) s.*\((\d+) iterations, ([\d.]+) ms each",
                      spent[0])
    assert match and int(match[3]) == run.global_iter > 0
    assert float(match[1]) > 0 and float(match[2]) > 0
    iters = int(match[3])
    assert abs(float(match[4]) - float(match[1]) / iters * 1000) <= 50 / iters + 0.05  # 0.1 s rounding
