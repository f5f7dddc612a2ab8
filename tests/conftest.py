"""Shared fixtures: the real data and the reference oracle beside the checkout.

Tests that need them are skipped when ``../shared`` is absent, unless ``STGCN_REQUIRE_SHARED=1`` (set by
CI), where a missing file fails the test instead: a skip there would hide a broken check.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("STGCN_REQUIRE_SHARED") == "1":
            pytest.fail(f"{path} is missing and STGCN_REQUIRE_SHARED=1")
        pytest.skip(f"{path.name} not available (../shared is absent)")
    return path


def load_reference():
    """Import ../shared/reference/stgcn_reference.py as a module, or skip."""
    path = shared_path("reference", "stgcn_reference.py")
    if "stgcn_reference" not in sys.modules:
        spec = importlib.util.spec_from_file_location("stgcn_reference", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["stgcn_reference"] = module
        spec.loader.exec_module(module)
    return sys.modules["stgcn_reference"]


@pytest.fixture
def reference():
    return load_reference()


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: on a busy shared CPU, spin-waiting threads make a model's
    forward and training steps many times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
