"""Access to the `results` dict that pipeline transforms pass along, with a fix-it error."""

from __future__ import annotations

from stgcn.errors import StgcnError


def require(results: dict, key: str, transform: str) -> object:
    if key not in results:
        raise StgcnError(f"pipeline: {transform} needs results[{key!r}] but the sample only has "
                         f"{sorted(results)}; put {transform} after the transform that adds it")
    return results[key]
