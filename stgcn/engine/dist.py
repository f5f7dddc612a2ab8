"""Processes: launchers, ranks and devices, reductions and ordered gathering, seeds and data order.

`--launcher pytorch` expects torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT);
`slurm` and `mpi` translate their schedulers' variables into the same environment. The backend is NCCL on
GPUs and Gloo on CPU. Training reads a DistributedSampler order seeded by `seed + epoch` (one process is
world size 1) and runs each sample's random transforms under a seed derived from (seed, epoch, index);
evaluation gives every process every world_size-th sample and gathers the results back in dataset order.
"""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from stgcn.errors import StgcnError

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or dist.is_available() and dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _require(names: list[str], launcher: str) -> dict[str, str]:
    missing = [n for n in names if n not in os.environ]
    if missing:
        how = "tools/dist_train.sh (torchrun)" if launcher == "pytorch" else launcher
        raise StgcnError(f"--launcher {launcher}: environment variables {', '.join(missing)} are not set; "
                         f"start the job with {how} or use --launcher none")
    return {n: os.environ[n] for n in names}


def _slurm_env() -> None:
    env = _require(["SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"], "slurm")
    if "MASTER_ADDR" not in os.environ:
        nodelist = os.environ.get("SLURM_NODELIST", "")
        try:
            out = subprocess.run(["scontrol", "show", "hostname", nodelist], capture_output=True, text=True,
                                 timeout=30, check=True)
            os.environ["MASTER_ADDR"] = out.stdout.split()[0]
        except (OSError, subprocess.SubprocessError, IndexError) as exc:
            raise StgcnError("--launcher slurm: MASTER_ADDR is not set and 'scontrol show hostname' failed; "
                             "export MASTER_ADDR") from exc
    os.environ.setdefault("MASTER_PORT", "29500")
    os.environ["RANK"], os.environ["WORLD_SIZE"] = env["SLURM_PROCID"], env["SLURM_NTASKS"]
    os.environ["LOCAL_RANK"] = env["SLURM_LOCALID"]
    if "SLURM_NTASKS_PER_NODE" in os.environ:
        os.environ.setdefault("LOCAL_WORLD_SIZE", os.environ["SLURM_NTASKS_PER_NODE"].split("(")[0])


def _mpi_env() -> None:
    env = _require(["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                    "MASTER_ADDR"], "mpi")
    os.environ.setdefault("MASTER_PORT", "29500")
    os.environ["RANK"], os.environ["WORLD_SIZE"] = env["OMPI_COMM_WORLD_RANK"], env["OMPI_COMM_WORLD_SIZE"]
    os.environ["LOCAL_RANK"] = env["OMPI_COMM_WORLD_LOCAL_RANK"]
    if "OMPI_COMM_WORLD_LOCAL_SIZE" in os.environ:
        os.environ.setdefault("LOCAL_WORLD_SIZE", os.environ["OMPI_COMM_WORLD_LOCAL_SIZE"])


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'cpu', 'cuda' or 'auto' (CUDA when available) -> the device of this process."""
    if name not in ("cpu", "cuda", "auto"):
        raise StgcnError(f"--device {name!r} is not valid; use cpu, cuda or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise StgcnError("--device cuda: no CUDA device is visible; use --device cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(launcher: str, device_name: str = "auto", backend: str | None = None) -> DistInfo:
    """Start the process group for `launcher` ('none' returns a single-process DistInfo).

    `device_name` is the `--device` choice; CUDA processes use NCCL and bind to their LOCAL_RANK's GPU,
    CPU processes use Gloo whatever `dist_params.backend` says.
    """
    if launcher not in LAUNCHERS:
        raise StgcnError(f"--launcher {launcher!r} is not valid; use one of {', '.join(LAUNCHERS)}")
    if launcher == "none":
        return DistInfo()
    if launcher == "slurm":
        _slurm_env()
    elif launcher == "mpi":
        _mpi_env()
    env = _require(["RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"], "pytorch")
    info = DistInfo(rank=int(env["RANK"]), world_size=int(env["WORLD_SIZE"]),
                    local_rank=int(env["LOCAL_RANK"]),
                    local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])))
    device = resolve_device(device_name, info.local_rank)
    if backend is None or (device.type == "cpu" and backend == "nccl"):
        backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    return info


def get_info() -> DistInfo:
    """Rank and world size of the running process group (single process when none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    local = int(os.environ.get("LOCAL_RANK", 0))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local,
                    int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size())))


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if _active():
        dist.barrier()


def destroy() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sums(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Sum each value over all processes (one collective for the whole dict)."""
    if not _active() or not values:
        return dict(values)
    keys = list(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist(), strict=True))


def broadcast_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BN running statistics) to every process, as before a distributed eval."""
    if _active():
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)


def configure_threads(info: DistInfo, device: torch.device) -> None:
    """Several CPU processes on one machine share its cores instead of each taking all of them."""
    if device.type == "cpu" and info.local_world_size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.local_world_size))


def broadcast_object(obj):
    """Rank 0's `obj` on every process."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_ordered(indices: list[int], results: list, total: int) -> list | None:
    """Collect per-sample results from all processes into dataset order on rank 0 (None elsewhere).

    Each process passes the dataset indices it ran and their results; every index in range(total) must
    be covered exactly once across processes.
    """
    pairs = list(zip(indices, results, strict=True))
    if _active():
        gathered = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
        dist.gather_object(pairs, gathered, dst=0)
        if dist.get_rank() != 0:
            return None
        pairs = [p for part in gathered for p in part]
    ordered: list = [None] * total
    for index, result in pairs:
        ordered[index] = result
    if any(r is None for r in ordered):
        missing = sum(r is None for r in ordered)
        raise RuntimeError(f"{missing} of {total} samples have no result after gathering")
    return ordered


# seeds and data order -------------------------------------------------------------------------------------

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
    """Runs `dataset[index]` under RNG seeds derived from (seed, epoch, index); the caller's RNG states
    are restored afterwards, so the main process's streams (dropout) are untouched."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        states = random.getstate(), np.random.get_state(), torch.get_rng_state()
        sample_seed = derive_seed(self.seed, epoch, index)
        random.seed(sample_seed)
        np.random.seed(sample_seed)
        torch.manual_seed(sample_seed)
        try:
            return self.dataset[index]
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)


def build_train_loader(dataset: Dataset, settings: dict, info: DistInfo, seed: int,
                       device: torch.device) -> DataLoader:
    workers = settings["workers_per_gpu"]
    return DataLoader(SeededDataset(dataset, seed), batch_size=settings["videos_per_gpu"],
                      sampler=EpochSampler(len(dataset), info, seed), num_workers=workers,
                      pin_memory=settings.get("pin_memory", True) and device.type == "cuda",
                      drop_last=bool(settings.get("drop_last", False)),
                      persistent_workers=workers > 0, worker_init_fn=_worker_init if workers > 0 else None)


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
