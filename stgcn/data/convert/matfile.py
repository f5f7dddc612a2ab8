"""A small reader for MATLAB level-5 (v5, v6, v7) .mat files, enough for datasets such as Penn Action.

Implements the published "MAT-File Format" (MathWorks): a 128-byte header, then a sequence of data
elements, each an 8-byte tag (type, byte count) or a 4-byte "small element" tag; top-level variables
are `miMATRIX` elements, optionally wrapped in `miCOMPRESSED` (zlib). Supported array classes: the
numeric classes (double, single, int8..uint64, logical) real or complex, and char arrays. Cells,
structs, objects, sparse arrays, v4 and v7.3 (HDF5) files raise `StgcnError` naming the variable.

Arrays come back as numpy arrays in MATLAB's shape (column-major data, so `(rows, cols)` as MATLAB shows
it); a char array with one row comes back as `str`, several rows as a list of `str` (one per row).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from stgcn.errors import StgcnError

# Data types of elements (miXXX).
_MI_INT8, _MI_UINT8, _MI_INT16, _MI_UINT16, _MI_INT32, _MI_UINT32 = 1, 2, 3, 4, 5, 6
_MI_SINGLE, _MI_DOUBLE, _MI_INT64, _MI_UINT64 = 7, 9, 12, 13
_MI_MATRIX, _MI_COMPRESSED, _MI_UTF8, _MI_UTF16, _MI_UTF32 = 14, 15, 16, 17, 18

_MI_DTYPES = {
    _MI_INT8: "i1", _MI_UINT8: "u1", _MI_INT16: "i2", _MI_UINT16: "u2", _MI_INT32: "i4",
    _MI_UINT32: "u4", _MI_SINGLE: "f4", _MI_DOUBLE: "f8", _MI_INT64: "i8", _MI_UINT64: "u8",
}

# Array classes (mxXXX_CLASS) and the numpy dtype MATLAB gives them.
_MX_CHAR = 4
_MX_NUMERIC = {
    6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8",
}
_MX_NAMES = {1: "cell", 2: "struct", 3: "object", 5: "sparse", 16: "function handle", 17: "opaque"}

_FLAG_COMPLEX, _FLAG_LOGICAL = 0x0800, 0x0200


class _Reader:
    """Walks the data elements of one byte buffer with a fixed byte order ('<' or '>')."""

    def __init__(self, data: bytes, order: str, source: str) -> None:
        self.data = data
        self.order = order
        self.source = source
        self.pos = 0

    def error(self, what: str) -> StgcnError:
        return StgcnError(f"{self.source}: {what}")

    def read_element(self) -> tuple[int, bytes | memoryview]:
        """The next element's (type, payload); advances past the element and its padding."""
        if self.pos + 8 > len(self.data):
            raise self.error(f"file ends inside an element tag at byte {self.pos}; the file is truncated")
        first, second = np.frombuffer(self.data, f"{self.order}u4", 2, self.pos)
        first, second = int(first), int(second)
        if first >> 16:  # small data element: type and size packed into 4 bytes, data in the next 4
            mtype, nbytes = first & 0xFFFF, first >> 16
            start, end = self.pos + 4, self.pos + 4 + nbytes
            self.pos += 8
        else:
            mtype, nbytes = first, second
            start, end = self.pos + 8, self.pos + 8 + nbytes
            # Compressed elements are not padded; every other element ends on an 8-byte boundary.
            self.pos = end if mtype == _MI_COMPRESSED else end + (-nbytes % 8)
        if end > len(self.data):
            raise self.error(f"element at byte {start - 8} claims {nbytes} bytes but the file is shorter; "
                             "the file is truncated")
        return mtype, memoryview(self.data)[start:end]

    def read_numeric(self, expected: str) -> np.ndarray:
        mtype, payload = self.read_element()
        if mtype not in _MI_DTYPES:
            raise self.error(f"expected a numeric element for {expected}, found data type {mtype}")
        return np.frombuffer(payload, f"{self.order}{_MI_DTYPES[mtype]}")


def _read_matrix(payload: bytes | memoryview, order: str, source: str) -> tuple[str, object]:
    """Decode one miMATRIX payload into (name, value)."""
    sub = _Reader(bytes(payload), order, source)
    if not payload:  # an empty miMATRIX stands for an empty array
        return "", np.zeros((0, 0))
    flags = sub.read_numeric("the array flags")
    mx_class, flag_bits = int(flags[0]) & 0xFF, int(flags[0]) & 0xFF00
    dims = tuple(int(d) for d in sub.read_numeric("the dimensions"))
    _, name_bytes = sub.read_element()
    name = bytes(name_bytes).decode("ascii", errors="replace")
    where = f"variable '{name}'"
    if mx_class == _MX_CHAR:
        return name, _decode_chars(sub, dims, where)
    if mx_class not in _MX_NUMERIC:
        kind = _MX_NAMES.get(mx_class, f"class {mx_class}")
        raise StgcnError(f"{source}: {where} is a {kind} array, which this reader does not support; "
                         "save it as a numeric or char array")
    count = int(np.prod(dims))
    real = sub.read_numeric(f"{where} data")
    if real.size != count:
        raise StgcnError(f"{source}: {where} holds {real.size} values for dimensions {dims}; "
                         "the file is damaged")
    dtype = np.dtype("bool") if flag_bits & _FLAG_LOGICAL else np.dtype(_MX_NUMERIC[mx_class])
    values = real.astype(dtype)
    if flag_bits & _FLAG_COMPLEX:
        imag = sub.read_numeric(f"{where} imaginary part")
        values = values + 1j * imag.astype(dtype)
    return name, values.reshape(dims, order="F")


def _decode_chars(sub: _Reader, dims: tuple[int, ...], where: str) -> str | list[str]:
    mtype, payload = sub.read_element()
    if mtype in (_MI_UTF8, _MI_INT8, _MI_UINT8):
        codes = np.frombuffer(bytes(payload).decode("utf-8").encode("utf-32-le"), "<u4")
    elif mtype in (_MI_UTF16, _MI_UINT16, _MI_INT16):
        codes = np.frombuffer(payload, f"{sub.order}u2").astype(np.uint32)
    elif mtype in (_MI_UTF32, _MI_UINT32, _MI_INT32):
        codes = np.frombuffer(payload, f"{sub.order}u4")
    else:
        raise sub.error(f"{where} is a char array stored with data type {mtype}, which is not supported")
    if len(dims) != 2 or codes.size != dims[0] * dims[1]:
        raise sub.error(f"{where} is a char array of dimensions {dims}; only 2-D char arrays are supported")
    grid = codes.reshape(dims, order="F")
    rows = ["".join(map(chr, row)) for row in grid]
    return rows[0] if len(rows) == 1 else rows


def read_mat_bytes(data: bytes, source: str = "<bytes>") -> dict[str, object]:
    """Parse the bytes of a level-5 .mat file into {variable name: array or str}."""
    if data[:8] == b"\x89HDF\r\n\x1a\n" or data[512:520] == b"\x89HDF\r\n\x1a\n":
        raise StgcnError(f"{source}: MATLAB v7.3 (HDF5) files are not supported; "
                         "re-save the file in MATLAB with save(name, '-v7')")
    if len(data) < 128 or not data[:6].startswith(b"MATLAB"):
        raise StgcnError(f"{source}: not a MATLAB level-5 .mat file (no 'MATLAB 5.0 MAT-file' header); "
                         "re-save it in MATLAB with save(name, '-v7')")
    indicator = data[126:128]
    if indicator == b"IM":
        order = "<"
    elif indicator == b"MI":
        order = ">"
    else:
        raise StgcnError(f"{source}: unknown byte-order mark {indicator!r} in the .mat header; "
                         "the file is damaged")
    top = _Reader(data, order, source)
    top.pos = 128
    out: dict[str, object] = {}
    while top.pos < len(data):
        mtype, payload = top.read_element()
        if mtype == _MI_COMPRESSED:
            # decompressobj, not zlib.decompress: some writers end the stream without its final
            # block marker (e.g. Penn Action 1605.mat); the element inside is complete nevertheless,
            # and the length check in read_element still catches real truncation.
            try:
                inner = zlib.decompressobj().decompress(payload)
            except zlib.error as exc:
                raise top.error(f"compressed element does not decompress ({exc}); the file is damaged") \
                    from None
            mtype, payload = _Reader(inner, order, source).read_element()
        if mtype != _MI_MATRIX:
            raise top.error(f"unexpected top-level element of data type {mtype}; only variables "
                            "(miMATRIX) are supported")
        name, value = _read_matrix(payload, order, source)
        out[name] = value
    return out


def load_mat(path: str | Path) -> dict[str, object]:
    """Read a MATLAB v5/v7 .mat file: {variable name: numpy array, or str for a one-row char array}."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StgcnError(f"{path}: cannot read the file ({exc.strerror}); check the path") from None
    return read_mat_bytes(data, str(path))
