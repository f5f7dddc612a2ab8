"""A packed directory's per-sample scalar fields (total_frames, img_shape, filename, ...) as columns.

One array per field, so opening 100k samples builds no per-sample Python object; a field goes into a
column only when numpy holds every sample's value exactly, else it stays a per-sample JSON value.
"""

from __future__ import annotations

import numpy as np


def to_columns(extras: list[dict]) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, dict]]:
    """(arrays, {field: 'scalar' | 'tuple'}, {sample index: the fields that fit no column}).

    A field becomes a column when every sample has it with one Python type (tuples: one length, one
    element type) that numpy holds exactly (bool, int64, float, str); the rest stay per sample.
    """
    arrays, kinds = {}, {}
    keys = dict.fromkeys(k for extra in extras for k in extra)
    for key in keys:
        values = [extra.get(key, _MISSING) for extra in extras]
        kind = _column_kind(values)
        if kind is not None:
            arr = np.asarray(values)
            if arr.dtype.kind in "biufU" and arr.ndim == (2 if kind == "tuple" else 1):
                arrays[key], kinds[key] = arr, kind
    rest = {}
    for i, extra in enumerate(extras):
        left = {k: v for k, v in extra.items() if k not in kinds}
        if left:
            rest[str(i)] = left
    return arrays, kinds, rest


_MISSING = object()


def _column_kind(values: list) -> str | None:
    first = values[0]
    if isinstance(first, list):
        types = {type(x) for x in first}
        ok = len(types) == 1 and all(isinstance(v, list) and len(v) == len(first) and
                                     {type(x) for x in v} == types for v in values)
        return "tuple" if ok and first else None
    kind = type(first)
    if first is None or first is _MISSING or not all(type(v) is kind for v in values):
        return None
    if kind is str and any(v.endswith("\0") for v in values):
        return None  # numpy's str arrays drop trailing NULs
    return "scalar"


def restore(arr: np.ndarray, i: int, kind: str) -> object:
    """Sample i's value of a column as the Python value it was packed from (tuples for rows)."""
    return tuple(arr[i].tolist()) if kind == "tuple" else arr[i].item()
