"""Packed memory-mapped storage: exact round trip, zero-copy views, atomic writes, `stgcn pack`."""

import argparse
import json
import os
import pickle
import re

import numpy as np
import pytest
import torch

from stgcn.commands import pack as pack_command
from stgcn.data import PackedAnnotations, PoseDataset, dump_pickle, pack
from stgcn.data.packed import is_packed_dir, pack_annotations
from stgcn.errors import StgcnError

PIPELINE = [dict(type="UniformSampleFrames", clip_len=6, test_mode=True), dict(type="PoseDecode"),
            dict(type="FormatGCNInput"), dict(type="PoseNormalize"),
            dict(type="Collect", keys=["keypoint", "label"]), dict(type="ToTensor", keys=["keypoint"])]


def _items(n=5, dtype=np.float16):
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        m, t = 1 + (i % 2), 2 + i
        items.append(dict(frame_dir=f"v{i}", label=i, total_frames=t, img_shape=(1080, 1920),
                          original_shape=(720, 1280), num_person_raw=np.int64(m),
                          keypoint=(rng.random((m, t, 17, 2)) * 1000).astype(dtype),
                          keypoint_score=rng.random((m, t, 17)).astype(dtype)))
    return items


def _split_file(tmp_path, items):
    data = dict(split=dict(train=["v0", "v1", "v3"], val=["v2", "v4"]), annotations=items)
    path = tmp_path / "ann.pkl"
    dump_pickle(data, path)
    return path


def test_round_trip_zero_copy(tmp_path):
    items = _items()
    summary = pack(_split_file(tmp_path, items), tmp_path / "out")
    assert summary.num_samples == 5 and summary.num_rows == sum(a["keypoint"].shape[0] * a["total_frames"]
                                                                for a in items)
    packed = PackedAnnotations(tmp_path / "out")
    assert len(packed) == 5 and packed.frame_dirs == [f"v{i}" for i in range(5)]
    assert packed.split == dict(train=["v0", "v1", "v3"], val=["v2", "v4"])
    assert packed.labels == [0, 1, 2, 3, 4]
    for want, got in zip(items, packed, strict=True):
        assert set(got) == set(want)
        for key in ("keypoint", "keypoint_score"):
            assert got[key].dtype == np.float16 and np.array_equal(got[key], want[key])
            if got[key].size:
                assert np.shares_memory(got[key], packed.arrays[key]) and not got[key].flags.writeable
        assert got["img_shape"] == (1080, 1920) and got["original_shape"] == (720, 1280)
        assert got["num_person_raw"] == want["num_person_raw"] and got["total_frames"] == want["total_frames"]
    restored = pickle.loads(pickle.dumps(packed))
    assert len(pickle.dumps(packed)) < 20_000 and restored._arrays is None
    assert np.array_equal(restored[4]["keypoint"], items[4]["keypoint"])


def test_dataset_reads_packed_like_pickle(tmp_path):
    path = _split_file(tmp_path, _items())
    pack(path, tmp_path / "out")
    for split in ("train", "val"):
        a, b = PoseDataset(path, PIPELINE, split=split), PoseDataset(tmp_path / "out", PIPELINE, split=split)
        assert isinstance(b.records, PackedAnnotations)
        assert a.labels == b.labels and a.frame_dirs == b.frame_dirs
        for i in range(len(a)):
            assert torch.equal(a[i]["keypoint"], b[i]["keypoint"]) and a[i]["label"] == b[i]["label"]


def test_sibling_packed_used_while_it_is_the_packed_file(tmp_path):
    path = _split_file(tmp_path, _items())
    pack_command.run(argparse.Namespace(ann_file=str(path), out_dir=None))
    assert is_packed_dir(f"{path}.packed")
    ds = PoseDataset(path, PIPELINE, split="val")
    assert isinstance(ds.records, PackedAnnotations) and ds.read_from == f"{path}.packed"
    later = os.path.getmtime(f"{path}.packed/meta.json") + 10
    os.utime(path, (later, later))  # touched, same content: the pack is still that file
    assert isinstance(PoseDataset(path, PIPELINE, split="val").records, PackedAnnotations)
    record = json.loads((tmp_path / "ann.pkl.packed" / "source.json").read_text())
    assert record["mtime_ns"] == os.stat(path).st_mtime_ns  # refreshed: the next open takes the fast path


def _replace_keeping_old_mtime(path, items):
    """What `mv` / `cp -p` / `rsync -a` / `tar x` do: new content, an mtime older than the pack's."""
    old = os.stat(path).st_mtime_ns - 3_600 * 10**9
    _split_file(path.parent, items)
    os.utime(path, ns=(old, old))


def test_replaced_pickle_with_older_mtime_is_read_not_the_stale_pack(tmp_path):
    path = _split_file(tmp_path, _items())
    pack(path, f"{path}.packed")
    new = _items()
    for item in new:
        item["label"] = 4 - item["label"]
    _replace_keeping_old_mtime(path, new)
    with pytest.warns(UserWarning, match=r"ann.pkl.packed is not used: .*ann.pkl is not the file that was "
                                         r"packed: its content differs from the packed source; reading"):
        ds = PoseDataset(path, PIPELINE, split="val")
    assert isinstance(ds.records, list) and ds.read_from == str(path)
    assert ds.labels == [4 - 2, 4 - 4]  # the new file's labels, not the pack's [2, 4]


def test_replaced_pickle_of_other_size_and_packs_without_source_record(tmp_path):
    path = _split_file(tmp_path, _items())
    pack(path, f"{path}.packed")
    _replace_keeping_old_mtime(path, _items(6))
    with pytest.warns(UserWarning, match=r"its size is \d+ bytes, the packed source had \d+"):
        assert isinstance(PoseDataset(path, PIPELINE, split="val").records, list)
    pack(path, f"{path}.packed")
    os.remove(f"{path}.packed/source.json")  # a pack made before packs recorded their source
    with pytest.warns(UserWarning, match="has no record of its source"):
        assert isinstance(PoseDataset(path, PIPELINE, split="val").records, list)
    os.remove(path)  # the pickle is gone: the pack is all there is
    assert isinstance(PoseDataset(path, PIPELINE, split="val").records, PackedAnnotations)


def test_loader_workers_share_the_mapping(tmp_path):
    path = _split_file(tmp_path, _items(8))
    pack(path, tmp_path / "out")
    ds = PoseDataset(tmp_path / "out", PIPELINE, split="train")
    ctx = torch.multiprocessing.get_context("fork")
    serial = [ds[i]["keypoint"] for i in range(len(ds))]
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2, multiprocessing_context=ctx)
    for want, got in zip(serial, loader, strict=True):
        assert torch.equal(got["keypoint"][0], want)


def test_overwrite_and_refusals(tmp_path):
    out = tmp_path / "out"
    pack_annotations(_items(), out)
    pack_annotations(_items(2), out)  # an existing packed directory is replaced atomically
    assert len(PackedAnnotations(out)) == 2
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    with pytest.raises(StgcnError, match="exists and is not a packed annotation directory"):
        pack_annotations(_items(), keep)
    assert (keep / "notes.txt").read_text() == "precious"
    bad = _items()
    bad[3].update(keypoint=np.zeros((2, 5, 25, 2), np.float16), keypoint_score=np.zeros((2, 5, 25)))
    with pytest.raises(StgcnError, match=r"sample #3 \(v3\): field 'keypoint' has a V unlike most samples"):
        pack_annotations(bad, tmp_path / "new")
    bad = _items()
    del bad[2]["keypoint_score"]
    with pytest.raises(StgcnError, match=r"sample #2 \(v2\): field 'keypoint_score' is present in some "
                                         r"samples only \(lacks it\); .*`stgcn validate"):
        pack_annotations(bad, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "out"]  # no temp dirs left behind


def test_mixed_dtypes_dropped_fields_and_nonfinite(tmp_path):
    items = _items(dtype=np.float32)
    items[0]["keypoint"] = items[0]["keypoint"].astype(np.float64)
    items[1]["box_score"] = np.ones(3)
    items[4]["keypoint"][0, 0, 0, 0] = np.nan
    summary = pack_annotations(items, tmp_path / "out")
    assert summary.dropped_fields == ["box_score"] and summary.nonfinite == [4]
    packed = PackedAnnotations(tmp_path / "out")
    assert packed[1]["keypoint"].dtype == np.float32 and "box_score" not in packed[1]
    with pytest.raises(StgcnError, match="sample v4 has NaN/inf"):
        PoseDataset(tmp_path / "out", PIPELINE)
    with pytest.warns(UserWarning, match="1 joints with NaN/inf values in 1 samples"):
        ds = PoseDataset(tmp_path / "out", PIPELINE, nan_policy="zero")
    assert torch.isfinite(ds[4]["keypoint"]).all()


def test_corrupt_or_foreign_directories(tmp_path):
    with pytest.raises(StgcnError, match="not a packed annotation directory"):
        PackedAnnotations(tmp_path)
    out = tmp_path / "out"
    pack_annotations(_items(), out)
    meta = (out / "meta.json").read_text().replace('"version": 3', '"version": 99')
    (out / "meta.json").write_text(meta)
    with pytest.raises(StgcnError, match="version 99 is not supported"):
        PackedAnnotations(out)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 40])


def _damage(out, how):
    meta = out / "meta.json"
    if how == "truncated keypoint":
        _truncate(out / "keypoint.npy")
    elif how == "missing index":
        os.remove(out / "index.npy")
    elif how == "bad meta":
        meta.write_text(meta.read_text()[:200])
    elif how == "meta lacks a field":
        meta.write_text(meta.read_text().replace('"num_joints"', '"joints"'))
    elif how == "short keypoint":
        np.save(out / "keypoint.npy", np.zeros((3, 17, 2), np.float16))
    elif how == "wrong joints":
        np.save(out / "keypoint.npy", np.zeros((100, 18, 2), np.float16))
    elif how == "labels count":
        np.save(out / "labels.npy", np.zeros(3, np.int64))
    elif how == "score dtype":
        np.save(out / "keypoint_score.npy", np.zeros((100, 17), np.float64))
    elif how == "not npy":
        (out / "labels.npy").write_bytes(b"garbage")
    elif how == "missing columns":
        os.remove(out / "columns.npz")
    elif how == "short column":
        with open(out / "columns.npz", "wb") as f:
            np.savez(f, **{f"c{j}": np.zeros((2, 2) if j else 2, np.int64) for j in range(4)})


@pytest.mark.parametrize("how, file, what", [
    ("truncated keypoint", "keypoint.npy", "is truncated or not a .npy file"),
    ("missing index", "index.npy", "is missing"),
    ("bad meta", "meta.json", "is not readable JSON"),
    ("meta lacks a field", "meta.json", "lacks a valid 'num_joints'"),
    ("short keypoint", "keypoint.npy", "has 3 rows, index.npy needs 28"),
    ("wrong joints", "keypoint.npy", r"has shape \(100, 18, 2\), meta.json implies \(N, 17, 2\)"),
    ("labels count", "labels.npy", r"has shape \(3,\), meta.json implies \(5,\)"),
    ("score dtype", "keypoint_score.npy", "has dtype float64, meta.json says float16"),
    ("not npy", "labels.npy", "is truncated or not a .npy file"),
    ("missing columns", "columns.npz", "is missing"),
    ("short column", "columns.npz", r"field 'total_frames' has shape \(2,\), expected 5 rows"),
])
def test_damaged_pack_names_the_file_and_the_fix(tmp_path, how, file, what):
    path = _split_file(tmp_path, _items())
    out = tmp_path / "out"
    pack(path, out)
    _damage(out, how)
    with pytest.raises(StgcnError) as info:
        PoseDataset(out, PIPELINE, split="val")
    msg = str(info.value)
    assert re.match(rf"{re.escape(str(out / file))}: {what}", msg), msg
    assert msg.endswith(f"packed directory is damaged (interrupted copy?); re-run `stgcn pack {path} {out}`")
    assert "\n" not in msg


def test_pack_command(tmp_path, capsys):
    path = _split_file(tmp_path, _items())
    parser = argparse.ArgumentParser()
    pack_command.add_arguments(parser)
    assert pack_command.run(parser.parse_args([str(path), str(tmp_path / "packed")])) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("packed 5 samples (") and f"into {tmp_path / 'packed'}" in line
    with pytest.raises(StgcnError, match="does not exist"):
        pack_command.run(parser.parse_args([str(tmp_path / "missing.pkl")]))


def test_model_dependent_rules_still_apply_to_packs(tmp_path):
    """Packs skip the rules `stgcn pack` applied, never the ones that depend on the model."""
    from stgcn.data import SampleSpec

    out = tmp_path / "out"
    pack_annotations(_items(), out)
    with pytest.raises(StgcnError, match=r"sample #3 \(v3\): field 'label' is outside \[0, 3\) \(label=3\); "
                                         r"check num_classes in the config \(\+1 more"):
        PoseDataset(out, PIPELINE, num_classes=3)
    with pytest.raises(StgcnError, match=r"sample #0 \(v0\): field 'keypoint' has V != 25 .*\(\+4 more"):
        PoseDataset(out, PIPELINE, spec=SampleSpec(num_joints=25))
    _downgrade(out, 1, total_frames_of_2=40)
    with pytest.raises(StgcnError, match=r"sample #2 \(v2\): field 'total_frames' is not in \[1, T\]"):
        PoseDataset(out, PIPELINE)  # a pack from before packs were checked gets every rule


def _downgrade(out, version, total_frames_of_2=None):
    """Rewrite a pack the way versions 1-2 stored scalar fields: one JSON dict per sample."""
    packed = PackedAnnotations(out)
    extras = []
    for i in range(len(packed)):
        item = packed.scalars(i)
        del item["frame_dir"], item["label"]
        extras.append({k: list(v) if isinstance(v, tuple) else v for k, v in item.items()})
    if total_frames_of_2 is not None:
        extras[2]["total_frames"] = total_frames_of_2
    meta = json.loads((out / "meta.json").read_text())
    del meta["columns"], meta["rest"]
    meta.update(version=version, extras=extras)
    (out / "meta.json").write_text(json.dumps(meta))
    os.remove(out / "columns.npz")


def test_scalar_fields_round_trip_as_columns_or_per_sample(tmp_path):
    """Fields every sample has with one type become columns; the others stay per sample, exactly."""
    items = _items()
    for i, item in enumerate(items):
        item["filename"] = f"v{i}"  # a str column, which splits name samples by
        item["score"] = 0.5 if i % 2 else 1  # int and float mixed: per sample, types kept
        item["flag"] = i % 2 == 0
        if i == 3:
            item["note"] = "only here"
            item["shape"] = (None, 2)
    pack_annotations(items, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert set(meta["columns"]) == {"total_frames", "img_shape", "original_shape", "num_person_raw",
                                    "filename", "flag"}
    assert set(meta["rest"]) == {"0", "1", "2", "3", "4"} and set(meta["rest"]["3"]) == {"score", "note",
                                                                                          "shape"}
    want = [{k: v.item() if isinstance(v, np.generic) else v for k, v in item.items()
             if k not in ("keypoint", "keypoint_score")} for item in items]
    for version in (3, 2):
        if version == 2:
            _downgrade(tmp_path / "out", 2)
        packed = PackedAnnotations(tmp_path / "out")
        got = [packed.scalars(i) for i in range(len(packed))]
        assert got == want
        assert [type(g["score"]) for g in got] == [int, float, int, float, int]
        assert type(got[0]["flag"]) is bool and type(got[0]["img_shape"]) is tuple
        assert packed.ids() == [f"v{i}" for i in range(5)]


def test_open_builds_no_per_sample_objects_and_workers_get_a_small_pickle(tmp_path):
    """Opening reads columns, not one dict per sample; what a spawned worker receives is small."""
    items = _items(400)
    for i, item in enumerate(items):
        item["label"] = i % 5
    out = tmp_path / "out"
    pack_annotations(items, out)
    assert "extras" not in json.loads((out / "meta.json").read_text())
    ds = PoseDataset(out, PIPELINE)
    payload = pickle.dumps(ds)
    assert b"v123" not in payload and len(payload) < 8 * len(ds) + 4_000, len(payload)
    restored = pickle.loads(payload)  # what a spawned worker does: the pack is opened again there
    assert restored.records._arrays is None and restored.records.frame_dirs == ds.records.frame_dirs
    assert restored.labels == ds.labels and restored.frame_dirs == ds.frame_dirs
    assert torch.equal(restored[7]["keypoint"], ds[7]["keypoint"])
