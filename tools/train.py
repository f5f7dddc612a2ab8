#!/usr/bin/env python
"""Train a skeleton recognizer: `python tools/train.py CONFIG [--validate] [--seed 0] [--deterministic] ...`

Works from a source checkout without installing the package (the repository root goes on sys.path).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    try:
        from stgcn.cli import run_command
    except KeyboardInterrupt:  # Ctrl-C while importing torch
        sys.exit(130)
    sys.exit(run_command("train", prog="tools/train.py"))
