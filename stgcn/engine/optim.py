"""Optimizer, learning-rate schedule and gradient clipping from mmaction2 0.x config dicts.

The optimizer gets every parameter in one group, so weight decay applies to all of them (BN, biases and
`edge_importance` included), as mmcv's default constructor does. The schedule reproduces mmcv's LR
updater hooks: a by-epoch policy uses the 0-based epoch index (so `step=[10, 50]` gives 0.1 for epochs
1-10, 0.01 for 11-50, 0.001 after), a per-iteration policy (`by_epoch=False`) the global iteration, and
warm-up scales the regular rate for global iterations `< warmup_iters`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from stgcn.errors import StgcnError

OPTIMIZERS = {
    "SGD": torch.optim.SGD,
    "Adam": torch.optim.Adam,
    "AdamW": torch.optim.AdamW,
    "RMSprop": torch.optim.RMSprop,
}

POLICIES = ("step", "cosineannealing", "fixed", "poly", "exp")
WARMUPS = ("constant", "linear", "exp")


def number(cfg: dict, key: str, default: float, section: str, positive: bool = False) -> float:
    """`cfg[key]` as a float that is >= 0 (> 0 when `positive`), else a one-line error naming the key."""
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise StgcnError(f"{section}.{key} must be a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise StgcnError(f"{section}.{key} must be {kind}, got {value!r}")
    return float(value)


def check_optimizer_config(cfg: dict) -> tuple[str, dict]:
    """Validate `optimizer = dict(type=..., lr=..., ...)` (cheap: run it before long work); returns the
    optimizer type and its keyword arguments."""
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in OPTIMIZERS:
        raise StgcnError(f"optimizer.type: unknown optimizer {kind!r}; valid: {', '.join(OPTIMIZERS)}")
    for key in ("paramwise_cfg", "constructor"):
        if cfg.pop(key, None):
            raise StgcnError(f"optimizer.{key} is not supported; remove it (weight decay applies to all "
                             "parameters, as in mmcv's default constructor)")
    if "lr" not in cfg:
        raise StgcnError("optimizer.lr is missing; set e.g. optimizer = dict(type='SGD', lr=0.1, ...)")
    for key in ("lr", "momentum", "weight_decay"):
        if key in cfg:
            number(cfg, key, 0.0, "optimizer")
    return kind, cfg


def build_optimizer(model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    """`dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)` -> the torch optimizer."""
    kind, kwargs = check_optimizer_config(cfg)
    try:
        return OPTIMIZERS[kind](model.parameters(), **kwargs)
    except (TypeError, ValueError) as exc:
        raise StgcnError(f"optimizer: {exc}; check the keys of the optimizer dict") from exc


@dataclass
class LrSchedule:
    """mmcv's LR updater semantics; `lr(base_lr, epoch, global_iter)` with 0-based epoch and iteration."""

    policy: str
    max_epochs: int
    iters_per_epoch: int
    by_epoch: bool = True
    step: list[int] = field(default_factory=list)
    step_every: int | None = None
    gamma: float = 0.1
    power: float = 1.0
    min_lr: float | None = None
    min_lr_ratio: float | None = None
    warmup: str | None = None
    warmup_iters: int = 0
    warmup_ratio: float = 0.1

    def regular_lr(self, base_lr: float, epoch: int, global_iter: int) -> float:
        progress = epoch if self.by_epoch else global_iter
        max_progress = self.max_epochs if self.by_epoch else self.max_epochs * self.iters_per_epoch
        if self.policy == "fixed":
            return base_lr
        if self.policy == "step":
            if self.step_every is not None:
                exp = progress // self.step_every
            else:
                exp = next((i for i, s in enumerate(self.step) if progress < s), len(self.step))
            lr = base_lr * self.gamma ** exp
            return lr if self.min_lr is None else max(lr, self.min_lr)
        if self.policy == "exp":
            return base_lr * self.gamma ** progress
        target = base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else (self.min_lr or 0.0)
        factor = progress / max_progress
        if self.policy == "poly":
            return (base_lr - target) * (1 - factor) ** self.power + target
        return target + 0.5 * (base_lr - target) * (math.cos(math.pi * factor) + 1)  # cosineannealing

    def lr(self, base_lr: float, epoch: int, global_iter: int) -> float:
        """The rate used by the optimizer step at this (epoch, global iteration)."""
        regular = self.regular_lr(base_lr, epoch, global_iter)
        if self.warmup is None or global_iter >= self.warmup_iters:
            return regular
        if self.warmup == "constant":
            return regular * self.warmup_ratio
        if self.warmup == "linear":
            k = (1 - global_iter / self.warmup_iters) * (1 - self.warmup_ratio)
            return regular * (1 - k)
        return regular * self.warmup_ratio ** (1 - global_iter / self.warmup_iters)  # exp


_LR_KEYS = {"policy", "by_epoch", "step", "gamma", "min_lr", "min_lr_ratio", "power", "warmup",
            "warmup_iters", "warmup_ratio", "warmup_by_epoch"}


def build_lr_schedule(lr_config: dict, max_epochs: int, iters_per_epoch: int) -> LrSchedule:
    """`lr_config = dict(policy='step', step=[10, 50])` (and mmcv's other keys) -> an `LrSchedule`."""
    cfg = dict(lr_config)
    if cfg.get("policy") == "ParamScheduler":  # mmaction2 1.x param_scheduler, translated by config_1x
        from stgcn.engine.param_scheduler import build_lr_chain
        return build_lr_chain(cfg.get("schedulers") or [], max_epochs, iters_per_epoch)
    unknown = sorted(set(cfg) - _LR_KEYS)
    if unknown:
        raise StgcnError(f"lr_config: unknown keys {unknown}; valid: {', '.join(sorted(_LR_KEYS))}")
    policy = str(cfg.get("policy", "")).lower()
    if policy not in POLICIES:
        raise StgcnError(f"lr_config.policy: unknown policy {cfg.get('policy')!r}; valid: step, "
                         "CosineAnnealing, fixed, poly, exp")
    schedule = LrSchedule(policy=policy, max_epochs=max_epochs, iters_per_epoch=max(iters_per_epoch, 1),
                          by_epoch=bool(cfg.get("by_epoch", True)),
                          gamma=number(cfg, "gamma", 0.1, "lr_config"),
                          power=number(cfg, "power", 1.0, "lr_config"), min_lr=cfg.get("min_lr"),
                          min_lr_ratio=cfg.get("min_lr_ratio"))
    if policy == "step":
        step = cfg.get("step")
        if isinstance(step, int) and step > 0:
            schedule.step_every = step
        elif isinstance(step, (list, tuple)) and all(isinstance(s, int) and s > 0 for s in step):
            schedule.step = list(step)
        else:
            raise StgcnError(f"lr_config.step must be a positive int or a list of them, got {step!r}")
    if policy == "cosineannealing" and (cfg.get("min_lr") is None) == (cfg.get("min_lr_ratio") is None):
        raise StgcnError("lr_config: CosineAnnealing needs exactly one of min_lr and min_lr_ratio")
    if policy == "poly" and schedule.min_lr is None:
        schedule.min_lr = 0.0
    warmup = cfg.get("warmup")
    if warmup is not None:
        if warmup not in WARMUPS:
            raise StgcnError(f"lr_config.warmup: unknown warm-up {warmup!r}; valid: {', '.join(WARMUPS)}")
        iters = cfg.get("warmup_iters")
        if not isinstance(iters, int) or iters <= 0:
            raise StgcnError(f"lr_config.warmup_iters must be a positive int, got {iters!r}")
        ratio = number(cfg, "warmup_ratio", 0.1, "lr_config")
        if not 0 < ratio <= 1:
            raise StgcnError(f"lr_config.warmup_ratio must be in (0, 1], got {ratio}")
        schedule.warmup, schedule.warmup_ratio = warmup, ratio
        schedule.warmup_iters = iters * schedule.iters_per_epoch if cfg.get("warmup_by_epoch") else iters
    return schedule


def set_lr(optimizer: torch.optim.Optimizer, schedule: LrSchedule, epoch: int, global_iter: int) -> float:
    """Set every group's rate for this iteration (from its `initial_lr`); returns group 0's rate."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = schedule.lr(group["initial_lr"], epoch, global_iter)
    return optimizer.param_groups[0]["lr"]


def build_grad_clip(optimizer_config: dict | None) -> dict | None:
    """`optimizer_config=dict(grad_clip=dict(max_norm=40, norm_type=2))` -> clip_grad_norm_ arguments."""
    optimizer_config = dict(optimizer_config or {})
    grad_clip = optimizer_config.pop("grad_clip", None)
    optimizer_config.pop("type", None)
    if optimizer_config:
        raise StgcnError(f"optimizer_config: unsupported keys {sorted(optimizer_config)}; only grad_clip")
    if grad_clip is None:
        return None
    unknown = set(grad_clip) - {"max_norm", "norm_type"}
    if unknown or "max_norm" not in grad_clip:
        raise StgcnError("optimizer_config.grad_clip must be dict(max_norm=..., norm_type=2)")
    return {"max_norm": number(grad_clip, "max_norm", 0.0, "optimizer_config.grad_clip", positive=True),
            "norm_type": number(grad_clip, "norm_type", 2.0, "optimizer_config.grad_clip", positive=True)}


def clip_grads(model: nn.Module, grad_clip: dict | None) -> float | None:
    """Clip the total gradient norm when configured; returns the norm before clipping."""
    if grad_clip is None:
        return None
    params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
    if not params:
        return None
    return float(nn.utils.clip_grad_norm_(params, **grad_clip))
