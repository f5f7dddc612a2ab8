"""Graph matrices: equal to the reference for every layout/strategy, and SPEC §1.4's fingerprints."""

import numpy as np
import pytest

from stgcn.errors import StgcnError
from stgcn.graph import LAYOUTS, Graph

REFERENCE_LAYOUTS = ["openpose-18", "openpose-25", "ntu-rgb+d", "ntu_edge", "coco"]


@pytest.mark.parametrize("layout", REFERENCE_LAYOUTS)
@pytest.mark.parametrize("strategy", ["uniform", "distance", "spatial"])
@pytest.mark.parametrize("max_hop,dilation", [(1, 1), (2, 1), (2, 2), (3, 1)])
def test_matches_reference(reference, layout, strategy, max_hop, dilation):
    ours = Graph(layout, strategy, max_hop, dilation).A
    theirs = reference.adjacency(layout, strategy, max_hop, dilation).astype(np.float32)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)


def _fingerprint(a):
    return [round(float(s), 4) for s in a.sum((1, 2))], (a != 0).sum((1, 2)).tolist()


def test_coco_spatial_fingerprint():
    a = Graph("coco", "spatial").A
    assert a.shape == (3, 17, 17)
    assert _fingerprint(a) == ([5.7333, 10.1, 1.1667], [17, 34, 4])
    assert sorted(zip(*np.nonzero(a[2]), strict=True)) == [(0, 1), (0, 2), (1, 3), (2, 4)]
    diag = [1 / 3, 1 / 4, 1 / 4, 1 / 3, 1 / 3, 1 / 5, 1 / 5, 1 / 3, 1 / 3, 1 / 2, 1 / 2, 1 / 4, 1 / 4,
            1 / 3, 1 / 3, 1 / 2, 1 / 2]
    np.testing.assert_allclose(np.diag(a[0]), diag, rtol=1e-6)


def test_ntu_spatial_fingerprint():
    a = Graph("ntu-rgb+d", "spatial").A
    assert a.shape == (3, 25, 25)
    assert _fingerprint(a) == ([8.95, 13.3, 2.75], [25, 40, 8])
    assert sorted(zip(*np.nonzero(a[2]), strict=True)) == [(1, 0), (2, 3), (4, 5), (8, 9), (20, 1), (20, 2),
                                              (20, 4), (20, 8)]


def test_other_fingerprints():
    assert _fingerprint(Graph("openpose-18", "spatial").A) == ([6.6667, 8.5833, 2.75], [18, 25, 9])
    a = Graph("coco", "uniform").A
    assert a.shape == (1, 17, 17) and round(float(a.sum()), 4) == 17 and (a != 0).sum() == 55
    a = Graph("coco", "distance").A
    assert a.shape == (2, 17, 17) and _fingerprint(a)[0] == [5.7333, 11.2667]


def test_partition_counts():
    assert Graph("coco", "spatial", max_hop=2).A.shape[0] == 5
    assert Graph("coco", "spatial", max_hop=2, dilation=2).A.shape[0] == 3


def test_columns_sum_to_one():
    for name in LAYOUTS:
        a = Graph(name, "spatial").A
        np.testing.assert_allclose(a.sum((0, 1)), 1.0, rtol=1e-6)


def test_agcn_strategy():
    a = Graph("ntu-rgb+d", "agcn").A
    assert a.shape == (3, 25, 25)
    np.testing.assert_array_equal(a[0], np.eye(25))


def test_custom_layout_dict():
    chain = dict(num_node=4, edges=[(0, 1), (1, 2), (2, 3)], center=1)
    g = Graph(chain, "spatial")
    assert g.A.shape == (3, 4, 4) and g.num_node == 4 and g.layout_name is None


def test_nw_ucla_layout_is_a_tree():
    layout = LAYOUTS["nw-ucla"]
    assert layout.num_node == 20 and len(layout.edges) == 19
    assert {v for e in layout.edges for v in e} == set(range(20))


@pytest.mark.parametrize("kwargs,match", [
    (dict(layout="coc"), "did you mean 'coco'"),
    (dict(layout="coco", strategy="spatail"), "did you mean 'spatial'"),
    (dict(layout=dict(num_node=3, edges=[(0, 3)], center=0)), "0-based"),
    (dict(layout=dict(num_node=3, edges=[])), "center"),
])
def test_bad_graph_config(kwargs, match):
    with pytest.raises(StgcnError, match=match):
        Graph(**kwargs)
