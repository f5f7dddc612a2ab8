"""Inference on trained checkpoints: the :class:`Recognizer` API and its :class:`Prediction` results."""

from stgcn.inference.api import Prediction, Recognizer
from stgcn.inference.stream import StreamPrediction, StreamRecognizer

__all__ = ["Prediction", "Recognizer", "StreamPrediction", "StreamRecognizer"]
