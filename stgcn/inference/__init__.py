"""Inference on trained checkpoints: the :class:`Recognizer` API and its :class:`Prediction` results."""

from stgcn.inference.api import Prediction, Recognizer

__all__ = ["Prediction", "Recognizer"]
