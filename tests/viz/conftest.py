"""One intra-op thread for the picture tests: on a busy shared CPU, spin-waiting threads make the
model's first forward many times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
