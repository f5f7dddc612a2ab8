"""stgcn: skeleton-based action recognition with ST-GCN (Yan et al., AAAI 2018) on plain PyTorch.

Configs, annotation files and checkpoints of mmaction2 0.x work unchanged.
"""

from stgcn.errors import StgcnError
from stgcn.inference import Prediction, Recognizer, StreamRecognizer
from stgcn.models import build_model

__version__ = "0.1.0"
__all__ = ["Prediction", "Recognizer", "StgcnError", "StreamRecognizer", "build_model", "__version__"]
