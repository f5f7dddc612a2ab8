"""The MAT v5 reader against scipy.io.loadmat (Penn Action and scipy-written files), hand-made bytes."""

import struct
import zlib

import numpy as np
import pytest

from stgcn.data.convert.matfile import load_mat, read_mat_bytes
from stgcn.errors import StgcnError
from tests.conftest import shared_path


def _same(ours, theirs) -> bool:
    """Compare one variable with scipy's loadmat(..., mat_dtype=True) value."""
    if isinstance(ours, str):
        return theirs.shape == (1,) and ours == theirs[0]
    if isinstance(ours, list):
        return list(theirs) == ours
    return ours.dtype == theirs.dtype and ours.shape == theirs.shape and np.array_equal(ours, theirs)


def test_every_penn_action_file_matches_scipy():
    scipy_io = pytest.importorskip("scipy.io")
    files = sorted(shared_path("data", "penn_action", "labels").glob("*.mat"))
    assert len(files) == 2326
    for path in files:
        ours = load_mat(path)
        theirs = {k: v for k, v in scipy_io.loadmat(path, mat_dtype=True).items() if not k.startswith("__")}
        assert set(ours) == set(theirs), path.name
        for key in ours:
            assert _same(ours[key], theirs[key]), (path.name, key)


def test_known_values_of_one_penn_action_file():
    mat = load_mat(shared_path("data", "penn_action", "labels", "0001.mat"))
    assert mat["action"] == "baseball_pitch" and mat["pose"] == "back"
    assert mat["x"].shape == (151, 13) and mat["x"].dtype == np.float64
    # MATLAB class double, stored as uint16 (scipy's default reports the storage type instead)
    assert mat["dimensions"].tolist() == [[360, 480, 151]] and mat["dimensions"].dtype == np.float64
    assert mat["train"].tolist() == [[-1]]  # an official test clip


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")  # scipy's own, on 'cplx'
@pytest.mark.parametrize("compress", [False, True])
def test_scipy_written_classes_round_trip(tmp_path, compress):
    scipy_io = pytest.importorskip("scipy.io")
    arrays = {
        "f64": np.arange(12, dtype=np.float64).reshape(3, 4) / 7,
        "f32": np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),
        "i8": np.array([[-128, 0, 127]], dtype=np.int8),
        "u16": np.array([[1, 65535]], dtype=np.uint16),
        "i64": np.array([[-(2**40), 2**40]], dtype=np.int64),
        "u64": np.array([[2**63 + 5]], dtype=np.uint64),
        "cplx": np.array([[1 + 2j, -3.5j]]),
        "cube": np.arange(24, dtype=np.int32).reshape(2, 3, 4),
        "flag": np.array([[True, False, True]]),
        "empty": np.zeros((0, 3)),
        "word": "héllo",
        "rows": np.array(["ab", "cd"]),
    }
    path = tmp_path / "arrays.mat"
    scipy_io.savemat(path, arrays, do_compression=compress)
    ours = load_mat(path)
    theirs = scipy_io.loadmat(path, mat_dtype=True)
    theirs["cplx"] = scipy_io.loadmat(path)["cplx"]  # scipy's mat_dtype=True drops imaginary parts
    for key in arrays:
        assert _same(ours[key], theirs[key]), key
    assert ours["cube"][1, 2, 3] == arrays["cube"][1, 2, 3]  # column-major order restored
    assert ours["flag"].dtype == bool


def _element(mtype: int, payload: bytes, order: str = "<") -> bytes:
    return struct.pack(f"{order}II", mtype, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def _matrix(name: str, mx_class: int, dims, data_type: int, data: bytes, order: str = "<") -> bytes:
    flags = _element(6, struct.pack(f"{order}II", mx_class, 0), order)
    dims_el = _element(5, struct.pack(f"{order}{len(dims)}i", *dims), order)
    name_el = _element(1, name.encode(), order)
    return _element(14, flags + dims_el + name_el + _element(data_type, data, order), order)


def _header(order: str = "<") -> bytes:
    text = b"MATLAB 5.0 MAT-file, hand made".ljust(116, b" ")
    return text + b"\0" * 8 + struct.pack(f"{order}H", 0x0100) + (b"IM" if order == "<" else b"MI")


@pytest.mark.parametrize("order", ["<", ">"])
def test_hand_made_file_both_byte_orders(order):
    # double class stored as uint8 (MATLAB's compact storage), 2x3, column-major.
    stored = bytes([1, 4, 2, 5, 3, 6])
    packed = zlib.compress(_matrix("b", 12, (1, 2), 5, struct.pack(f"{order}2i", -7, 9), order))
    data = (_header(order) + _matrix("a", 6, (2, 3), 2, stored, order)
            + struct.pack(f"{order}II", 15, len(packed)) + packed)  # compressed elements are not padded
    mat = read_mat_bytes(data)
    assert mat["a"].tolist() == [[1, 2, 3], [4, 5, 6]] and mat["a"].dtype == np.float64
    assert mat["b"].tolist() == [[-7, 9]] and mat["b"].dtype == np.int32


def test_small_data_elements():
    # name 'xy' and one int8 value in 4-byte "small element" tags.
    flags = _element(6, struct.pack("<II", 8, 0))
    dims = _element(5, struct.pack("<2i", 1, 1))
    name = struct.pack("<HH", 1, 2) + b"xy\0\0"
    value = struct.pack("<HH", 1, 1) + b"\xfb\0\0\0"
    mat = read_mat_bytes(_header() + _element(14, flags + dims + name + value))
    assert mat["xy"].tolist() == [[-5]] and mat["xy"].dtype == np.int8


def test_unsupported_and_damaged_inputs_raise_one_line_errors(tmp_path):
    good = _header() + _matrix("a", 6, (1, 2), 9, struct.pack("<2d", 1.0, 2.0))
    with pytest.raises(StgcnError, match="truncated"):
        read_mat_bytes(good[:-5], "cut.mat")
    with pytest.raises(StgcnError, match=r"variable 'c' is a cell array"):
        read_mat_bytes(_header() + _matrix("c", 1, (1, 1), 9, b""), "cell.mat")
    with pytest.raises(StgcnError, match="v7.3"):
        read_mat_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 200, "new.mat")
    with pytest.raises(StgcnError, match="not a MATLAB level-5"):
        read_mat_bytes(b"hello" * 40, "text.mat")
    with pytest.raises(StgcnError, match="does not decompress"):
        read_mat_bytes(_header() + _element(15, b"not zlib at all"), "bad.mat")
    with pytest.raises(StgcnError, match="cannot read"):
        load_mat(tmp_path / "absent.mat")
