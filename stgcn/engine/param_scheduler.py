"""mmengine's learning-rate schedulers (`param_scheduler` of mmaction2 1.x configs), value for value.

mmengine's schedulers are chainable: each one, when stepped inside its `[begin, end)` window, rewrites the
optimizer's current rate from that rate (e.g. a cosine step multiplies the distance to `eta_min` by a
ratio of cosines), and several active schedulers compose in list order. Construction steps each one
once; then iteration-based ones (`by_epoch=False`, or converted with `convert_to_iter_based=True`) step
after every iteration and epoch-based ones after every epoch. `LrChain` replays exactly that sequence
of float operations, so the rate of every iteration equals mmengine's (not only its closed form).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from stgcn.errors import StgcnError

INF = int(1e9)  # mmengine's "no end"

# type -> the keys each scheduler takes besides type/begin/end/by_epoch/convert_to_iter_based/verbose
SCHEDULERS = {
    "CosineAnnealingLR": {"T_max", "eta_min", "eta_min_ratio"},
    "LinearLR": {"start_factor", "end_factor"},
    "MultiStepLR": {"milestones", "gamma"},
    "StepLR": {"step_size", "gamma"},
    "ConstantLR": {"factor"},
    "ExponentialLR": {"gamma"},
}
_COMMON = {"type", "begin", "end", "by_epoch", "convert_to_iter_based", "verbose"}


@dataclass
class Scheduler:
    """One scheduler in iteration or epoch units (after mmengine's epoch -> iteration conversion)."""

    kind: str
    begin: int
    end: int
    by_epoch: bool
    args: dict
    last_step: int = -1
    global_step: int = -1

    def step(self, lr: float, base_lr: float) -> float:
        self.global_step += 1
        if not self.begin <= self.global_step < self.end:
            return lr
        self.last_step += 1
        return _value(self.kind, self.args, self.last_step, lr, base_lr)


def _value(kind: str, a: dict, t: int, lr: float, base: float) -> float:
    """The chainable form of each mmengine scheduler at its step `t` from the current rate `lr`."""
    if kind == "CosineAnnealingLR":
        t_max = a["T_max"]
        eta_min = a["eta_min"] if a.get("eta_min_ratio") is None else base * a["eta_min_ratio"]
        if t == 0:
            return lr
        if (t - 1 - t_max) % (2 * t_max) == 0:
            return lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        return ((1 + math.cos(math.pi * t / t_max)) / (1 + math.cos(math.pi * (t - 1) / t_max))
                * (lr - eta_min) + eta_min)
    if kind == "LinearLR":
        start, end, total = a["start_factor"], a["end_factor"], a["total_iters"]
        if t == 0:
            return lr * start
        return lr * (1.0 + (end - start) / (total * start + (t - 1) * (end - start)))
    if kind == "MultiStepLR":
        hits = a["milestones"].count(t)
        return lr * a["gamma"] ** hits if hits else lr
    if kind == "StepLR":
        return lr if t == 0 or t % a["step_size"] else lr * a["gamma"]
    if kind == "ConstantLR":
        if t == 0:
            return lr * a["factor"]
        return lr * (1.0 / a["factor"]) if t == a["total_iters"] else lr
    return lr if t == 0 else lr * a["gamma"]  # ExponentialLR


def _check(cfg: dict, where: str) -> None:
    kind = cfg.get("type")
    if kind not in SCHEDULERS:
        raise StgcnError(f"{where}: unknown scheduler type {kind!r}; valid: {', '.join(SCHEDULERS)}")
    unknown = sorted(set(cfg) - _COMMON - SCHEDULERS[kind])
    if unknown:
        raise StgcnError(f"{where}: {kind} has no key(s) {unknown}; valid: "
                         f"{', '.join(sorted(_COMMON | SCHEDULERS[kind]))}")
    if cfg.get("convert_to_iter_based") and not cfg.get("by_epoch", True):
        raise StgcnError(f"{where}: convert_to_iter_based=True needs by_epoch=True; remove one of them")
    factors = [cfg.get(k) for k in ("start_factor", "end_factor", "factor") if cfg.get(k) is not None]
    if any(not 0 <= f <= 1 for f in factors):
        raise StgcnError(f"{where}: {kind} factors must lie in [0, 1], got {factors}")


def build_scheduler(cfg: dict, max_epochs: int, iters_per_epoch: int, where: str) -> Scheduler:
    """One mmengine scheduler dict -> a `Scheduler` (default `end`: the run's epochs or iterations)."""
    _check(cfg, where)
    kind, by_epoch = cfg["type"], bool(cfg.get("by_epoch", True))
    begin = cfg.get("begin", 0)
    end = cfg.get("end", max_epochs if by_epoch else max_epochs * iters_per_epoch)
    if not (isinstance(begin, int) and isinstance(end, int)) or end <= begin:
        raise StgcnError(f"{where}: begin={begin!r}, end={end!r}; give ints with end > begin")
    args = {k: v for k, v in cfg.items() if k not in _COMMON}
    if by_epoch and cfg.get("convert_to_iter_based"):
        n = iters_per_epoch
        by_epoch, begin, end = False, int(begin * n), end if end == INF else int(end * n)
        if args.get("T_max") is not None:
            args["T_max"] = args["T_max"] * n
        if "milestones" in args:
            args["milestones"] = [m * n for m in args["milestones"]]
        if "step_size" in args:
            args["step_size"] = args["step_size"] * n
    args.setdefault("gamma", 0.1)
    args.setdefault("start_factor", 1.0 / 3)
    args.setdefault("end_factor", 1.0)
    args.setdefault("factor", 1.0 / 3)
    args["milestones"] = list(args.get("milestones", []))
    args["total_iters"] = end - begin - 1
    if kind == "CosineAnnealingLR":
        args["T_max"] = args.get("T_max") or end - begin
        if args.get("eta_min") is None and args.get("eta_min_ratio") is None:
            args["eta_min"] = 0.0
        if args.get("eta_min") is not None and args.get("eta_min_ratio") is not None:
            raise StgcnError(f"{where}: give one of eta_min and eta_min_ratio, not both")
    return Scheduler(kind, begin, end, by_epoch, args)


@dataclass
class LrChain:
    """mmengine's scheduler list; `lr(base_lr, epoch, global_iter)` like `optim.LrSchedule`."""

    configs: list[dict]
    max_epochs: int
    iters_per_epoch: int
    _cache: dict = field(default_factory=dict, repr=False)

    def rates(self, base_lr: float) -> list[float]:
        """The rate of every iteration of the run, replaying mmengine's construction and hook steps."""
        if base_lr in self._cache:
            return self._cache[base_lr]
        chain = [build_scheduler(c, self.max_epochs, self.iters_per_epoch, f"param_scheduler.{i}")
                 for i, c in enumerate(self.configs)]
        lr, out = base_lr, []
        for s in chain:  # each scheduler steps once when it is built
            lr = s.step(lr, base_lr)
        for it in range(self.max_epochs * self.iters_per_epoch):
            out.append(lr)
            for s in chain:
                if not s.by_epoch:
                    lr = s.step(lr, base_lr)
            if (it + 1) % self.iters_per_epoch == 0:
                for s in chain:
                    if s.by_epoch:
                        lr = s.step(lr, base_lr)
        self._cache[base_lr] = out
        return out

    def lr(self, base_lr: float, epoch: int, global_iter: int) -> float:
        rates = self.rates(base_lr)
        return rates[min(global_iter, len(rates) - 1)] if rates else base_lr


def build_lr_chain(schedulers: list[dict] | dict, max_epochs: int, iters_per_epoch: int) -> LrChain:
    """Check every scheduler dict now (one-line errors) and return the chain."""
    configs = [schedulers] if isinstance(schedulers, dict) else list(schedulers)
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, dict):
            raise StgcnError(f"param_scheduler.{i} must be a dict(type=..., ...), got {type(cfg).__name__}")
        build_scheduler(cfg, max_epochs, max(iters_per_epoch, 1), f"param_scheduler.{i}")
    return LrChain(configs, max_epochs, max(iters_per_epoch, 1))
