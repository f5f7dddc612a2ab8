"""Data for the loops: datasets built from the config, loaders, seeds and the training data order.

Training reads a DistributedSampler order seeded by `seed + epoch` (one process is world size 1) and runs
each sample's random transforms under a seed derived from (seed, epoch, index), so a run depends on its
seed only, whatever the number of loader workers. Evaluation gives every process every world_size-th
sample; :func:`stgcn.engine.dist.gather_ordered` puts the results back in dataset order.
"""

from __future__ import annotations

import gc
import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, get_worker_info

from stgcn.engine.config_1x import translated_from
from stgcn.engine.dist import DistInfo
from stgcn.errors import MissingFileError, StgcnError, did_you_mean


def derive_seed(*parts: int) -> int:
    """A well-mixed 32-bit seed from integers (seed, epoch, index, ...)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices); `deterministic` also pins cuDNN and torch's algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


class EpochSampler(Sampler):
    """DistributedSampler order (seeded by seed + epoch, padded to equal shares), yielding (epoch, index)."""

    def __init__(self, size: int, info: DistInfo, seed: int) -> None:
        self.inner = DistributedSampler(range(size), num_replicas=info.world_size, rank=info.rank,
                                        shuffle=True, seed=seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, index) for index in self.inner)

    def __len__(self) -> int:
        return len(self.inner)


class SeededDataset(Dataset):
    """Runs `dataset[index]` with Python's and NumPy's global RNGs (the ones the transforms draw from)
    seeded from (seed, epoch, index). In the main process (no loader workers) the caller's RNG states are
    restored afterwards, so its streams are untouched; a worker's own streams serve nothing else, and
    saving NumPy's state costs more than the sample's transforms."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        sample_seed = derive_seed(self.seed, epoch, index)
        states = None if get_worker_info() is not None else (random.getstate(), np.random.get_state())
        random.seed(sample_seed)
        np.random.seed(sample_seed)
        try:
            return self.dataset[index]
        finally:
            if states is not None:
                random.setstate(states[0])
                np.random.set_state(states[1])


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)
    # A forked worker shares the parent's Python objects copy-on-write; a full garbage collection would
    # write to every one of them (and so copy their pages). Frozen objects are never collected.
    gc.freeze()


def build_train_loader(dataset: Dataset, settings: dict, info: DistInfo, seed: int,
                       device: torch.device) -> DataLoader:
    workers = settings["workers_per_gpu"]
    return DataLoader(SeededDataset(dataset, seed), batch_size=settings["videos_per_gpu"],
                      sampler=EpochSampler(len(dataset), info, seed), num_workers=workers,
                      pin_memory=settings.get("pin_memory", True) and device.type == "cuda",
                      drop_last=bool(settings.get("drop_last", False)),
                      persistent_workers=workers > 0, worker_init_fn=_worker_init if workers > 0 else None,
                      # the loader's own base seed: starting an epoch's iterator then draws nothing from
                      # the global torch RNG, whose stream (dropout) is thus the same for any worker count
                      generator=torch.Generator().manual_seed(seed))


DATA_KEYS = frozenset({"train", "val", "test", "videos_per_gpu", "workers_per_gpu", "persistent_workers",
                       "train_dataloader", "val_dataloader", "test_dataloader", "omni_videos_per_gpu"})


def check_data_keys(data_cfg: dict, source: str) -> None:
    """Reject a misspelt key directly under `data` (`data.trian`), with a did-you-mean hint."""
    for key in data_cfg:
        if key not in DATA_KEYS:
            hint = did_you_mean(key, sorted(DATA_KEYS)) or f" (valid: {', '.join(sorted(DATA_KEYS))})"
            raise StgcnError(f"{source}: unknown key data.{key}{hint}")


def loader_settings(data_cfg: dict, part: str) -> dict:
    """mmaction2's loader settings for 'train', 'val' or 'test': data-level defaults, then
    `data.{part}_dataloader` overrides (so `test_dataloader=dict(videos_per_gpu=1)` applies to tests)."""
    settings = {"videos_per_gpu": data_cfg.get("videos_per_gpu", 1),
                "workers_per_gpu": data_cfg.get("workers_per_gpu", 1),
                "persistent_workers": data_cfg.get("persistent_workers", False)}
    extra = data_cfg.get(f"{part}_dataloader") or {}
    unknown = set(extra) - set(settings) - {"pin_memory", "drop_last", "shuffle"}
    if unknown:
        raise StgcnError(f"data.{part}_dataloader: unknown keys {sorted(unknown)}; valid: "
                         "videos_per_gpu, workers_per_gpu, persistent_workers, pin_memory, drop_last")
    settings.update(extra)
    for key in ("videos_per_gpu", "workers_per_gpu"):
        if not isinstance(settings[key], int) or settings[key] < (1 if key == "videos_per_gpu" else 0):
            kind = "positive" if key == "videos_per_gpu" else "non-negative"
            raise StgcnError(f"data.{key} must be a {kind} int, got {settings[key]!r}")
    return settings


def build_eval_loader(dataset, settings: dict, info: DistInfo, device: torch.device,
                      batch_size: int | None = None) -> tuple[torch.utils.data.DataLoader, list[int]]:
    """A loader over this process's share of `dataset` (every world_size-th sample), in order."""
    indices = list(range(info.rank, len(dataset), info.world_size))
    workers = settings["workers_per_gpu"]
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size or settings["videos_per_gpu"], sampler=indices, num_workers=workers,
        pin_memory=settings.get("pin_memory", True) and device.type == "cuda",
        persistent_workers=bool(settings["persistent_workers"]) and workers > 0,
        worker_init_fn=_worker_init if workers > 0 else None)
    return loader, indices


def check_model_sizes(model_cfg: dict, source: str) -> None:
    """The sizes samples are checked against (channels, classes, persons) must be positive ints."""
    from stgcn.data import SampleSpec

    spec = SampleSpec.from_model_config(model_cfg)
    sizes = (("backbone.in_channels", spec.in_channels), ("cls_head.num_classes", spec.num_classes),
             ("cls_head.num_person", spec.num_person))
    for name, value in sizes:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise StgcnError(f"{source}: model.{name} must be a positive int, got {value!r}")


def build_data(cfg: dict, part: str, test_mode: bool) -> Dataset:
    """`data.{part}` of the config, its samples checked against the config's model (V, C, classes, M)."""
    from stgcn.data import SampleSpec, build_dataset

    if part not in cfg.get("data", {}):
        raise StgcnError(f"config has no data.{part}; add data = dict({part}=dict(type=..., ...))")
    spec = SampleSpec.from_model_config(cfg["model"])
    try:
        return build_dataset(cfg["data"][part], test_mode=test_mode, spec=spec)
    except MissingFileError as err:
        raise StgcnError(f"{err}; set it with --cfg-options {_data_key(cfg, part)}ann_file=PATH") from None
    except StgcnError as err:
        if str(err).startswith("pipeline"):  # say which dataset's pipeline, in the config's own names
            raise StgcnError(f"{_data_key(cfg, part)}{err}") from None
        raise


def _data_key(cfg: dict, part: str) -> str:
    """Where `data.{part}`'s dataset options live, in the config's own names (0.x or 1.x)."""
    inner = "dataset." if cfg["data"][part].get("type") == "RepeatDataset" else ""
    if translated_from(cfg) == "1.x":
        return f"{part}_dataloader.dataset.{inner}"
    return f"data.{part}.{inner}"
