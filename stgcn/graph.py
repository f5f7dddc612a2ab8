"""Skeleton layouts and the partitioned adjacency matrices of ST-GCN (Yan et al., AAAI 2018).

Matches mmaction2 0.x's ``Graph`` matrix for matrix, quirks included:

* hop distances are computed only up to ``max_hop``; farther pairs stay ``inf``, so in the
  ``spatial`` strategy every joint that is neither the centre nor next to it has distance ``inf``
  to the centre and its edges fall into the "root" partition;
* adjacency is normalised by column sums (``A @ diag(1 / deg)``), columns with no entry stay 0.

A layout is a name from :data:`LAYOUTS` (or one of its :data:`ALIASES`) or a dict
``dict(num_node=V, edges=[(i, j), ...], center=c)`` with 0-based joint indices. The table is the one
source of skeleton facts: graph edges, the (child, parent) bone pairs of ``JointToBone`` / ``GenSkeFeat``
and whether the third channel is a coordinate (3D) or a detector score (2D).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stgcn.errors import StgcnError, did_you_mean


@dataclass(frozen=True)
class Layout:
    """A skeleton: number of joints, undirected graph edges (0-based pairs), the centre joint, the
    (child, parent) bone pairs of the bone stream (None: no bone stream) and coordinate dimensions."""

    num_node: int
    edges: tuple[tuple[int, int], ...]
    center: int
    bones: tuple[tuple[int, int], ...] | None = None
    dims: int = 2


def _one_based(pairs: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((i - 1, j - 1) for i, j in pairs)


LAYOUTS: dict[str, Layout] = {
    # OpenPose COCO-18 (original ST-GCN Kinetics-skeleton).
    "openpose-18": Layout(18, (
        (4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5), (8, 2), (5, 1),
        (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14)), 1,
        bones=((0, 0), (1, 0), (2, 1), (3, 2), (4, 3), (5, 1), (6, 5), (7, 6), (8, 2), (9, 8), (10, 9),
               (11, 5), (12, 11), (13, 12), (14, 0), (15, 0), (16, 14), (17, 15))),
    # OpenPose BODY_25.
    "openpose-25": Layout(25, (
        (4, 3), (3, 2), (7, 6), (6, 5), (23, 22), (22, 11), (24, 11), (11, 10), (10, 9), (9, 8),
        (20, 19), (19, 14), (21, 14), (14, 13), (13, 12), (12, 8), (8, 1), (5, 1), (2, 1), (0, 1),
        (15, 0), (16, 0), (17, 15), (18, 16)), 1),
    # Kinect v2 (NTU RGB+D), centre = spine-shoulder (joint 21, 1-based).
    "ntu-rgb+d": Layout(25, _one_based([
        (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10),
        (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
        (22, 23), (23, 8), (24, 25), (25, 12)]), 20,
        bones=((0, 1), (1, 20), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (8, 20), (9, 8),
               (10, 9), (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17),
               (19, 18), (21, 22), (20, 20), (22, 7), (23, 24), (24, 11)), dims=3),
    # The bone graph of NTU RGB+D (24 bones as nodes).
    "ntu_edge": Layout(24, _one_based([
        (1, 2), (3, 2), (4, 3), (5, 2), (6, 5), (7, 6), (8, 7), (9, 2), (10, 9), (11, 10), (12, 11),
        (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (21, 22),
        (22, 8), (23, 24), (24, 12)]), 1, dims=3),
    # COCO-17 keypoints (mmaction2 0.x's 19-edge list), centre = nose.
    "coco": Layout(17, _one_based([
        (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (8, 6), (9, 7),
        (10, 8), (11, 9), (2, 3), (2, 1), (3, 1), (4, 2), (5, 3), (4, 6), (5, 7)]), 0,
        bones=((0, 0), (1, 0), (2, 0), (3, 1), (4, 2), (5, 0), (6, 0), (7, 5), (8, 6), (9, 7), (10, 8),
               (11, 0), (12, 0), (13, 11), (14, 12), (15, 13), (16, 14))),
    # Kinect v1 (NW-UCLA, 20 joints): 0 hip centre, 1 spine, 2 shoulder centre, 3 head, 4-7 left arm,
    # 8-11 right arm, 12-15 left leg, 16-19 right leg. Centre = shoulder centre, the Kinect v1
    # counterpart of ntu-rgb+d's spine-shoulder centre. Bones point towards the shoulder centre.
    "nw-ucla": Layout(20, (
        (0, 1), (1, 2), (2, 3), (2, 4), (4, 5), (5, 6), (6, 7), (2, 8), (8, 9), (9, 10), (10, 11),
        (0, 12), (12, 13), (13, 14), (14, 15), (0, 16), (16, 17), (17, 18), (18, 19)), 2,
        bones=((0, 1), (1, 2), (2, 2), (3, 2), (4, 2), (5, 4), (6, 5), (7, 6), (8, 2), (9, 8), (10, 9),
               (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17), (19, 18)),
        dims=3),
}
# Other spellings of the same layouts (mmaction2's `GenSkeFeat(dataset=...)` / 1.x graph names).
ALIASES = {"nturgb+d": "ntu-rgb+d", "openpose": "openpose-18"}

STRATEGIES = ("uniform", "distance", "spatial", "agcn")


def _unknown(kind: str, name: object, valid: list[str]) -> StgcnError:
    return StgcnError(f"unknown {kind} {name!r}{did_you_mean(name, valid)}; valid: {', '.join(valid)}")


def get_layout(layout: str | dict | Layout) -> Layout:
    """Resolve a layout name or a user dict ``dict(num_node, edges, center)`` into a :class:`Layout`."""
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, str):
        name = ALIASES.get(layout, layout)
        if name not in LAYOUTS:
            raise _unknown("graph layout", layout, list(LAYOUTS) + list(ALIASES))
        return LAYOUTS[name]
    if isinstance(layout, dict):
        missing = {"num_node", "edges", "center"} - set(layout)
        extra = set(layout) - {"num_node", "edges", "center"}
        if missing or extra:
            raise StgcnError(
                f"graph_cfg.layout dict needs exactly num_node, edges, center; "
                f"missing {sorted(missing)}, unexpected {sorted(extra)}")
        num_node = int(layout["num_node"])
        edges = tuple((int(i), int(j)) for i, j in layout["edges"])
        center = int(layout["center"])
        bad = [e for e in edges if not (0 <= e[0] < num_node and 0 <= e[1] < num_node)]
        if bad or not 0 <= center < num_node:
            raise StgcnError(
                f"graph_cfg.layout: joint indices must be 0-based and < num_node={num_node}; "
                f"bad edges {bad[:3]}, center {center}")
        return Layout(num_node, edges, center)
    raise StgcnError(f"graph_cfg.layout must be a layout name or a dict, got {type(layout).__name__}")


def hop_distance(num_node: int, edges, max_hop: int = 1) -> np.ndarray:
    """Pairwise hop distances up to ``max_hop``; larger distances stay ``inf`` (reference quirk)."""
    adj = np.eye(num_node)
    for i, j in edges:
        adj[i, j] = adj[j, i] = 1
    dist = np.full((num_node, num_node), np.inf)
    reach = [np.linalg.matrix_power(adj, d) > 0 for d in range(max_hop + 1)]
    for d in range(max_hop, -1, -1):
        dist[reach[d]] = d
    return dist


def normalize_digraph(adj: np.ndarray) -> np.ndarray:
    """Divide every column by its sum (columns summing to 0 stay 0)."""
    degree = adj.sum(0)
    inv = np.zeros_like(degree)
    inv[degree > 0] = 1.0 / degree[degree > 0]
    return adj * inv[None, :]


def _edge_matrix(num_node: int, edges) -> np.ndarray:
    mat = np.zeros((num_node, num_node))
    for i, j in edges:
        mat[j, i] = 1
    return mat


def adjacency(layout: Layout, strategy: str, max_hop: int = 1, dilation: int = 1) -> np.ndarray:
    """The (K, V, V) partitioned adjacency; ``A[k, v, w]`` carries joint ``v`` into joint ``w``."""
    if strategy not in STRATEGIES:
        raise _unknown("graph strategy", strategy, list(STRATEGIES))
    num_node = layout.num_node
    if strategy == "agcn":
        inward = layout.edges
        outward = tuple((j, i) for i, j in inward)
        return np.stack([
            _edge_matrix(num_node, [(i, i) for i in range(num_node)]),
            normalize_digraph(_edge_matrix(num_node, inward)),
            normalize_digraph(_edge_matrix(num_node, outward)),
        ])
    dist = hop_distance(num_node, layout.edges, max_hop)
    hops = list(range(0, max_hop + 1, dilation))
    reach = np.isin(dist, hops).astype(np.float64)
    norm = normalize_digraph(reach)
    if strategy == "uniform":
        return norm[None]
    if strategy == "distance":
        return np.stack([np.where(dist == h, norm, 0.0) for h in hops])
    # spatial: split each hop ring by distance to the centre (root / centripetal / centrifugal).
    to_center = dist[:, layout.center]
    d_v, d_w = to_center[:, None], to_center[None, :]
    parts = []
    for h in hops:
        ring = dist == h
        root = np.where(ring & (d_v == d_w), norm, 0.0)
        close = np.where(ring & (d_v > d_w), norm, 0.0)
        far = np.where(ring & (d_v < d_w), norm, 0.0)
        parts += [root] if h == 0 else [root + close, far]
    return np.stack(parts)


class Graph:
    """ST-GCN graph: ``Graph(layout, strategy, max_hop, dilation).A`` is float32 (K, V, V)."""

    def __init__(self, layout: str | dict = "openpose-18", strategy: str = "uniform",
                 max_hop: int = 1, dilation: int = 1) -> None:
        if max_hop < 0 or dilation < 1:
            raise StgcnError(f"graph_cfg: need max_hop >= 0 and dilation >= 1, got {max_hop}, {dilation}")
        self.layout_name = layout if isinstance(layout, str) else None
        self.layout = get_layout(layout)
        self.strategy = strategy
        self.max_hop = max_hop
        self.dilation = dilation
        self.num_node = self.layout.num_node
        self.center = self.layout.center
        self.A = adjacency(self.layout, strategy, max_hop, dilation).astype(np.float32)

    def __repr__(self) -> str:
        name = self.layout_name or f"custom({self.num_node} joints)"
        return f"Graph(layout={name!r}, strategy={self.strategy!r}, A={tuple(self.A.shape)})"


# --- mmaction2 1.x / PYSKL vocabulary: ``graph_cfg=dict(layout=..., mode=..., max_hop=1)`` ---
# Their own layout names and edge lists (``coco`` and ``nturgb+d`` differ from the 0.x ones above);
# the joints (and bone pairs) are those of the 0.x layouts. A custom layout is
# ``dict(num_node=V, inward=[(i, j), ...], center=c)``.
LAYOUTS_1X: dict[str, Layout] = {
    "openpose": LAYOUTS["openpose-18"],
    "nturgb+d": Layout(25, _one_based([
        (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10),
        (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
        (22, 8), (23, 8), (24, 12), (25, 12)]), 20, LAYOUTS["ntu-rgb+d"].bones, 3),
    "coco": Layout(17, (
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5), (10, 8), (8, 6),
        (5, 0), (6, 0), (1, 0), (3, 1), (2, 0), (4, 2)), 0, LAYOUTS["coco"].bones, 2),
    # not a 1.x name: NW-UCLA's Kinect v1 joints, inward edges = its (child, parent) bone pairs
    "nw-ucla": Layout(20, tuple(p for p in LAYOUTS["nw-ucla"].bones if p[0] != p[1]), 2,
                      LAYOUTS["nw-ucla"].bones, 3),
}
MODES_1X = ("stgcn_spatial", "spatial", "binary_adj")


def adjacency_1x(layout: Layout, mode: str, max_hop: int = 1) -> np.ndarray:
    """The 1.x modes: ``stgcn_spatial`` is the 0.x ``spatial`` partition, ``spatial`` is
    (identity, normalised inward, normalised outward), ``binary_adj`` the raw symmetric adjacency."""
    if mode not in MODES_1X:
        raise _unknown("graph_cfg.mode", mode, list(MODES_1X))
    if mode == "stgcn_spatial":
        return adjacency(layout, "spatial", max_hop)
    if mode == "spatial":
        return adjacency(layout, "agcn")
    inward = list(layout.edges)
    return _edge_matrix(layout.num_node, inward + [(j, i) for i, j in inward])[None]


class Graph1x:
    """1.x / PYSKL graph: ``Graph1x(layout, mode, max_hop).A`` is float32 (K, V, V)."""

    def __init__(self, layout: str | dict = "coco", mode: str = "spatial", max_hop: int = 1) -> None:
        if max_hop < 1:
            raise StgcnError(f"graph_cfg.max_hop must be >= 1, got {max_hop}")
        if isinstance(layout, dict):
            extra = set(layout) - {"num_node", "inward", "center"}
            if extra or "inward" not in layout:
                raise StgcnError(f"graph_cfg.layout dict needs num_node, inward, center (mmaction2 1.x); "
                                 f"got {sorted(layout)}")
            renamed = {("edges" if k == "inward" else k): v for k, v in layout.items()}
            self.layout = get_layout(renamed)
        elif isinstance(layout, str) and layout in LAYOUTS_1X:
            self.layout = LAYOUTS_1X[layout]
        else:
            raise _unknown("graph_cfg.layout", layout, list(LAYOUTS_1X))
        self.layout_name = layout if isinstance(layout, str) else None
        self.mode = mode
        self.max_hop = max_hop
        self.num_node = self.layout.num_node
        self.center = self.layout.center
        self.A = adjacency_1x(self.layout, mode, max_hop).astype(np.float32)

    def __repr__(self) -> str:
        name = self.layout_name or f"custom({self.num_node} joints)"
        return f"Graph1x(layout={name!r}, mode={self.mode!r}, A={tuple(self.A.shape)})"
