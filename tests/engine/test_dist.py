"""Process groups: a group the command starts is destroyed when it ends; one the caller started is kept."""

from __future__ import annotations

import pytest
import torch.distributed as dist

from stgcn.engine import dist as dist_utils
from tests.engine.tiny import free_port


@pytest.fixture
def one_process_env(monkeypatch):
    env = dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(free_port()))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_group_started_by_the_block_is_destroyed_at_its_end(one_process_env):
    with dist_utils.process_group("pytorch", "cpu") as info:
        assert dist.is_initialized() and info.rank == 0 and info.world_size == 1
    assert not dist.is_initialized()


def test_group_destroyed_when_the_block_raises(one_process_env):
    with pytest.raises(RuntimeError, match="boom"):
        with dist_utils.process_group("pytorch", "cpu"):
            raise RuntimeError("boom")
    assert not dist.is_initialized()


def test_group_the_caller_started_is_left_alone(one_process_env):
    dist.init_process_group("gloo", init_method="env://")
    with dist_utils.process_group("pytorch", "cpu"):
        pass
    assert dist.is_initialized()


def test_no_launcher_starts_no_group():
    with dist_utils.process_group("none", "cpu") as info:
        assert not dist.is_initialized() and not info.distributed
