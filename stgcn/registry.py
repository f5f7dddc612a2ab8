"""Config ``type=`` names to classes: one lookup, with one-line errors for every way a dict is wrong.

Each layer keeps its own small table (transforms, datasets, backbones, heads, losses) and builds
through :func:`build_from_table`, so an unknown name or argument reads the same everywhere.
"""

from __future__ import annotations

import inspect

from stgcn.errors import StgcnError, did_you_mean


def build_from_table(cfg: dict, table: dict, where: str, what: str = "type", **extra):
    """Instantiate ``table[cfg['type']](**rest, **extra)`` or explain what is wrong with ``cfg``.

    ``where`` names the config entry in messages, ``what`` the kind of name (``transform type``);
    ``extra`` are constructor arguments the caller supplies, which a config may not set.
    """
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise StgcnError(f"{where} must be a dict with a 'type' key, got {cfg!r}")
    args = dict(cfg)
    name = args.pop("type")
    if not isinstance(name, str) or name not in table:
        hint = did_you_mean(name, table)
        raise StgcnError(f"{where}: unknown {what} {name!r}{hint}; valid: {', '.join(table)}")
    cls = table[name]
    params = inspect.signature(cls).parameters
    accepted = [p for p, spec in params.items() if p not in extra
                and spec.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    unknown = [k for k in args if k not in accepted]
    if unknown:
        hint = did_you_mean(unknown[0], accepted)
        raise StgcnError(f"{where}: {name} got unexpected argument {unknown[0]!r}{hint}; it accepts: "
                         f"{', '.join(accepted) or 'no arguments'}")
    missing = [p for p in accepted if params[p].default is inspect.Parameter.empty and p not in args]
    if missing:
        raise StgcnError(f"{where}: {name} is missing required argument(s) "
                         f"{', '.join(map(repr, missing))}; it accepts: {', '.join(accepted)}")
    return cls(**args, **extra)
