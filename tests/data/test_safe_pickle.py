"""The restricted unpickler: real annotation content loads, code-running pickles never run."""

import os
import pickle
import pickletools
from collections import OrderedDict

import numpy as np
import pytest

from stgcn.data.safe_pickle import dump_pickle, load_pickle, loads_pickle
from stgcn.errors import StgcnError


def _annotations():
    return {
        "split": {"xsub_train": ["a", "b"], "xsub_val": ["c"]},
        "annotations": [
            dict(frame_dir="a", label=np.int64(3), total_frames=5, img_shape=(1080, 1920),
                 keypoint=np.arange(2 * 5 * 17 * 2, dtype=np.float32).reshape(2, 5, 17, 2),
                 keypoint_score=np.ones((2, 5, 17), np.float16)),
            dict(frame_dir="b", label=1, total_frames=1, meta=OrderedDict(x=1.5, y=b"raw"),
                 keypoint=np.zeros((1, 1, 25, 3), np.float64), tags={"x", "y"}, flags=frozenset([1]),
                 names=np.array(["ab", "c"]), ratio=np.float32(0.5), ok=np.bool_(True)),
        ],
    }


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def _numpy1_style(data: bytes, protocol: int) -> bytes:
    """Rewrite a numpy-2 pickle into what numpy 1.x writes: `numpy.core.*` module names."""
    if protocol < 4:  # GLOBAL opcodes hold the names as text lines
        return data.replace(b"numpy._core.", b"numpy.core.")
    for new in (b"numpy.core.multiarray", b"numpy.core.numeric"):
        old = new.replace(b"numpy.core", b"numpy._core")
        data = data.replace(b"\x8c" + bytes([len(old)]) + old, b"\x8c" + bytes([len(new)]) + new)
    return pickletools.optimize(data)  # re-frames after the length change


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_round_trip(tmp_path, protocol):
    obj = _annotations()
    path = tmp_path / "ann.pkl"
    dump_pickle(obj, path, protocol=protocol)
    _assert_same(load_pickle(path), obj)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy1_pickles_load(protocol):
    obj = _annotations()
    data = _numpy1_style(pickle.dumps(obj, protocol=protocol), protocol)
    assert b"numpy.core" in data and b"numpy._core" not in data
    _assert_same(loads_pickle(data), obj)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_pickle_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([{"keypoint": np.zeros(2)}, _Evil(marker)], protocol=protocol))
    with pytest.raises(StgcnError, match=r"refuses to unpickle (posix|nt)\.system") as info:
        load_pickle(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    b"cbuiltins\neval\n(S'1+1'\ntR.",
    b"cbuiltins\ngetattr\n(cbuiltins\nlist\nS'append'\ntR.",
    b"cnumpy\nload\n(S'x.npy'\ntR.",
    b"csubprocess\nPopen\n(S'true'\ntR.",
    b"ccopyreg\n_reconstructor\n(cbuiltins\nlist\ncbuiltins\nlist\nNtR.",
])
def test_other_globals_refused(payload):
    with pytest.raises(StgcnError, match="refuses to unpickle"):
        loads_pickle(payload, "x.pkl")


def test_codecs_encode_only_latin1():
    assert loads_pickle(b"c_codecs\nencode\n(V\xe9\nS'latin1'\ntR.") == b"\xe9"
    with pytest.raises(StgcnError, match="not a readable"):
        loads_pickle(b"c_codecs\nencode\n(Vabc\nS'rot13'\ntR.")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(StgcnError, match="does not exist; check the path"):
        load_pickle(tmp_path / "nope.pkl")
    with pytest.raises(StgcnError, match="is a directory"):
        load_pickle(tmp_path)


def test_truncated_and_non_pickle(tmp_path):
    data = pickle.dumps(_annotations(), protocol=4)
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(StgcnError, match="cut.pkl: .*(truncated|not a readable)"):
        load_pickle(cut)
    text = tmp_path / "notes.pkl"
    text.write_text("frame_dir,label\nS001,3\n")
    with pytest.raises(StgcnError, match="notes.pkl: not a readable annotation pickle"):
        load_pickle(text)
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    with pytest.raises(StgcnError, match="truncated"):
        load_pickle(empty)


def test_dump_is_atomic(tmp_path):
    path = tmp_path / "sub" / "ann.pkl"
    dump_pickle([1, 2], path)
    assert load_pickle(path) == [1, 2]
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        dump_pickle([lambda: 0], path)  # fails mid-write
    assert load_pickle(path) == [1, 2]  # the old file is intact
    assert [p.name for p in path.parent.iterdir()] == ["ann.pkl"]  # no temp files left


def _nested_lists(depth: int) -> bytes:
    """A protocol-4 pickle of `depth` lists each inside the next (written opcode by opcode: pickling
    such an object would itself overflow the stack)."""
    return b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."


@pytest.mark.parametrize("depth", [102, 100_000])
def test_deeply_nested_pickle_is_one_error(depth):
    with pytest.raises(StgcnError, match=r"^x.pkl: holds containers nested more than 100 levels deep"):
        loads_pickle(_nested_lists(depth), "x.pkl")


def test_nesting_inside_a_sample_field_is_found():
    deep = _nested_lists(50_000)[2:-1]
    sample = b"\x80\x04]}X\x05\x00\x00\x00label" + deep + b"sa."  # [{'label': [[[...]]]}]
    with pytest.raises(StgcnError, match="nested more than 100 levels"):
        loads_pickle(sample, "x.pkl")


def test_moderate_nesting_loads():
    obj, depth = loads_pickle(_nested_lists(60)), 1
    while obj:
        obj, depth = obj[0], depth + 1
    assert obj == [] and depth == 60
