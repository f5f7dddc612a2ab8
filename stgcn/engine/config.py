"""mmaction2 0.x-style Python config files, read unchanged into a plain dict.

A config file is executed in a fresh namespace (`runpy.run_path`); its public top-level names holding plain
data (dict, list, tuple, str, int, float, bool, None) form the config. `_base_` (a path or a list of paths,
relative to the file) is loaded first and the file's values are merged into it recursively; a dict holding
`_delete_=True` replaces the inherited value instead. `--cfg-options a.b=c` overrides follow mmcv's
DictAction value parsing, and `data.train.pipeline.0.clip_len=100` indexes lists.

Unknown top-level names are rejected with a "did you mean" hint. A name is accepted when it is a key known
to mmaction2 0.x configs and this runtime (`KNOWN_KEYS`), or when it is a helper: the file reads the name
elsewhere (like `dataset_type = 'PoseDataset'` or `clip_len = 100` used in the pipelines). A misspelt
`total_epoch = 2` is read nowhere, so it is caught even when the value 2 appears elsewhere. A resolved
config written back out (`dump_config`) has its helpers' values written out in place, so it lists the
helper names in `_helpers_ = [...]`, which the check accepts.
"""

from __future__ import annotations

import ast
import copy
import difflib
import os
import runpy
from pathlib import Path
from typing import Any

from stgcn.engine import config_1x
from stgcn.errors import StgcnError
from stgcn.fileio import write_atomic

KNOWN_KEYS = config_1x.KEYS_1X | frozenset({
    # model, data and schedule
    "model", "data", "optimizer", "optimizer_config", "lr_config", "momentum_config", "total_epochs",
    "checkpoint_config", "evaluation", "log_config", "workflow", "fp16", "precise_bn", "omnisource",
    "multigrid", "custom_hooks", "module_hooks", "train_cfg", "test_cfg", "output_config", "eval_config",
    # runtime
    "dist_params", "log_level", "work_dir", "load_from", "resume_from", "gpu_ids", "seed",
    "find_unused_parameters", "cudnn_benchmark", "mp_start_method", "opencv_num_threads",
    "custom_imports", "auto_resume", "device",
    "class_names",  # a built-in class list name or a list of names (stgcn.data.classes)
    "absent_joints",  # joints of the layout the training data lacks (fed as absent from videos)
    # helper names used by the mmaction2 0.x skeleton configs
    "dataset_type", "data_root", "data_root_val", "ann_file_train", "ann_file_val", "ann_file_test",
    "train_pipeline", "val_pipeline", "test_pipeline", "img_norm_cfg",
})

PLAIN_TYPES = (dict, list, tuple, str, int, float, bool, type(None))
MAX_DEPTH = 32


def load_config(path: str | os.PathLike, cfg_options: dict[str, Any] | None = None) -> dict:
    """Read a config file (with its `_base_` files) and apply `--cfg-options` overrides; mmaction2 1.x and
    PYSKL configs are then translated into the 0.x-shaped dict (`stgcn.engine.config_1x`)."""
    cfg = _load_file(Path(path), chain=())
    if cfg_options:
        cfg = merge_cfg_options(cfg, cfg_options, source=str(path))
    return config_1x.translate(cfg, str(path))


def _load_file(path: Path, chain: tuple[Path, ...]) -> dict:
    path = path.expanduser()
    if not path.is_file():
        raise StgcnError(f"{path}: config file not found; check the path")
    if path.suffix != ".py":
        raise StgcnError(f"{path}: only Python config files (.py) are supported; convert it to a .py file")
    resolved = path.resolve()
    if resolved in chain:
        raise StgcnError(f"{path}: _base_ files include each other in a loop; remove the cycle")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise StgcnError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8") from None
    if "{{" in text and "_base_." in text:
        raise StgcnError(f"{path}: '{{{{_base_.xxx}}}}' substitutions are not supported; "
                         "write the value out, or inherit it through _base_")
    try:
        namespace = runpy.run_path(str(path), run_name="__stgcn_config__")
    except SyntaxError as exc:
        raise StgcnError(f"{path}:{exc.lineno}: syntax error in config: {exc.msg}") from exc
    except Exception as exc:  # the file is user code; any failure is a config error
        raise StgcnError(f"{path}: executing the config failed: {type(exc).__name__}: {exc}") from exc

    own = _public_data(namespace, path)
    helpers = namespace.get("_helpers_", [])
    if not isinstance(helpers, (list, tuple)) or not all(isinstance(h, str) for h in helpers):
        raise StgcnError(f"{path}: _helpers_ must be a list of names")
    _check_top_level(own, path, _names_used(text) | set(helpers))
    bases = namespace.get("_base_", [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise StgcnError(f"{path}: _base_ must be a path or a list of paths (relative to the file)")

    merged: dict = {}
    for base in bases:
        base_cfg = _load_file(path.parent / base, chain + (resolved,))
        duplicate = sorted(set(merged) & set(base_cfg))
        if duplicate:
            raise StgcnError(f"{path}: key '{duplicate[0]}' is defined in several _base_ files; "
                             "keep it in one of them")
        merged.update(base_cfg)
    return merge_dicts(merged, own, where=str(path))


def _public_data(namespace: dict, path: Path) -> dict:
    """The public top-level names holding plain data; modules, functions and classes are skipped."""
    out = {}
    for name, value in namespace.items():
        if name.startswith("_") or callable(value) or type(value).__name__ == "module":
            continue
        check_plain(value, name, path)
        out[name] = value
    return out


def check_plain(value: Any, where: str, source: str | os.PathLike) -> None:
    """Configs hold plain data (dict/list/tuple/str/int/float/bool/None, string keys), at most
    `MAX_DEPTH` levels deep; checked without recursion, so a hostile checkpoint cannot exhaust the stack."""
    stack = [(value, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise StgcnError(f"{source}: '{where}' is nested more than {MAX_DEPTH} levels deep; "
                             "a config holds shallow plain data")
        if not isinstance(item, PLAIN_TYPES):
            raise StgcnError(f"{source}: '{at}' holds a {type(item).__name__}; configs may hold only "
                             "dict/list/tuple/str/int/float/bool/None values")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, (str, int)):
                    raise StgcnError(f"{source}: '{at}' has a non-string key {key!r}; use string keys")
                stack.append((child, f"{at}.{key}", depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, f"{at}.{i}", depth + 1) for i, child in enumerate(item))


def _names_used(text: str) -> set[str]:
    """Names the file reads (a helper like `clip_len = 100` is read by the pipelines that use it)."""
    return {node.id for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)}


def _check_top_level(own: dict, path: Path, used: set[str]) -> None:
    for name in own:
        if name in KNOWN_KEYS or name in used:
            continue  # a known key, or a helper variable read by another value
        hint = difflib.get_close_matches(name, sorted(KNOWN_KEYS), n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else "remove it or check the spelling"
        raise StgcnError(f"{path}: unknown top-level config key '{name}'; {fix}")


def merge_dicts(base: dict, override: dict, where: str = "config") -> dict:
    """`override` merged into a deep copy of `base` (mmcv rules: dicts merge, `_delete_=True` replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        value = copy.deepcopy(value)
        if isinstance(value, dict):
            delete = value.pop("_delete_", False)
            if key in out and not delete:
                if not isinstance(out[key], dict):
                    kind = type(out[key]).__name__
                    raise StgcnError(f"{where}: '{key}' is a dict here but a {kind} in the base config; "
                                     "add _delete_=True to replace it")
                value = merge_dicts(out[key], value, where)
            else:
                value = _strip_delete(value)
        out[key] = value
    return out


def _strip_delete(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != "_delete_"}
    if isinstance(value, list):
        return [_strip_delete(v) for v in value]
    return value


# --cfg-options ------------------------------------------------------------------------------------------

def _parse_scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "None":
        return None
    return text


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets or parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_option_value(text: str) -> Any:
    """mmcv DictAction values: `1` -> 1, `true` -> True, `None` -> None, `1,2` and `[1,2]` -> [1, 2],
    `(1,2)` -> (1, 2), nested brackets allowed; anything else stays a string."""
    text = text.strip().strip("'\"").strip()
    if text.count("(") != text.count(")") or text.count("[") != text.count("]"):
        raise StgcnError(f"--cfg-options: unbalanced brackets in {text!r}; close every ( and [")
    is_tuple = text.startswith("(") and text.endswith(")")
    is_list = text.startswith("[") and text.endswith("]")
    if is_tuple or is_list:
        inner = text[1:-1]
        items = [parse_option_value(p) for p in _split_top(inner)] if inner.strip() else []
        return tuple(items) if is_tuple else items
    parts = _split_top(text)
    if len(parts) > 1:
        return [parse_option_value(p) for p in parts]
    return _parse_scalar(text)


def parse_cfg_options(items: list[str] | None) -> dict[str, Any]:
    """`['a.b=1', 'c=x,y']` -> `{'a.b': 1, 'c': ['x', 'y']}`."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StgcnError(f"--cfg-options: {item!r} is not KEY=VALUE; write e.g. total_epochs=10")
        out[key.strip()] = parse_option_value(value)
    return out


def merge_cfg_options(cfg: dict, options: dict[str, Any], source: str = "config") -> dict:
    """Apply dotted overrides (`a.b.0.c=value`); numeric parts index lists, missing dict keys are created."""
    out = copy.deepcopy(cfg)
    for dotted, value in options.items():
        parts = dotted.split(".")
        if parts[0] not in out and parts[0] not in KNOWN_KEYS:
            hint = difflib.get_close_matches(parts[0], sorted(set(out) | KNOWN_KEYS), n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else "check the spelling"
            raise StgcnError(f"--cfg-options {dotted}: unknown top-level key '{parts[0]}' in {source}; {fix}")
        node: Any = out
        for depth, part in enumerate(parts[:-1]):
            node = _child(node, part, ".".join(parts[: depth + 1]), create=True)
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, dotted)] = value
        elif isinstance(node, tuple):
            raise StgcnError(f"--cfg-options {dotted}: cannot assign into a tuple; set the whole value")
        else:
            if isinstance(value, dict) and isinstance(node.get(last), dict):
                value = merge_dicts(node[last], value, f"--cfg-options {dotted}")
            node[last] = value
    return out


def _index(node: list, part: str, dotted: str) -> int:
    if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
        raise StgcnError(f"--cfg-options {dotted}: '{part}' is not a valid index of a list of "
                         f"length {len(node)}")
    return int(part)


def _child(node: Any, part: str, so_far: str, create: bool) -> Any:
    if isinstance(node, (list, tuple)):
        return node[_index(list(node), part, so_far)]
    if not isinstance(node, dict):
        raise StgcnError(f"--cfg-options {so_far}: the parent is a {type(node).__name__}, not a dict")
    if create and node.get(part) is None:  # `grad_clip=None` then `grad_clip.max_norm=35`
        node[part] = {}
    return node[part]


# writing configs back out ---------------------------------------------------------------------------------

def _format(value: Any, indent: int) -> str:
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "dict()"
        if all(isinstance(k, str) and k.isidentifier() and k not in _PY_KEYWORDS for k in value):
            items = [f"{inner}{k}={_format(v, indent + 4)}" for k, v in value.items()]
        else:
            items = [f"{inner}{k!r}: {_format(v, indent + 4)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        one_line = "dict(" + ", ".join(i.strip() for i in items) + ")"
        if len(one_line) + indent <= 100:
            return one_line
        return "dict(\n" + ",\n".join(items) + f"\n{pad})"
    if isinstance(value, (list, tuple)):
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        parts = [_format(v, indent + 4) for v in value]
        tail = "," if isinstance(value, tuple) and len(value) == 1 else ""
        one_line = open_ + ", ".join(parts) + tail + close
        if len(one_line) + indent <= 100 and "\n" not in one_line:
            return one_line
        if not any(isinstance(v, (dict, list, tuple)) for v in value):
            lines = [""]  # scalars: pack several per line
            for p in parts:
                if lines[-1] and len(inner) + len(lines[-1]) + len(p) + 2 > 100:
                    lines.append("")
                lines[-1] += p + ", "
            return open_ + "\n" + "\n".join(inner + ln.rstrip() for ln in lines) + f"\n{pad}{close}"
        return open_ + "\n" + ",\n".join(inner + p for p in parts) + f",\n{pad}{close}"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return f"float('{value}')"
    return repr(value)


_PY_KEYWORDS = frozenset({"False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
                          "continue", "def", "del", "elif", "else", "except", "finally", "for", "from",
                          "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass",
                          "raise", "return", "try", "while", "with", "yield"})


def config_to_text(cfg: dict) -> str:
    """The resolved config as Python source, one `name = value` per top-level key (loadable again)."""
    lines = [f"{key} = {_format(value, 0)}" for key, value in cfg.items()]
    helpers = [key for key in cfg if key not in KNOWN_KEYS]
    if helpers:  # their uses were resolved to values: declare them for the unknown-key check
        lines.insert(0, f"_helpers_ = {helpers!r}")
    text = "\n".join(lines) + "\n"
    ast.parse(text)  # a formatting bug must never write an unloadable file
    return text


def dump_config(cfg: dict, path: str | os.PathLike) -> Path:
    """Write the resolved config as a loadable Python file, atomically."""
    return write_atomic(path, config_to_text(cfg).encode("utf-8"))
