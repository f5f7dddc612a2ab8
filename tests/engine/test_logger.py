"""Text and JSON log lines in mmcv's shape (readable by mmaction2's analyze_logs.py)."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict

import pytest

from stgcn.engine.logger import LogBuffer, RunLog, collect_env, get_logger


def test_log_buffer_weights_by_count():
    buf = LogBuffer()
    buf.update({"top1_acc": 1.0, "loss": 2.0}, count=3)
    buf.update({"top1_acc": 0.0, "loss": 4.0}, count=1)
    assert buf.average() == OrderedDict(top1_acc=0.75, loss=2.5)
    buf.clear()
    assert buf.average() == {}


def test_train_and_val_lines(tmp_path, caplog):
    logger = get_logger(tmp_path / "run.log", rank=0)
    log = RunLog(logger, tmp_path / "run.log.json", rank=0)
    log.meta({"env_info": "x", "seed": 0, "config_name": "c.py", "work_dir": "w", "hook_msgs": {}})
    values = OrderedDict(data_time=0.0131234, top1_acc=0.045, top5_acc=0.178, loss_cls=3.9123456,
                         loss=3.9123456, time=0.2121212)
    log.train(1, 100, 1253, 100, 0.1, values, eta_seconds=25262.7, memory_mb=None)
    log.val(5, 42, 0.01, OrderedDict(top1_acc=0.123456, top5_acc=0.5), global_iter=6265)
    for handler in logger.handlers:
        handler.flush()
    text = (tmp_path / "run.log").read_text()
    assert ("Epoch [1][100/1253]\tlr: 1.000e-01, eta: 7:01:02, time: 0.212, data_time: 0.013, "
            "top1_acc: 0.0450, top5_acc: 0.1780, loss_cls: 3.9123, loss: 3.9123") in text
    assert "Epoch(val) [5][42]\ttop1_acc: 0.1235, top5_acc: 0.5000" in text
    assert " - stgcn - INFO - " in text
    lines = [json.loads(line) for line in (tmp_path / "run.log.json").read_text().splitlines()]
    assert lines[0]["config_name"] == "c.py" and "epoch" not in lines[0]
    assert list(lines[1]) == ["mode", "epoch", "iter", "lr", "data_time", "top1_acc", "top5_acc", "loss_cls",
                              "loss", "time"]
    assert lines[1]["loss"] == 3.91235 and lines[1]["iter"] == 100 and lines[1]["mode"] == "train"
    assert lines[2] == {"mode": "val", "epoch": 5, "iter": 42, "lr": 0.01, "top1_acc": 0.12346,
                        "top5_acc": 0.5}


def test_memory_key_comes_after_lr(tmp_path):
    log = RunLog(get_logger(None), tmp_path / "m.json")
    log.train(1, 1, 2, 1, 0.1, OrderedDict(data_time=0.1, loss=1.0, time=0.2), 10, memory_mb=1834)
    record = json.loads((tmp_path / "m.json").read_text())
    assert list(record)[:5] == ["mode", "epoch", "iter", "lr", "memory"] and record["memory"] == 1834


def test_other_ranks_write_no_files(tmp_path):
    logger = get_logger(tmp_path / "r1.log", rank=1)
    log = RunLog(logger, tmp_path / "r1.log.json", rank=1)
    log.meta({"seed": 0})
    logger.info("not shown")
    assert logger.level == logging.ERROR
    assert not (tmp_path / "r1.log").exists() and not (tmp_path / "r1.log.json").exists()


def test_tensorboard_is_optional(tmp_path):
    pytest.importorskip("torch.utils.tensorboard")
    log = RunLog(get_logger(None), None, tensorboard_dir=tmp_path / "tf")
    log.val(1, 1, 0.1, OrderedDict(top1_acc=0.5), 1)
    log.close()
    assert any((tmp_path / "tf").iterdir())


def test_collect_env_has_versions():
    env = collect_env()
    assert {"Python", "PyTorch", "NumPy", "stgcn", "CUDA available"} <= set(env)
