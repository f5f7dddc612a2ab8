"""mmaction2 1.x (mmengine) and PYSKL config dicts, translated once into the 0.x-shaped dict the engine runs.

`translate(cfg, source)` is called by `load_config` after `_base_` and `--cfg-options` are applied, so
1.x paths such as `train_dataloader.dataset.dataset.ann_file=...` work. Every 1.x key is either mapped
(`train_dataloader` -> `data.train` + loader settings, `train_cfg.max_epochs` -> `total_epochs`,
`param_scheduler` -> an mmengine-exact schedule, `default_hooks.checkpoint` -> `checkpoint_config` and
`evaluation.save_best`, ...), accepted as having no effect here (listed in `converted_from.notes`, logged
once at start), or rejected with a one-line error naming the key. The result carries
`converted_from = dict(format='1.x'|'pyskl', notes=[...], test_metrics=[...], topk=(...))` and
`test_cfg = dict(average_clips=...)`: clip scores are averaged as 1.x/PYSKL do (softmax, then mean).
"""

from __future__ import annotations

import os
from typing import Any

from stgcn.errors import StgcnError

# top-level keys of mmaction2 1.x configs (mmengine Runner arguments and default_runtime.py)
KEYS_1X = frozenset({
    "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg", "val_cfg", "test_cfg",
    "optim_wrapper", "param_scheduler", "val_evaluator", "test_evaluator", "default_hooks", "custom_hooks",
    "default_scope", "env_cfg", "log_processor", "visualizer", "vis_backends", "log_level", "load_from",
    "resume", "launcher", "randomness", "auto_scale_lr", "work_dir", "model", "custom_imports",
    "converted_from", "experiment_name",
})
MARKERS_1X = KEYS_1X - {"model", "log_level", "load_from", "work_dir", "custom_imports", "train_cfg",
                        "test_cfg", "converted_from"}
# 0.x keys that have a 1.x spelling: mixing them into a 1.x config is an error that names the 1.x key
ZERO_X_TWINS = {"data": "train_dataloader/val_dataloader/test_dataloader", "optimizer": "optim_wrapper",
                "optimizer_config": "optim_wrapper.clip_grad", "lr_config": "param_scheduler",
                "total_epochs": "train_cfg.max_epochs", "checkpoint_config": "default_hooks.checkpoint",
                "evaluation": "val_evaluator and train_cfg.val_interval",
                "log_config": "default_hooks.logger",
                "resume_from": "load_from + resume=True", "workflow": "train_cfg", "seed": "randomness.seed",
                "dist_params": "env_cfg.dist_cfg", "fp16": "optim_wrapper.type='AmpOptimWrapper'"}
METRIC_KEYS = {"acc/top1": "top1_acc", "acc/top5": "top5_acc", "acc/mean1": "mean_class_accuracy"}
NO_EFFECT_HOOKS = {"runtime_info": "RuntimeInfoHook", "timer": "IterTimerHook",
                   "param_scheduler": "ParamSchedulerHook", "sampler_seed": "DistSamplerSeedHook",
                   "sync_buffers": "SyncBuffersHook", "visualization": "VisualizationHook"}


def translated_from(cfg: dict) -> str | None:
    """The format a loaded config was translated from: '1.x', 'pyskl', or None (a 0.x config)."""
    return (cfg.get("converted_from") or {}).get("format")


def config_format(cfg: dict) -> str | None:
    """'1.x', 'pyskl' (mmcv-1.x style with RecognizerGCN), or None (0.x, or already translated)."""
    if "converted_from" in cfg:
        return None
    if MARKERS_1X & set(cfg) or isinstance(cfg.get("train_cfg"), dict) and "max_epochs" in cfg["train_cfg"]:
        return "1.x"
    if (cfg.get("model") or {}).get("type") == "RecognizerGCN" and "data" in cfg:
        return "pyskl"
    return None


def translate(cfg: dict, source: str) -> dict:
    """The engine's 0.x-shaped dict for a 1.x or PYSKL config; other configs are returned unchanged."""
    kind = config_format(cfg)
    if kind == "1.x":
        return _Translator(cfg, source).run()
    if kind == "pyskl":
        from stgcn.engine.config_pyskl import translate_pyskl  # it uses this module's helpers

        return translate_pyskl(cfg, source)
    return cfg


def average_clips(cfg: dict) -> str | None:
    """How the evaluation loop merges a sample's clip scores: 'prob', 'score', or None (raw logits).

    1.x/PYSKL configs say it in the top-level `test_cfg`; a 0.x config in `model.test_cfg` (as 0.x
    recognizers read it) or, failing that, the top-level one."""
    top = (cfg.get("test_cfg") or {}).get("average_clips")
    if "converted_from" in cfg:
        return top
    model_cfg = (cfg.get("model") or {}).get("test_cfg") or {}
    return model_cfg.get("average_clips", top)


def as_in_1x(step: dict) -> dict:
    """A pipeline step set to round as 1.x/PYSKL do (PreNormalize3D keeps float64 until PoseDecode)."""
    if isinstance(step, dict) and step.get("type") == "PreNormalize3D":
        return {**step, "keep_float64": step.get("keep_float64", True)}
    return step


def _check_keys(value: Any, valid: set[str], where: str, source: str) -> dict:
    if not isinstance(value, dict):
        raise StgcnError(f"{source}: {where} must be a dict, got {type(value).__name__}")
    unknown = sorted(set(value) - valid)
    if unknown:
        raise StgcnError(f"{source}: {where}.{unknown[0]} is not supported; valid keys: "
                         f"{', '.join(sorted(valid))}")
    return value


class _Translator:
    """One pass over a 1.x config; `notes` collects what is accepted without effect."""

    def __init__(self, cfg: dict, source: str) -> None:
        self.cfg, self.source, self.notes = cfg, source, []

    def fail(self, key: str, fix: str) -> StgcnError:
        return StgcnError(f"{self.source}: {key} {fix}")

    def run(self) -> dict:
        cfg = self.cfg
        for key, twin in ZERO_X_TWINS.items():
            if key in cfg:
                raise self.fail(key, f"is a 0.x key; mmaction2 1.x configs use {twin}")
        for key in ("custom_hooks", "custom_imports"):
            if cfg.get(key):
                raise self.fail(key, "is not supported (no hooks or plug-in imports here); remove it")
        if "model" not in cfg or "train_cfg" not in cfg and "test_dataloader" not in cfg:
            raise self.fail("model/train_cfg", "missing; a 1.x config needs model and train_cfg or "
                                               "test_dataloader")
        out: dict = {"model": self.model(cfg["model"])}
        out["data"] = self.data()
        out.update(self.schedule())
        out.update(self.hooks())
        out.update(self.runtime())
        out["test_cfg"] = {"average_clips": cfg["model"].get("cls_head", {}).get("average_clips", "prob")}
        test_evaluator = cfg.get("test_evaluator") or cfg.get("val_evaluator")
        metrics, topk = self.evaluator(test_evaluator, "test_evaluator")
        out["converted_from"] = {"format": "1.x", "notes": self.notes, "test_metrics": metrics, "topk": topk}
        return out

    def model(self, model: dict) -> dict:
        model = dict(model)
        pre = model.pop("data_preprocessor", None)
        if pre not in (None, {}) and set(pre) - {"type", "format_shape"}:
            raise self.fail("model.data_preprocessor", "with normalisation is not supported; put the "
                                                      "normalisation in the pipeline")
        if pre:
            self.notes.append("model.data_preprocessor only stacks inputs here (no effect)")
        return model

    # data ----------------------------------------------------------------------------------------------

    def loader(self, part: str) -> tuple[dict | None, dict]:
        name = f"{part}_dataloader"
        loader = self.cfg.get(name)
        if loader is None:
            return None, {}
        _check_keys(loader, {"batch_size", "num_workers", "persistent_workers", "sampler", "dataset",
                             "pin_memory", "drop_last", "collate_fn"}, name, self.source)
        if "dataset" not in loader or not isinstance(loader.get("batch_size"), int):
            raise self.fail(name, "needs dataset=dict(...) and an int batch_size")
        sampler = _check_keys(loader.get("sampler") or {"type": "DefaultSampler"},
                              {"type", "shuffle", "seed", "round_up"}, f"{name}.sampler", self.source)
        if sampler.get("type", "DefaultSampler") != "DefaultSampler":
            raise self.fail(f"{name}.sampler.type", "must be DefaultSampler (epoch-based training)")
        shuffle = sampler.get("shuffle", True)
        if part == "train" and not shuffle:
            raise self.fail(f"{name}.sampler.shuffle", "=False is not supported: training always "
                                                      "shuffles (seeded per epoch); remove it")
        if part != "train" and shuffle:
            self.notes.append(f"{name}.sampler.shuffle=True has no effect: evaluation runs in dataset order")
        collate = loader.get("collate_fn")
        if collate not in (None, {"type": "pseudo_collate"}, {"type": "default_collate"}):
            raise self.fail(f"{name}.collate_fn", "must be pseudo_collate or default_collate")
        settings = {"videos_per_gpu": loader["batch_size"], "workers_per_gpu": loader.get("num_workers", 0),
                    "persistent_workers": bool(loader.get("persistent_workers", False))}
        settings.update({k: loader[k] for k in ("pin_memory", "drop_last") if k in loader})
        return self.dataset(loader["dataset"], f"{name}.dataset", part != "train"), settings

    def dataset(self, ds: dict, where: str, test_mode: bool) -> dict:
        kind = ds.get("type")
        if kind == "RepeatDataset":
            _check_keys(ds, {"type", "times", "dataset"}, where, self.source)
            return {"type": "RepeatDataset", "times": ds["times"],
                    "dataset": self.dataset(ds["dataset"], f"{where}.dataset", test_mode)}
        if kind != "PoseDataset":
            raise self.fail(f"{where}.type", f"{kind!r} is not supported; use PoseDataset or RepeatDataset")
        ds = dict(ds)
        for key, default in (("valid_ratio", None), ("multi_class", False), ("metainfo", None),
                             ("filter_cfg", None), ("indices", None), ("box_thr", 0.5)):
            if ds.pop(key, default) != default:
                raise self.fail(f"{where}.{key}", f"is not supported; remove it (default {default!r})")
        for key in ("serialize_data", "lazy_init", "max_refetch"):
            if key in ds:
                ds.pop(key)
                self.notes.append(f"{where}.{key} has no effect (annotations are loaded once)")
        prefix = ds.pop("data_prefix", None)
        if isinstance(prefix, dict):
            prefix = prefix.get("skeleton") or prefix.get("video") or ""
        if prefix:
            ds["data_prefix"] = prefix
        _check_keys(ds, {"type", "ann_file", "pipeline", "split", "test_mode", "start_index", "modality",
                         "num_classes", "data_prefix", "nan_policy"}, where, self.source)
        ds["test_mode"] = bool(ds.get("test_mode", test_mode))
        ds["pipeline"] = [as_in_1x(step) for step in ds.get("pipeline", [])]
        return ds

    def data(self) -> dict:
        train, train_settings = self.loader("train")
        val, val_settings = self.loader("val")
        test, test_settings = self.loader("test")
        base = train_settings or test_settings or val_settings
        if not base:
            raise self.fail("train_dataloader/test_dataloader", "missing; give at least one")
        data: dict = {"videos_per_gpu": base["videos_per_gpu"], "workers_per_gpu": base["workers_per_gpu"],
                      "persistent_workers": base["persistent_workers"]}
        for part, ds, settings in (("train", train, train_settings), ("val", val, val_settings),
                                   ("test", test, test_settings)):
            if ds is not None:
                data[part] = ds
                data[f"{part}_dataloader"] = settings
        return data

    # schedule -----------------------------------------------------------------------------------------

    def schedule(self) -> dict:
        cfg, out = self.cfg, {}
        train_cfg = cfg.get("train_cfg")
        if train_cfg is not None:
            _check_keys(train_cfg, {"type", "max_epochs", "val_begin", "val_interval", "by_epoch"},
                        "train_cfg", self.source)
            if train_cfg.get("type", "EpochBasedTrainLoop") != "EpochBasedTrainLoop" or \
                    not train_cfg.get("by_epoch", True):
                raise self.fail("train_cfg.type", "must be EpochBasedTrainLoop (iteration-based loops are "
                                                 "not supported)")
            out["total_epochs"] = train_cfg.get("max_epochs")
        for key, loop in (("val_cfg", "ValLoop"), ("test_cfg", "TestLoop")):
            loop_cfg = _check_keys(cfg.get(key) or {}, {"type", "fp16"}, key, self.source)
            if loop_cfg.get("type", loop) != loop:
                raise self.fail(f"{key}.type", f"must be {loop}")
            if loop_cfg.get("fp16"):
                raise self.fail(f"{key}.fp16", "is not supported; use the --amp flag")
        wrapper = _check_keys(cfg.get("optim_wrapper") or {}, {"type", "optimizer", "clip_grad",
                                                                "accumulative_counts", "loss_scale", "dtype"},
                              "optim_wrapper", self.source)
        if "optimizer" not in wrapper:
            if train_cfg is not None:
                raise self.fail("optim_wrapper.optimizer", "is missing; add optim_wrapper=dict("
                                                          "optimizer=...)")
            return out
        kind = wrapper.get("type", "OptimWrapper")
        if kind not in ("OptimWrapper", "AmpOptimWrapper"):
            raise self.fail("optim_wrapper.type", f"{kind!r} is not supported; use OptimWrapper or "
                                                 "AmpOptimWrapper")
        if wrapper.get("accumulative_counts", 1) != 1:
            raise self.fail("optim_wrapper.accumulative_counts", "must be 1 (no gradient accumulation)")
        if kind == "AmpOptimWrapper":
            out["fp16"] = {"loss_scale": wrapper.get("loss_scale", "dynamic")}
        elif "loss_scale" in wrapper or "dtype" in wrapper:
            raise self.fail("optim_wrapper.loss_scale", "needs type='AmpOptimWrapper'")
        out["optimizer"] = self.scaled(dict(wrapper["optimizer"]))
        clip = wrapper.get("clip_grad")
        if clip is not None:
            clip = dict(_check_keys(clip, {"max_norm", "norm_type", "type"}, "optim_wrapper.clip_grad",
                                    self.source))
            if clip.pop("type", "norm") != "norm":
                raise self.fail("optim_wrapper.clip_grad.type", "must be 'norm' (clip by value is not "
                                                               "supported)")
        out["optimizer_config"] = {"grad_clip": clip}
        if cfg.get("param_scheduler"):
            out["lr_config"] = {"policy": "ParamScheduler", "schedulers": cfg["param_scheduler"]}
        return out

    def scaled(self, optimizer: dict) -> dict:
        """`auto_scale_lr.enable` (or --auto-scale-lr): lr *= batch_size * world_size / base_batch_size."""
        auto = _check_keys(self.cfg.get("auto_scale_lr") or {}, {"enable", "base_batch_size"},
                           "auto_scale_lr", self.source)
        if not auto.get("enable"):
            return optimizer
        base = auto.get("base_batch_size")
        if not isinstance(base, int) or base < 1:
            raise self.fail("auto_scale_lr.base_batch_size", "must be a positive int")
        world = int(os.environ.get("WORLD_SIZE", 1))
        batch = (self.cfg.get("train_dataloader") or {}).get("batch_size", 1) * world
        optimizer["lr"] = optimizer["lr"] * batch / base
        self.notes.append(f"auto_scale_lr: lr scaled by {batch}/{base} to {optimizer['lr']:g}")
        return optimizer

    # hooks, evaluation, runtime ----------------------------------------------------------------------

    def evaluator(self, evaluator: Any, key: str) -> tuple[list[str], tuple[int, ...]]:
        evaluators = evaluator if isinstance(evaluator, (list, tuple))\
            else [evaluator or {"type": "AccMetric"}]
        if len(evaluators) != 1 or evaluators[0].get("type") != "AccMetric":
            raise self.fail(key, "must be one AccMetric (other metrics are not supported)")
        acc = _check_keys(evaluators[0], {"type", "metric_list", "metric_options", "collect_device",
                                          "prefix"}, key, self.source)
        if acc.get("prefix") not in (None, "acc"):
            raise self.fail(f"{key}.prefix", "must be 'acc' (the metric names are fixed)")
        metrics = acc.get("metric_list", ("top_k_accuracy", "mean_class_accuracy"))
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        topk = ((acc.get("metric_options") or {}).get("top_k_accuracy") or {}).get("topk", (1, 5))
        return metrics, tuple([topk] if isinstance(topk, int) else topk)

    def hooks(self) -> dict:
        cfg = self.cfg
        hooks = dict(cfg.get("default_hooks") or {})
        ckpt = _check_keys(hooks.pop("checkpoint", None) or {}, {
            "type", "interval", "by_epoch", "save_best", "rule", "max_keep_ckpts", "save_last",
            "save_optimizer", "greater_keys", "less_keys"}, "default_hooks.checkpoint", self.source)
        if not ckpt.get("by_epoch", True):
            raise self.fail("default_hooks.checkpoint.by_epoch", "=False is not supported; save by epoch")
        logger = _check_keys(hooks.pop("logger", None) or {}, {
            "type", "interval", "ignore_last", "interval_exp_name", "log_metric_by_epoch"},
            "default_hooks.logger", self.source)
        for name, value in hooks.items():
            if name not in NO_EFFECT_HOOKS:
                raise self.fail(f"default_hooks.{name}", "is not supported; remove it")
            if name == "visualization" and value and value.get("enable"):
                raise self.fail("default_hooks.visualization.enable", "=True is not supported")
        if hooks:
            self.notes.append(f"default_hooks {', '.join(sorted(hooks))}: what the training loop always "
                              "does (no effect)")
        metrics, topk = self.evaluator(cfg.get("val_evaluator"), "val_evaluator")
        train_cfg = cfg.get("train_cfg") or {}
        interval, begin = train_cfg.get("val_interval", 1), train_cfg.get("val_begin", 1)
        if begin > 1 and interval > 1:
            raise self.fail("train_cfg.val_begin", "> 1 with val_interval > 1 is not supported; set one "
                                                  "of them to 1")
        if isinstance(train_cfg.get("max_epochs"), int) and train_cfg["max_epochs"] % interval:
            self.notes.append(f"train_cfg.val_interval={interval}: validation runs every {interval} epochs; "
                              "unlike mmengine, the last epoch is not validated in addition")
        save_best = ckpt.get("save_best")
        if isinstance(save_best, (list, tuple)):
            raise self.fail("default_hooks.checkpoint.save_best", "must be one metric name or 'auto'")
        evaluation = {"interval": interval, "metrics": metrics, "topk": topk,
                      "save_best": METRIC_KEYS.get(save_best, save_best)}
        if begin > 1:
            evaluation["start"] = begin
        if ckpt.get("rule"):
            evaluation["rule"] = ckpt["rule"]
        checkpoint = {k: ckpt[k] for k in ("interval", "max_keep_ckpts", "save_last", "save_optimizer")
                      if k in ckpt}
        return {"evaluation": evaluation, "checkpoint_config": checkpoint,
                "log_config": {"interval": logger.get("interval", 10), "hooks": self.vis_hooks()}}

    def vis_hooks(self) -> list[dict]:
        backends = list(self.cfg.get("vis_backends") or [])
        backends += (self.cfg.get("visualizer") or {}).get("vis_backends") or []
        kinds = {b.get("type") for b in backends if isinstance(b, dict)}
        unknown = sorted(kinds - {"LocalVisBackend", "TensorboardVisBackend"})
        if unknown:
            raise self.fail("vis_backends", f"{unknown[0]} is not supported; use LocalVisBackend or "
                                            "TensorboardVisBackend")
        hooks = [{"type": "TextLoggerHook"}]
        if "TensorboardVisBackend" in kinds:
            hooks.append({"type": "TensorboardLoggerHook"})
        return hooks

    def runtime(self) -> dict:
        cfg, out = self.cfg, {}
        for key in ("work_dir", "load_from", "log_level"):
            if cfg.get(key) is not None:
                out[key] = cfg[key]
        if cfg.get("resume"):
            out["resume_from"] = cfg.get("load_from") or "auto"
            out.pop("load_from", None)
        env = _check_keys(cfg.get("env_cfg") or {}, {"cudnn_benchmark", "mp_cfg", "dist_cfg"}, "env_cfg",
                          self.source)
        out["cudnn_benchmark"] = bool(env.get("cudnn_benchmark", False))
        if (env.get("dist_cfg") or {}).get("backend"):
            out["dist_params"] = {"backend": env["dist_cfg"]["backend"]}
        randomness = _check_keys(cfg.get("randomness") or {}, {"seed", "deterministic", "diff_rank_seed"},
                                 "randomness", self.source)
        if randomness.get("seed") is not None:
            out["seed"] = randomness["seed"]
        for key, flag in (("deterministic", "--deterministic"), ("diff_rank_seed", "--diff-seed")):
            if randomness.get(key):
                raise self.fail(f"randomness.{key}", f"is not read from the config; pass {flag} instead")
        if cfg.get("launcher", "none") != "none":
            self.notes.append(f"launcher={cfg['launcher']!r} in the config has no effect; --launcher decides")
        quiet = [k for k in ("default_scope", "log_processor", "visualizer", "vis_backends",
                             "experiment_name") if k in cfg] + ["env_cfg.mp_cfg"] * ("mp_cfg" in env)
        if quiet:
            self.notes.append(f"{', '.join(quiet)}: no effect (text and JSON logs are always written)")
        return out
