"""mmaction2 1.x and PYSKL configs: translation of the unchanged 1.x files, rejected keys, mmengine-exact
learning-rate schedules (against the closed-form formulas, per iteration) and clip averaging."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from stgcn.engine.config import load_config
from stgcn.engine.optim import build_lr_schedule
from stgcn.engine.test import merge_clips
from stgcn.errors import StgcnError
from tests.conftest import shared_path


def oracle_configs() -> list[str]:
    return ["stgcn/stgcn_8xb16-joint-u100-80e_ntu60-xsub-keypoint-2d.py",
            "stgcn/stgcn_8xb16-joint-u100-80e_ntu60-xsub-keypoint-3d.py",
            "stgcn/stgcn_8xb16-bone-u100-80e_ntu60-xsub-keypoint-2d.py",
            "stgcnpp/stgcnpp_8xb16-joint-u100-80e_ntu60-xsub-keypoint-2d.py",
            "stgcnpp/stgcnpp_8xb16-joint-u100-80e_ntu60-xsub-keypoint-3d.py",
            "stgcnpp/stgcnpp_8xb16-bone-motion-u100-80e_ntu60-xsub-keypoint-2d.py",
            "stgcnpp/stgcnpp_8xb16-bone-motion-u100-80e_ntu60-xsub-keypoint-3d.py"]


def oracle_config(name: str) -> Path:
    return shared_path("data", "mmaction2_1x", "configs", "skeleton", name)


@pytest.mark.parametrize("name", oracle_configs())
def test_unchanged_1x_configs_translate(name):
    cfg = load_config(oracle_config(name), {"train_dataloader.dataset.dataset.ann_file": "tiny.pkl"})
    assert cfg["converted_from"]["format"] == "1.x"
    assert cfg["total_epochs"] == 16
    data = cfg["data"]
    assert data["train"]["type"] == "RepeatDataset" and data["train"]["times"] == 5
    assert data["train"]["dataset"]["ann_file"] == "tiny.pkl"  # the 1.x path of --cfg-options
    assert data["train"]["dataset"]["split"] == "xsub_train" and not data["train"]["dataset"]["test_mode"]
    assert data["val"]["test_mode"] and data["test"]["split"] == "xsub_val"
    assert data["train_dataloader"]["videos_per_gpu"] == 16 and data["test_dataloader"]["videos_per_gpu"] == 1
    assert data["test"]["pipeline"][2] == dict(type="UniformSampleFrames", clip_len=100, num_clips=10,
                                               test_mode=True)
    assert data["test"]["pipeline"][-1] == {"type": "PackActionInputs"}
    assert cfg["optimizer"] == dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=0.0005, nesterov=True)
    assert cfg["lr_config"]["policy"] == "ParamScheduler"
    assert cfg["evaluation"]["metrics"] == ["top_k_accuracy", "mean_class_accuracy"]
    assert cfg["evaluation"]["save_best"] == "auto" and cfg["checkpoint_config"] == {"interval": 1}
    assert cfg["log_config"]["interval"] == 100
    assert cfg["test_cfg"] == {"average_clips": "prob"}
    assert cfg["model"]["type"] == "RecognizerGCN"
    assert any("default_scope" in note for note in cfg["converted_from"]["notes"])


def test_translated_config_is_not_translated_again(tmp_path):
    from stgcn.engine.config import dump_config

    cfg = load_config(oracle_config(oracle_configs()[0]))
    assert load_config(dump_config(cfg, tmp_path / "resolved.py")) == cfg


MINIMAL_1X = """
model = dict(type='RecognizerGCN', backbone=dict(type='STGCN', graph_cfg=dict(layout='coco')),
             cls_head=dict(type='GCNHead', num_classes=4, in_channels=256))
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(type='PoseDataset', ann_file='a.pkl', pipeline=[]))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))
auto_scale_lr = dict(enable=False, base_batch_size=8)
"""


@pytest.mark.parametrize(("extra", "message"), [
    ("total_epochs = 3", "total_epochs is a 0.x key; mmaction2 1.x configs use train_cfg.max_epochs"),
    ("default_hooks = dict(profiler=dict(type='ProfilerHook'))", "default_hooks.profiler is not supported"),
    ("custom_hooks = [dict(type='EMAHook')]", "custom_hooks is not supported"),
    ("train_cfg = dict(type='IterBasedTrainLoop', max_iters=10)", "train_cfg.max_iters is not supported"),
    ("train_cfg = dict(type='IterBasedTrainLoop', max_epochs=1)", "must be EpochBasedTrainLoop"),
    ("train_dataloader['sampler']['shuffle'] = False", "shuffle =False is not supported"),
    ("optim_wrapper['accumulative_counts'] = 4", "accumulative_counts must be 1"),
    ("val_evaluator = dict(type='ConfusionMatrix')", "val_evaluator must be one AccMetric"),
    ("randomness = dict(seed=1, deterministic=True)", "pass --deterministic instead"),
    ("vis_backends = [dict(type='WandbVisBackend')]", "WandbVisBackend is not supported"),
    ("env_cfg = dict(cudnn_benchmark=True, foo=1)", "env_cfg.foo is not supported"),
])
def test_unsupported_1x_keys_are_rejected_by_name(tmp_path, extra, message):
    path = tmp_path / "cfg.py"
    path.write_text(MINIMAL_1X + extra + "\n")
    with pytest.raises(StgcnError, match="cfg.py") as info:
        load_config(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_1x_dataset_nan_policy_and_epoch_errors_use_1x_names(tmp_path):
    from stgcn.engine.train import check_runtime_keys

    path = tmp_path / "cfg.py"
    path.write_text(MINIMAL_1X.replace("pipeline=[])", "pipeline=[], nan_policy='zero')"))
    cfg = load_config(path)
    assert cfg["data"]["train"]["nan_policy"] == "zero"  # what the NaN error tells the user to set
    path.write_text(MINIMAL_1X.replace("max_epochs=2", "max_epochs=0"))
    with pytest.raises(StgcnError, match=r"train_cfg.max_epochs must be a positive int, got 0"):
        check_runtime_keys(load_config(path), str(path))


def test_missing_annotation_file_names_the_key_to_set(tmp_path, monkeypatch):
    from stgcn.engine.loader import build_data

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "cfg.py"
    path.write_text(MINIMAL_1X)
    with pytest.raises(StgcnError, match=r"a.pkl: annotation file does not exist.*--cfg-options "
                                         r"train_dataloader.dataset.ann_file=PATH"):
        build_data(load_config(path), "train", test_mode=False)
    cfg = load_config(path)
    cfg["data"]["train"] = dict(type="RepeatDataset", times=2, dataset=cfg["data"]["train"])
    cfg.pop("converted_from")
    with pytest.raises(StgcnError, match=r"--cfg-options data.train.dataset.ann_file=PATH"):
        build_data(cfg, "train", test_mode=False)
    (tmp_path / "a.pkl").mkdir()  # a folder where the file should be gets the same hint
    with pytest.raises(StgcnError, match=r"a.pkl: annotation file is a directory.*--cfg-options "
                                         r"data.train.dataset.ann_file=PATH"):
        build_data(cfg, "train", test_mode=False)


def test_dump_suffix_is_refused_before_any_work(tmp_path, capsys):
    from stgcn.commands.test import main as cli_test

    config = oracle_config(oracle_configs()[0])
    assert cli_test([str(config), str(tmp_path / "missing.pth"), "--dump", str(tmp_path / "r.txt")]) == 2
    err = capsys.readouterr().err
    assert "--dump" in err and "use a .pkl or .pickle file name" in err and "missing.pth" not in err


def test_1x_runtime_keys_map(tmp_path, monkeypatch):
    path = tmp_path / "cfg.py"
    path.write_text(MINIMAL_1X + """
optim_wrapper = dict(type='AmpOptimWrapper', optimizer=dict(type='AdamW', lr=0.1),
                     clip_grad=dict(max_norm=40, norm_type=2))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=2, save_best='acc/top1',
                                     max_keep_ckpts=3), logger=dict(type='LoggerHook', interval=7))
randomness = dict(seed=3)
load_from = 'w.pth'
resume = True
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
env_cfg = dict(cudnn_benchmark=True)
launcher = 'pytorch'
""")
    cfg = load_config(path)
    assert cfg["optimizer"] == dict(type="AdamW", lr=0.1)
    assert cfg["optimizer_config"] == {"grad_clip": {"max_norm": 40, "norm_type": 2}}
    assert cfg["fp16"] == {"loss_scale": "dynamic"}
    assert cfg["checkpoint_config"] == {"interval": 2, "max_keep_ckpts": 3}
    assert cfg["evaluation"]["save_best"] == "top1_acc"
    assert cfg["log_config"] == {"interval": 7, "hooks": [{"type": "TextLoggerHook"},
                                                          {"type": "TensorboardLoggerHook"}]}
    assert (cfg["seed"], cfg["resume_from"], cfg["cudnn_benchmark"]) == (3, "w.pth", True)
    assert "load_from" not in cfg
    assert any("launcher" in n for n in cfg["converted_from"]["notes"])
    monkeypatch.setenv("WORLD_SIZE", "2")  # auto_scale_lr: 2 per GPU x 2 GPUs / 8
    scaled = load_config(path, {"auto_scale_lr.enable": True})
    assert scaled["optimizer"]["lr"] == pytest.approx(0.1 * 4 / 8)


# learning-rate schedules -------------------------------------------------------------------------------

def rates(schedulers: list[dict], epochs: int, iters: int, base: float = 0.1) -> list[float]:
    schedule = build_lr_schedule({"policy": "ParamScheduler", "schedulers": schedulers}, epochs, iters)
    return [schedule.lr(base, i // iters, i) for i in range(epochs * iters)]


def cosine(t: float, period: float, base: float, eta_min: float = 0.0) -> float:
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / period)) / 2


def test_1x_cosine_converted_to_iterations_follows_the_formula():
    # the 1.x ST-GCN recipe: CosineAnnealingLR(T_max=16 epochs, by_epoch, convert_to_iter_based)
    got = rates([dict(type="CosineAnnealingLR", eta_min=0, T_max=16, by_epoch=True,
                      convert_to_iter_based=True)], epochs=16, iters=40)
    expected = [cosine(i, 16 * 40, 0.1) for i in range(16 * 40)]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert got[0] == 0.1 and got[320] == pytest.approx(0.05, rel=1e-12)


def test_linear_warmup_then_cosine_compose_like_mmengine():
    got = rates([dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=10),
                 dict(type="CosineAnnealingLR", T_max=5, eta_min=0.0, by_epoch=True, begin=0, end=5,
                      convert_to_iter_based=True)], epochs=5, iters=6)
    for i, lr in enumerate(got):  # eta_min = 0: the two factors multiply
        warm = 0.1 + 0.9 * min(i, 9) / 9  # LinearLR reaches end_factor at step end - begin - 1
        assert lr == pytest.approx(0.1 * warm * (1 + math.cos(math.pi * i / 30)) / 2, rel=1e-12), i


def test_cosine_with_eta_min_and_late_begin():
    got = rates([dict(type="CosineAnnealingLR", eta_min=0.01, by_epoch=False, begin=5, end=25)],
                epochs=1, iters=30)
    for i, lr in enumerate(got):
        expected = 0.1 if i < 5 else cosine(min(i, 24) - 5, 20, 0.1, 0.01)
        assert lr == pytest.approx(expected, rel=1e-12), i


def test_multistep_by_epoch_steps_after_epochs():
    got = rates([dict(type="MultiStepLR", milestones=[2, 4], gamma=0.1, by_epoch=True)], epochs=6, iters=3)
    for i, lr in enumerate(got):
        epoch = i // 3
        assert lr == pytest.approx(0.1 * 0.1 ** ((epoch >= 2) + (epoch >= 4)), rel=1e-12), i


def test_bad_scheduler_is_one_line():
    with pytest.raises(StgcnError, match="unknown scheduler type 'OneCycleLR'"):
        rates([dict(type="OneCycleLR")], 1, 1)
    with pytest.raises(StgcnError, match="CosineAnnealingLR has no key"):
        rates([dict(type="CosineAnnealingLR", T_mul=2)], 1, 1)


# PYSKL ---------------------------------------------------------------------------------------------------

PYSKL = """
model = dict(type='RecognizerGCN', backbone=dict(type='STGCN', graph_cfg=dict(layout='coco',
             mode='stgcn_spatial')), cls_head=dict(type='GCNHead', num_classes=4, in_channels=256))
dataset_type = 'PoseDataset'
ann_file = 'a.pkl'
def steps(clips):
    return [dict(type='PreNormalize2D'), dict(type='GenSkeFeat', dataset='coco', feats=['j']),
            dict(type='UniformSample', clip_len=8, num_clips=clips), dict(type='PoseDecode'),
            dict(type='FormatGCNInput', num_person=2),
            dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
            dict(type='ToTensor', keys=['keypoint'])]
data = dict(videos_per_gpu=2, workers_per_gpu=0, test_dataloader=dict(videos_per_gpu=1),
            train=dict(type='RepeatDataset', times=2, dataset=dict(type=dataset_type, ann_file=ann_file,
                       pipeline=steps(1), split='xsub_train')),
            val=dict(type=dataset_type, ann_file=ann_file, pipeline=steps(1), split='xsub_val'),
            test=dict(type=dataset_type, ann_file=ann_file, pipeline=steps(3), split='xsub_val'))
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0005, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0, by_epoch=False)
total_epochs = 2
checkpoint_config = dict(interval=1)
evaluation = dict(interval=1, metrics=['top_k_accuracy'])
log_config = dict(interval=100, hooks=[dict(type='TextLoggerHook')])
log_level = 'INFO'
work_dir = './work_dirs/j'
"""


def test_pyskl_config_translates(tmp_path):
    path = tmp_path / "j.py"
    path.write_text(PYSKL)
    cfg = load_config(path)
    assert cfg["converted_from"]["format"] == "pyskl" and cfg["test_cfg"] == {"average_clips": "prob"}
    train = cfg["data"]["train"]["dataset"]["pipeline"]
    test = cfg["data"]["test"]["pipeline"]
    assert train[2] == dict(type="UniformSampleFrames", clip_len=8, num_clips=1, test_mode=False)
    assert test[2] == dict(type="UniformSampleFrames", clip_len=8, num_clips=3, test_mode=True)
    assert [s["type"] for s in test[-2:]] == ["FormatGCNInput", "PackActionInputs"]
    from stgcn.data import build_dataset

    cfg = load_config(path, {"data.test.ann_file": str(write_tiny_annotations(tmp_path / "a.pkl"))})
    item = build_dataset(cfg["data"]["test"], test_mode=True)[0]  # 3 clips of 8 frames, M = 2
    assert tuple(item["keypoint"].shape) == (3, 3, 8, 17, 2) and item["label"] == 0
    schedule = build_lr_schedule(cfg["lr_config"], cfg["total_epochs"], 5)  # mmcv per-iteration cosine
    assert [schedule.lr(0.1, i // 5, i) for i in range(10)] == pytest.approx(
        [cosine(i, 10, 0.1) for i in range(10)], rel=1e-12)


# clip averaging ------------------------------------------------------------------------------------------

def test_merge_clips():
    logits = torch.tensor([[1.0, 2.0], [3.0, 0.0], [0.0, 0.0], [2.0, 2.0]])  # 2 samples x 2 clips
    prob = merge_clips(logits, 2, "prob")
    expected = (logits.softmax(-1)[0::2] + logits.softmax(-1)[1::2]) / 2
    assert torch.allclose(prob, expected)
    assert torch.equal(merge_clips(logits, 2, "score"), torch.tensor([[2.0, 1.0], [1.0, 1.0]]))
    assert torch.equal(merge_clips(logits, 1, None), logits)
    with pytest.raises(StgcnError, match="average_clips='prob'"):
        merge_clips(logits, 2, None)


# end to end: an unchanged 1.x config file, a tiny annotation file, tools/train.py and tools/test.py --------

def write_tiny_annotations(path: Path, num_classes: int = 4) -> Path:
    """A split-format 2D COCO-17 file: 4 train and 2 val clips of 20-30 frames."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    samples = []
    for i in range(6):
        t = 20 + 2 * i
        samples.append({"frame_dir": f"clip{i}", "label": i % num_classes, "total_frames": t,
                        "img_shape": (480, 640), "original_shape": (480, 640),
                        "keypoint": rng.uniform(0, 480, size=(1, t, 17, 2)).astype(np.float32),
                        "keypoint_score": rng.uniform(0, 1, size=(1, t, 17)).astype(np.float32)})
    split = {"xsub_train": [f"clip{i}" for i in range(4)], "xsub_val": ["clip4", "clip5"]}
    path.write_bytes(pickle.dumps({"split": split, "annotations": samples}))
    return path


def tiny_options(ann: Path, clip_len: int = 4) -> list[str]:
    options = [f"train_dataloader.dataset.dataset.ann_file={ann}", f"val_dataloader.dataset.ann_file={ann}",
               f"test_dataloader.dataset.ann_file={ann}", "train_dataloader.dataset.times=1",
               "train_dataloader.batch_size=2", "val_dataloader.batch_size=2", "train_cfg.max_epochs=1",
               "default_hooks.logger.interval=1",
               f"train_dataloader.dataset.dataset.pipeline.2.clip_len={clip_len}"]
    for part in ("train", "val", "test"):
        options += [f"{part}_dataloader.num_workers=0", f"{part}_dataloader.persistent_workers=False"]
    for part in ("val", "test"):
        options.append(f"{part}_dataloader.dataset.pipeline.2.clip_len={clip_len}")
    return options


def test_1x_config_trains_and_tests_end_to_end(tmp_path, capsys):
    """The unchanged 1.x ST-GCN 2D config (RecognizerGCN, 4 classes by --cfg-options): 1 epoch of 2
    iterations with validation, then a 10-clip test with --dump."""
    import json
    import pickle

    from stgcn.commands.test import main as cli_test
    from stgcn.commands.train import main as cli_train

    config = oracle_config(oracle_configs()[0])
    ann = write_tiny_annotations(tmp_path / "tiny.pkl")
    work = tmp_path / "work"
    argv = [str(config), "--work-dir", str(work), "--seed", "0", "--device", "cpu", "--cfg-options",
            "model.cls_head.num_classes=4", *tiny_options(ann)]
    assert cli_train(argv) == 0
    names = {p.name for p in work.iterdir()}
    assert {"epoch_1.pth", "latest.pth", "best_top1_acc_epoch_1.pth"} <= names  # validated by default
    log = [json.loads(line) for line in next(work.glob("*.log.json")).read_text().splitlines()]
    lrs = [r["lr"] for r in log if r.get("mode") == "train"]
    # CosineAnnealingLR(T_max=16 epochs) converted to 2 iterations per epoch: T_max = 32 iterations
    assert lrs == pytest.approx([round(cosine(i, 32, 0.1), 5) for i in range(2)], abs=1e-5)
    assert any(r.get("mode") == "val" for r in log)

    dump = tmp_path / "result.pkl"
    test_argv = [str(config), str(work / "latest.pth"), "--dump", str(dump), "--device", "cpu",
                 "--work-dir", str(tmp_path / "test_work"), "--cfg-options", "model.cls_head.num_classes=4",
                 *tiny_options(ann)]
    capsys.readouterr()
    assert cli_test(test_argv) == 0
    assert "latest.pth: weights loaded (key names: mmaction2 0.x)" in capsys.readouterr().err
    results = pickle.loads(dump.read_bytes())
    assert len(results) == 2 and [int(r["gt_label"][0]) for r in results] == [0, 1]
    for r in results:  # 10 clips averaged as probabilities
        assert r["pred_score"].shape == (4,) and float(r["pred_score"].sum()) == pytest.approx(1.0, abs=1e-5)
        assert int(r["pred_label"][0]) == int(r["pred_score"].argmax())
    metrics = json.loads(next((tmp_path / "test_work").glob("*.json")).read_text())
    assert set(metrics) == {"top1_acc", "top5_acc", "mean_class_accuracy"}


def test_resume_auto_finds_the_latest_checkpoint(tmp_path):
    from stgcn.commands.train import latest_checkpoint

    assert latest_checkpoint(tmp_path) is None
    for n in (2, 10, 9):
        (tmp_path / f"epoch_{n}.pth").write_bytes(b"")
    (tmp_path / "epoch_x.pth").write_bytes(b"")
    assert latest_checkpoint(tmp_path) == str(tmp_path / "epoch_10.pth")
    (tmp_path / "latest.pth").write_bytes(b"")
    assert latest_checkpoint(tmp_path) == str(tmp_path / "latest.pth")


def test_0x_model_test_cfg_sets_clip_averaging():
    from stgcn.engine.config_1x import average_clips
    from stgcn.models import build_model

    model = dict(type='SkeletonGCN',
                 backbone=dict(type='STGCN', in_channels=3,
                               graph_cfg=dict(layout='coco', strategy='spatial')),
                 cls_head=dict(type='STGCNHead', num_classes=4, in_channels=256, num_person=1),
                 test_cfg=dict(average_clips='prob'))
    assert average_clips({"model": model}) == "prob"
    assert average_clips({"model": {**model, "test_cfg": None}}) is None
    build_model(model)  # average_clips is read by evaluation, so the model accepts it
    with pytest.raises(StgcnError, match="only average_clips"):
        build_model({**model, "test_cfg": dict(average_clips='prob', max_testing_views=4)})


@pytest.mark.parametrize("option, message", [
    ("model.backbone.gcn_adaptive=typo", "model.backbone"),
    ("optim_wrapper.optimizer.momentun=0.9", "optim_wrapper.optimizer"),
    ("train_dataloader.dataset.dataset.pipeline.2.clip_len=0",
     "train_dataloader.dataset.dataset.pipeline"),
])
def test_build_errors_name_the_file_and_the_1x_key(tmp_path, capsys, option, message):
    from stgcn.commands.train import main as cli_train

    config = oracle_config(oracle_configs()[0])
    ann = write_tiny_annotations(tmp_path / "tiny.pkl")
    argv = [str(config), "--work-dir", str(tmp_path / "work"), "--device", "cpu", "--no-validate",
            "--cfg-options", "model.cls_head.num_classes=4", *tiny_options(ann), option]
    assert cli_train(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the log precedes the one error line
    assert "error:" in err and str(config) in err and message in err, err
