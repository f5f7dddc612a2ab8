#!/usr/bin/env python
"""Train a skeleton recognizer: `python tools/train.py CONFIG [--validate] [--seed 0] [--deterministic] ...`

Works from a source checkout without installing the package (the repository root goes on sys.path).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stgcn.commands.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
