"""A tiny synthetic training config shared by the engine and tools tests (T=16, 16 samples, 4 classes)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TINY_CONFIG = """
model = dict(
    type='SkeletonGCN',
    backbone=dict(type='STGCN', in_channels=3, edge_importance_weighting=True,
                  graph_cfg=dict(layout='coco', strategy='spatial')),
    cls_head=dict(type='STGCNHead', num_classes=4, in_channels=256, num_person=1,
                  loss_cls=dict(type='CrossEntropyLoss')),
    train_cfg=None,
    test_cfg=None)
train_pipeline = [
    dict(type='UniformSampleFrames', clip_len=16),
    dict(type='PoseDecode'),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='PoseNormalize'),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
test_pipeline = [
    dict(type='UniformSampleFrames', clip_len=16, test_mode=True),
    dict(type='PoseDecode'),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='PoseNormalize'),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
data = dict(
    videos_per_gpu=8,
    workers_per_gpu=0,
    test_dataloader=dict(videos_per_gpu=4),
    train=dict(type='SyntheticPoseDataset', split='train', num_samples=16, num_person=1, min_frames=16,
               max_frames=24, pipeline=train_pipeline),
    val=dict(type='SyntheticPoseDataset', split='val', num_samples=10, num_person=1, min_frames=16,
             max_frames=24, pipeline=test_pipeline),
    test=dict(type='SyntheticPoseDataset', split='val', num_samples=10, num_person=1, min_frames=16,
              max_frames=24, pipeline=test_pipeline))
optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0001, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[1])
total_epochs = 2
checkpoint_config = dict(interval=1)
evaluation = dict(interval=1, metrics=['top_k_accuracy', 'mean_class_accuracy'])
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
dist_params = dict(backend='nccl')
log_level = 'INFO'
workflow = [('train', 1)]
"""


def write_tiny_config(directory: Path, name: str = "tiny.py") -> Path:
    path = Path(directory) / name
    path.write_text(TINY_CONFIG)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_command(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `cmd` in its own process group; on timeout the whole group (torchrun's workers too) is killed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd[:6])} timed out:\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def interrupt_when(cmd: list[str], cwd: Path, marker: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run `cmd`, send it SIGINT (Ctrl-C) once `marker` appears on its stderr, and wait for it to end."""
    import queue
    import threading

    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    # a shell starts background jobs with SIGINT ignored, and Python keeps an inherited SIG_IGN: restore
    # the default so that the child turns SIGINT into KeyboardInterrupt however the tests were started
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue = queue.Queue()
    err: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while True:
            line = lines.get(timeout=timeout)
            if line is None:
                pytest.fail(f"{marker!r} never appeared:\n{''.join(err)[-3000:]}")
            err.append(line)
            if marker in line:
                break
        proc.send_signal(signal.SIGINT)
        out = proc.stdout.read()
        proc.wait(timeout=timeout)
    except (queue.Empty, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"{' '.join(cmd[:6])} timed out:\n{''.join(err)[-3000:]}")
    reader.join(timeout=30)
    while not lines.empty():
        line = lines.get()
        if line is not None:
            err.append(line)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "".join(err))
