"""The engine: config loading, metrics, logs, optimizer/LR schedule, the train and test loops, processes.

`stgcn.engine.train.train(cfg, TrainOptions(...))` and
`stgcn.engine.test.run_test(cfg, ckpt, TestOptions(...), logger)` are what `tools/train.py` and
`tools/test.py` (and `stgcn train` / `stgcn test`) call.
"""

from stgcn.engine.config import load_config

__all__ = ["load_config"]
