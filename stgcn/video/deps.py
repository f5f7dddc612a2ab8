"""The optional ``[video]`` dependencies, imported on first use with a one-line install hint."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from stgcn.errors import StgcnError

_PACKAGES = {"cv2": "opencv-python-headless", "mediapipe": "mediapipe==0.10.21"}


def require(module: str) -> ModuleType:
    """Import ``module`` (``cv2`` or ``mediapipe``) or raise a one-line StgcnError naming the extra."""
    if module == "mediapipe":  # its C++ logging floods stderr with start-up notices otherwise
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise StgcnError(f"{module} is not installed ({_PACKAGES.get(module, module)}: {err}); "
                         'install the video extra: pip install "stgcn[video]"') from None
