"""Which built-in skeleton layout fits data of V joints and C coordinates.

The joint counts come from :data:`stgcn.graph.LAYOUTS`; this module adds only which layouts come with
3D coordinates (depth-camera skeletons) and which are 2D image keypoints, to tell apart layouts with the
same joint count (``ntu-rgb+d`` and ``openpose-25`` both have 25).
"""

from __future__ import annotations

from stgcn.errors import StgcnError
from stgcn.graph import LAYOUTS

# Coordinates each layout's sources give: Kinect skeletons are 3D (2D when projected to the colour
# image), pose estimators on images give 2D.
LAYOUT_DIMS: dict[str, tuple[int, ...]] = {
    "openpose-18": (2,),
    "openpose-25": (2,),
    "coco": (2,),
    "ntu-rgb+d": (2, 3),
    "ntu_edge": (2, 3),
    "nw-ucla": (2, 3),
}


def layout_candidates(num_joints: int, dims: int) -> list[str]:
    """Built-in layout names with ``num_joints`` joints whose sources give ``dims``-D coordinates."""
    return [name for name, layout in LAYOUTS.items()
            if layout.num_node == num_joints and dims in LAYOUT_DIMS.get(name, (2, 3))]


def guess_layout(num_joints: int, dims: int, source: str, flag: str = "--layout") -> str:
    """The one built-in layout that fits, or a one-line StgcnError listing the candidates."""
    found = layout_candidates(num_joints, dims)
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(f"{name} ({layout.num_node})" for name, layout in LAYOUTS.items())
        raise StgcnError(f"{source}: no built-in layout has {num_joints} joints with {dims}D coordinates "
                         f"(built-in: {known}); describe the skeleton as a layout dict in the config")
    raise StgcnError(f"{source}: {num_joints} joints with {dims}D coordinates fit several layouts "
                     f"({', '.join(found)}); choose one with {flag}")
