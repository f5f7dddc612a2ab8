"""CPU process set-up: malloc tuning is applied on glibc and can be switched off."""

import subprocess
import sys


def _run(env_value: str | None) -> str:
    code = "from stgcn.engine.runtime import configure_cpu_runtime; print(configure_cpu_runtime())"
    env = {"PATH": "/usr/bin:/bin"}
    if env_value is not None:
        env["STGCN_MALLOC_TUNING"] = env_value
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_opt_out_leaves_malloc_alone():
    assert _run("0") == "False"


def test_tuning_applies_where_glibc_is_present():
    import ctypes.util

    expected = "True" if ctypes.util.find_library("c") else "False"
    assert _run(None) == expected


def test_mixed_precision_is_logged_with_its_source():
    import logging

    import torch

    from stgcn.engine.runtime import resolve_amp

    records = []
    logger = logging.getLogger("amp_test")  # its own handler: other tests stop "stgcn" propagating
    logger.setLevel(logging.INFO)
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        assert resolve_amp(None, dict(loss_scale=512.0), torch.device("cpu"), logger) == torch.bfloat16
        assert resolve_amp("bf16", None, torch.device("cpu"), logger) == torch.bfloat16
        assert resolve_amp(None, None, torch.device("cpu"), logger) is None
    finally:
        logger.removeHandler(handler)
    lines = [r.getMessage() for r in records]
    assert lines == [
        "mixed precision: bf16 autocast on cpu (the config's fp16; --cfg-options fp16=None runs fp32)",
        "mixed precision: bf16 autocast on cpu (--amp)"]
