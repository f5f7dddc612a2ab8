"""Processes: launchers, ranks and devices, reductions, broadcasts and ordered gathering.

`--launcher pytorch` expects torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT);
`slurm` and `mpi` translate their schedulers' variables into the same environment. The backend is NCCL on
GPUs and Gloo on CPU. Data loaders and seeds live in :mod:`stgcn.engine.loader`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

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


@contextlib.contextmanager
def process_group(launcher: str, device_name: str = "auto", backend: str | None = None):
    """`init_distributed` for the length of a ``with`` block; a group started here is destroyed at its end.

    Leaving a Gloo group to interpreter shutdown can abort a process after its work is done
    ("terminate called without an active exception"); a group the caller started is left alone.
    """
    started = not (dist.is_available() and dist.is_initialized())
    info = init_distributed(launcher, device_name, backend)
    try:
        yield info
    finally:
        if started:
            destroy()


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


def wrap_model(raw_model: nn.Module, info: DistInfo, device: torch.device, cfg: dict) -> nn.Module:
    """DistributedDataParallel around the model when distributed, else the model itself."""
    if not info.distributed:
        return raw_model
    # 1x1 conv gradients come back channels-last: the same memory order as the parameter, only the
    # strides of the size-1 dims differ, so DDP's layout warning does not apply
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return nn.parallel.DistributedDataParallel(
        raw_model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False,
        find_unused_parameters=bool(cfg.get("find_unused_parameters", False)))
