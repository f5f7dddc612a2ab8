"""Fingerprints tie a pack to its pickle: size, end blocks, mtime fast path, whole-file hash."""

import hashlib
import os

from stgcn.data.fingerprint import BLOCK, fingerprint, load, mismatch, save


def _file(path, size=3 * BLOCK + 5):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path.write_bytes(data)
    return data


def _rewrite_keeping_mtime(path, data):
    st = os.stat(path)
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_record_is_size_mtime_and_sha1(tmp_path):
    data = _file(tmp_path / "a.pkl")
    record = fingerprint(tmp_path / "a.pkl")
    assert record.size == len(data) and record.mtime_ns == os.stat(tmp_path / "a.pkl").st_mtime_ns
    assert record.sha1 == hashlib.sha1(data).hexdigest()
    assert record.ends_sha1 == hashlib.sha1(data[:BLOCK] + data[-BLOCK:]).hexdigest()
    save(record, tmp_path / "source.json")
    assert load(tmp_path / "source.json") == record and mismatch(tmp_path / "a.pkl", record) is None
    (tmp_path / "bad.json").write_text("{")
    assert load(tmp_path / "bad.json") is None and load(tmp_path / "none.json") is None


def test_changes_are_found_whatever_the_mtime(tmp_path):
    path = tmp_path / "a.pkl"
    data = _file(path)
    record = fingerprint(path)
    _rewrite_keeping_mtime(path, data[:-1] + b"y")  # last byte: the end blocks see it
    assert mismatch(path, record) == "its content differs from the packed source"
    _rewrite_keeping_mtime(path, data + b"z")
    assert mismatch(path, record).startswith(f"its size is {len(data) + 1} bytes")
    middle = bytearray(data)
    middle[len(data) // 2] ^= 1
    path.write_bytes(bytes(middle))
    os.utime(path, ns=(record.mtime_ns - 10**9, record.mtime_ns - 10**9))  # an older copy (cp -p, tar x)
    assert mismatch(path, record) == "its content differs from the packed source"


def test_same_content_new_mtime_refreshes_the_record(tmp_path):
    path = tmp_path / "a.pkl"
    _file(path)
    record = fingerprint(path)
    save(record, tmp_path / "source.json")
    os.utime(path, ns=(record.mtime_ns + 10**9, record.mtime_ns + 10**9))
    assert mismatch(path, record, tmp_path / "source.json") is None
    assert load(tmp_path / "source.json").mtime_ns == record.mtime_ns + 10**9


def test_unchanged_file_is_matched_without_hashing_all_of_it(tmp_path, monkeypatch):
    """The start-up path: same size, end blocks and mtime (a hard link too) never pays the whole-file hash."""
    from stgcn.data import fingerprint as fingerprint_module

    path = tmp_path / "a.pkl"
    _file(path)
    record = fingerprint(path)
    os.link(path, tmp_path / "b.pkl")

    def whole_file_hash(f):
        raise AssertionError("the whole file was hashed")

    monkeypatch.setattr(fingerprint_module, "_full_sha1", whole_file_hash)
    assert mismatch(path, record) is None and mismatch(tmp_path / "b.pkl", record) is None
