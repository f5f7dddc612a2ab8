"""NW-UCLA JSON converter: real-release counts and splits, label mapping, bad files, the 20-joint layout."""

import argparse
import json

import numpy as np
import pytest

from stgcn.commands import convert as convert_cmd
from stgcn.data.convert import nw_ucla
from stgcn.data.safe_pickle import load_pickle
from stgcn.errors import StgcnError
from stgcn.graph import get_layout
from tests.conftest import shared_path
from tests.data.helpers import first_item


@pytest.fixture(scope="module")
def converted():
    return nw_ucla.convert_nw_ucla(shared_path("data", "nw_ucla", "all_sqe"), progress=False)


def test_full_release_counts_and_splits(converted):
    anno, summary = converted
    assert summary.samples == 1484 and not summary.skipped
    assert summary.splits == {"xview_train": 1020, "xview_val": 464, "xsub_train": 754, "xsub_val": 730}
    counts = np.bincount([a["label"] for a in anno["annotations"]])
    assert counts.tolist() == [150, 152, 141, 173, 148, 149, 142, 142, 145, 142]
    names = [a["frame_dir"] for a in anno["annotations"]]
    assert anno["split"]["xview_val"] == [n for n in names if n.endswith("_v03")]
    assert anno["split"]["xsub_train"] == [n for n in names if int(n[5:7]) <= 5]  # subjects 1-5
    assert set(anno["split"]["xsub_train"]).isdisjoint(anno["split"]["xsub_val"])


def test_one_clip_matches_its_json(converted):
    anno, _ = converted
    path = shared_path("data", "nw_ucla", "all_sqe", "a08_s03_e01_v02.json")
    record = json.loads(path.read_text())
    item = next(a for a in anno["annotations"] if a["frame_dir"] == "a08_s03_e01_v02")
    assert item["label"] == record["label"] - 1 == 6  # a08 = donning = 7th class
    assert item["keypoint"].dtype == np.float32 and item["keypoint"].shape == (1, item["total_frames"], 20, 3)
    np.testing.assert_allclose(item["keypoint"][0], np.array(record["skeletons"]), rtol=1e-6)
    assert "keypoint_score" not in item


@pytest.mark.parametrize("name, record, message", [
    ("a01_s01_e00_v01.json", {"label": 1}, "lacks 'label' or 'skeletons'"),
    ("a01_s01_e00_v01.json", {"label": 0, "skeletons": [[[0, 0, 0]] * 20]}, "expected an integer 1..10"),
    ("a02_s01_e00_v01.json", {"label": 1, "skeletons": [[[0, 0, 0]] * 20]}, "the name says action a02"),
    ("a01_s01_e00_v01.json", {"label": 1, "skeletons": [[[0, 0, 0]] * 19]}, "has shape"),
    ("a01_s01_e00_v01.json", {"label": 1, "skeletons": []}, "has shape"),
    ("clip.json", {"label": 1, "skeletons": []}, "not an NW-UCLA clip name"),
])
def test_bad_files_raise_clear_errors(tmp_path, name, record, message):
    path = tmp_path / name
    path.write_text(json.dumps(record))
    with pytest.raises(StgcnError, match=message):
        nw_ucla.read_clip(path)


def test_bad_file_is_skipped_not_fatal(tmp_path):
    (tmp_path / "a01_s01_e00_v01.json").write_text(json.dumps({"label": 1, "skeletons": [[[1, 2, 3]] * 20]}))
    (tmp_path / "a01_s02_e00_v03.json").write_text("{not json")
    anno, summary = nw_ucla.convert_nw_ucla(tmp_path, progress=False)
    assert [a["frame_dir"] for a in anno["annotations"]] == ["a01_s01_e00_v01"]
    assert summary.skipped[0][0] == "a01_s02_e00_v03.json" and "cannot read the JSON" in summary.skipped[0][1]


# Kinect v1 joints: 0 hip centre, 1 spine, 2 shoulder centre, 3 head, 4-7 left shoulder, elbow, wrist,
# hand, 8-11 the same on the right, 12-15 left hip, knee, ankle, foot, 16-19 the same on the right.
KINECT_V1_BONES = [(0, 1), (1, 2), (2, 3), (2, 4), (4, 5), (5, 6), (6, 7), (2, 8), (8, 9), (9, 10), (10, 11),
                   (0, 12), (12, 13), (13, 14), (14, 15), (0, 16), (16, 17), (17, 18), (18, 19)]
# each joint's neighbour towards the shoulder centre (2), which points to itself
KINECT_V1_PARENTS = [1, 2, 2, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18]


@pytest.mark.parametrize("name", ["nw-ucla"])
def test_layout_is_the_kinect_v1_skeleton(name):
    layout = get_layout(name)
    assert layout.num_node == nw_ucla.NUM_JOINTS == 20 and layout.center == 2 and layout.dims == 3
    assert {frozenset(e) for e in layout.edges} == {frozenset(e) for e in KINECT_V1_BONES}
    assert list(layout.bones) == list(enumerate(KINECT_V1_PARENTS))


def test_cli_converts_the_release(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    convert_cmd.add_arguments(parser)
    out = tmp_path / "nw_ucla.pkl"
    args = parser.parse_args(["nw-ucla", str(shared_path("data", "nw_ucla", "all_sqe")), str(out)])
    assert convert_cmd.run(args) == 0
    assert "wrote 1484 samples" in capsys.readouterr().out
    assert len(load_pickle(out)["split"]["xview_train"]) == 1020
    assert tuple(first_item(out, "xview_val", num_person=1)["keypoint"].shape) == (3, 300, 20, 1)
