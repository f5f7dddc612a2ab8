"""Reading checkpoints that hold more than weights (e.g. mmengine Runner files) without running code.

``torch.load(weights_only=True)`` refuses a file as soon as it names one class outside torch's
allow-list: an mmengine checkpoint fails on ``mmengine.logging.history_buffer.HistoryBuffer`` in its
``message_hub`` although its ``state_dict`` and ``meta`` are plain. :func:`load_restricted` reads such
a file with a restricted unpickler instead: tensors (torch's own rebuild functions), numpy arrays and
scalars and builtin containers (the annotation allow-list of ``stgcn.data.safe_pickle``) are built;
every other global becomes an inert :class:`Skipped` placeholder whose constructor, ``__setstate__``
and calls do nothing, so no code named by the file ever runs. :func:`drop_skipped` then removes the
placeholders and reports their types.
"""

from __future__ import annotations

import pickle
import types
from collections import OrderedDict

import torch

from stgcn.data.safe_pickle import _RestrictedUnpickler  # its find_class is the numpy/builtins allow-list
from stgcn.errors import StgcnError

_TORCH_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch", "Size"),
    ("torch", "device"),
}


class Skipped:
    """Stands in for an object of a type that is not constructed; keeps only the type's name."""

    type_name = "?"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass

    def __call__(self, *args, **kwargs) -> Skipped:
        return type(self)()

    def __setitem__(self, key, value) -> None:
        pass

    def append(self, value) -> None:
        pass

    def extend(self, values) -> None:
        pass

    def __repr__(self) -> str:
        return f"<skipped {self.type_name}>"


def _unpickler_module(skipped: set[str]) -> types.SimpleNamespace:
    """A ``pickle_module`` for ``torch.load`` whose Unpickler admits the allow-list only."""

    class Unpickler(_RestrictedUnpickler):
        def __init__(self, file, **kwargs) -> None:
            pickle.Unpickler.__init__(self, file, **kwargs)
            self.source = "checkpoint"

        def find_class(self, module: str, name: str):
            if (module, name) in _TORCH_GLOBALS:
                return getattr(__import__(module, fromlist=[name]), name)
            if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
                return getattr(torch, name)
            try:
                return super().find_class(module, name)
            except StgcnError:
                skipped.add(f"{module}.{name}")
                return type(name, (Skipped,), {"type_name": f"{module}.{name}"})

    def load(file, **kwargs):
        return Unpickler(file, **kwargs).load()

    return types.SimpleNamespace(Unpickler=Unpickler, load=load, __name__="stgcn_restricted_pickle")


def load_restricted(path, map_location="cpu") -> tuple[object, set[str]]:
    """``torch.load`` through the restricted unpickler; returns the object and the skipped type names."""
    skipped: set[str] = set()
    obj = torch.load(path, map_location=map_location, weights_only=False,
                     pickle_module=_unpickler_module(skipped))
    return obj, skipped


def drop_skipped(obj: object) -> object:
    """``obj`` with every placeholder removed from dicts, lists and tuples (plain data stays)."""
    if isinstance(obj, Skipped):
        return None
    if isinstance(obj, dict):
        kept = [(k, drop_skipped(v)) for k, v in obj.items() if not isinstance(v, Skipped)]
        return OrderedDict(kept) if isinstance(obj, OrderedDict) else dict(kept)
    if isinstance(obj, (list, tuple)):
        return type(obj)(drop_skipped(v) for v in obj if not isinstance(v, Skipped))
    return obj
