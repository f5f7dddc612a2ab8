"""Config ``type=`` names to classes: one lookup, clear errors for unknown names and arguments."""

from __future__ import annotations

import inspect

from stgcn.errors import StgcnError, did_you_mean


def build_from_table(cfg: dict, table: dict, where: str, **extra):
    """Instantiate ``table[cfg['type']](**rest, **extra)`` or explain what is wrong with ``cfg``."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise StgcnError(f"{where} must be a dict with a 'type' key, got {cfg!r}")
    args = dict(cfg)
    name = args.pop("type")
    if name not in table:
        hint = did_you_mean(name, table)
        raise StgcnError(f"{where}: unknown type {name!r}{hint}; valid: {', '.join(table)}")
    cls = table[name]
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    unknown = [k for k in args if k not in accepted]
    if unknown:
        hint = did_you_mean(unknown[0], accepted)
        raise StgcnError(
            f"{where} ({name}): unknown argument {unknown[0]!r}{hint}; accepted: {', '.join(accepted)}")
    return cls(**args, **extra)
