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
