"""Which built-in skeleton layout fits data of V joints and C coordinates.

The facts come from :data:`stgcn.graph.LAYOUTS` (joint count, 2D or 3D sources): 3D data fits only the
3D (depth-camera) layouts; 2D data fits any layout of its joint count, since every skeleton can be
projected to the image, so ``ntu-rgb+d`` and ``openpose-25`` (both 25 joints) make 2D data ambiguous.
"""

from __future__ import annotations

from stgcn.errors import StgcnError
from stgcn.graph import LAYOUTS


def layout_candidates(num_joints: int, dims: int) -> list[str]:
    """Built-in layout names with ``num_joints`` joints that ``dims``-D coordinates fit."""
    return [name for name, layout in LAYOUTS.items()
            if layout.num_node == num_joints and (dims == 2 or layout.dims == 3)]


def guess_layout(num_joints: int, dims: int, source: str, flag: str = "--layout") -> str:
    """The one built-in layout that fits, or a one-line StgcnError listing the candidates."""
    found = layout_candidates(num_joints, dims)
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(f"{name} ({layout.num_node}, {layout.dims}D)" for name, layout in LAYOUTS.items())
        raise StgcnError(f"{source}: no built-in layout has {num_joints} joints with {dims}D coordinates "
                         f"(built-in: {known}); describe the skeleton as a layout dict in the config")
    raise StgcnError(f"{source}: {num_joints} joints with {dims}D coordinates fit several layouts "
                     f"({', '.join(found)}); choose one with {flag}")
