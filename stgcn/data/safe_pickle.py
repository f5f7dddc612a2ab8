"""Restricted unpickling of annotation files: numpy arrays and builtin containers only.

mmaction2 0.x reads annotation pickles with plain `pickle.load`, which runs whatever code the file
names. Here `find_class` admits only what numpy arrays, dtypes and scalars need (the numpy 1.x
`numpy.core` and numpy 2.x `numpy._core` spellings alike) plus builtin containers and scalars, so a
downloaded file can hold data but never run code.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
from pathlib import Path

import numpy as np

from stgcn.errors import MissingFileError, StgcnError
from stgcn.fileio import atomic_open

# (module, name) pairs admitted verbatim; module names are spelled the numpy 2.x way, numpy 1.x
# `numpy.core.*` names are mapped onto them first.
_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),  # protocol-5 arrays
    ("numpy._core._internal", "_convert_to_stringdtype_kwargs"),  # numpy 2 StringDType
}
_BUILTIN_NAMES = {
    "list", "dict", "tuple", "set", "frozenset", "bytearray", "bytes", "str", "int", "float",
    "complex", "bool", "slice", "range",
}
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """Stand-in for `_codecs.encode`, which protocol-2 pickles use to store `bytes` (array data)."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1", errors)


def _numpy_attr(module: str, name: str):
    """Resolve a numpy 2.x-spelled global, falling back to the numpy 1.x `numpy.core` spelling."""
    candidates = [module]
    if module.startswith("numpy._core"):
        candidates.append("numpy.core" + module[len("numpy._core"):])
    for candidate in candidates:
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {module}.{name}")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str) -> None:
        super().__init__(file, encoding="latin1")  # latin1: python-2 era numpy pickles
        self.source = source

    def find_class(self, module: str, name: str):
        module = _MODULE_ALIASES.get(module, module)
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]
        if module == "builtins" and name in _BUILTIN_NAMES:
            return getattr(__import__("builtins"), name)
        if (module, name) == ("collections", "OrderedDict"):
            from collections import OrderedDict
            return OrderedDict
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) in _NUMPY_GLOBALS:
            return _numpy_attr(module, name)
        if module == "numpy.dtypes":
            cls = getattr(np.dtypes, name, None) if hasattr(np, "dtypes") else None
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                return cls
        raise StgcnError(
            f"{self.source}: refuses to unpickle {module}.{name} (annotation files may hold only numpy "
            "arrays and builtin containers); re-save the data as dicts/lists of numpy arrays, or convert "
            "it with `stgcn convert`")


MAX_DEPTH = 100  # annotation files nest 4-5 levels; far deeper data is hostile or not annotations


def _check_depth(obj: object, source: str) -> None:
    """Refuse containers nested deeper than MAX_DEPTH: later code (repr, deepcopy, comparisons) would
    die in a RecursionError on them. Iterative, so the check itself cannot overflow."""
    level, depth = [obj], 0
    while level:  # breadth-first, one nesting level at a time
        if depth > MAX_DEPTH:
            raise StgcnError(f"{source}: holds containers nested more than {MAX_DEPTH} levels deep, which no "
                             "annotation file does; check that the path points at a .pkl annotation file")
        below = []
        for item in level:
            if type(item) is dict or isinstance(item, dict):
                children = [*item.keys(), *item.values()]
            elif isinstance(item, np.ndarray):
                children = item.ravel().tolist() if item.dtype == object else ()
            else:
                children = item
            below.extend(c for c in children if type(c) in _CONTAINERS or isinstance(c, _CONTAINER_BASES))
        level, depth = below, depth + 1


_CONTAINERS = {dict, list, tuple, set, frozenset}
_CONTAINER_BASES = (dict, list, tuple, set, frozenset, np.ndarray)


def _unreadable(source: str, exc: Exception) -> StgcnError:
    first = (str(exc).strip().splitlines() or [""])[0][:120]  # one line, whatever the library wrote
    return StgcnError(f"{source}: not a readable annotation pickle ({type(exc).__name__}: {first}); "
                      "check that the path points at a .pkl annotation file")


def _unpickle(fileobj, source: str) -> object:
    try:
        obj = _RestrictedUnpickler(fileobj, source).load()
    except StgcnError:
        raise
    except RecursionError:
        raise StgcnError(f"{source}: nested too deeply to unpickle, which no annotation file is; check that "
                         "the path points at a .pkl annotation file") from None
    except (EOFError, pickle.UnpicklingError) as exc:
        if isinstance(exc, pickle.UnpicklingError) and "truncated" not in str(exc):
            raise _unreadable(source, exc) from exc
        raise StgcnError(f"{source}: the pickle ends early (truncated file?); re-download or "
                         "re-create it") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, UnicodeDecodeError, OverflowError,
            MemoryError) as exc:
        raise _unreadable(source, exc) from exc
    _check_depth(obj, source)
    return obj


def load_pickle(path: str | os.PathLike) -> object:
    """Load an annotation pickle, admitting only numpy arrays/dtypes/scalars and builtin containers."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        where = "" if path.is_absolute() else f" (a relative path, read from the current folder {Path.cwd()})"
        raise MissingFileError(f"{path}: annotation file {what}{where}; "
                               "check the path (ann_file in a config)")
    with open(path, "rb") as f:
        return _unpickle(f, str(path))


def loads_pickle(data: bytes, source: str = "<bytes>") -> object:
    """`load_pickle` for an in-memory pickle; `source` names it in error messages."""
    return _unpickle(io.BytesIO(data), source)


def dump_pickle(obj: object, path: str | os.PathLike, protocol: int = 4) -> None:
    """Write `obj` as a pickle atomically (`stgcn.fileio.atomic_open`)."""
    with atomic_open(path) as f:
        pickle.dump(obj, f, protocol=protocol)
