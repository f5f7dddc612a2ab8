#!/usr/bin/env bash
# Build the virtual environment of the peer benchmark (benchmarks/bench_peer.py): the real mmaction2 1.2.0
# (mmengine 0.10.7, mmcv-lite 2.1.0) and stgcn in ONE environment, so one process can import both and time
# them interleaved. It is never a dependency of the package; CI does not build it.
#
#   bash benchmarks/peer_venv.sh            # builds benchmarks/.peer-venv/ (a few minutes, ~1 GB)
#   benchmarks/.peer-venv/bin/python benchmarks/bench_peer.py --quick
#
# PYTHON=python3.11 chooses the interpreter (mmaction2 1.2.0 supports 3.8-3.11). An existing venv is reused;
# delete benchmarks/.peer-venv/ to start again.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$here/.peer-venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --no-input)

# torch pinned to the CPU build: a looser spec would resolve to a CUDA wheel (several GB).
"${pip[@]}" torch==2.13.0
# mmaction2 1.2.0 and what it imports on CPU. mmcv-lite is mmcv without compiled ops (the skeleton models
# need none). numpy<2: mmengine 0.10.7 and the mmaction2 wheel predate numpy 2. The wheel declares none
# of importlib_metadata / einops / scipy / opencv although its import chain needs them.
"${pip[@]}" mmengine==0.10.7 mmcv-lite==2.1.0 mmaction2==1.2.0 \
    importlib_metadata einops scipy opencv-python-headless==4.11.0.86 "numpy<2"
# stgcn itself, editable, without re-resolving torch; onnx/onnxruntime for the int8 mode.
"${pip[@]}" --no-deps -e "$root"
"${pip[@]}" onnx onnxruntime "numpy<2"

"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("torch", "mmengine", "mmcv-lite", "mmaction2", "numpy", "onnxruntime", "stgcn"):
    print(f"{name:12s} {md.version(name)}")
PY
echo "peer venv ready: $venv/bin/python"
