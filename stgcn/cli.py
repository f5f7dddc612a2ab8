"""The ``stgcn`` console script: one subcommand per module in :mod:`stgcn.commands`.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int``. :func:`guarded` is the
one place where a run's failures become exit codes, for the console script and for ``tools/*.py``
(:func:`run_command`) alike: a :class:`~stgcn.errors.StgcnError` (a problem the user can fix) is one
line, exit 2; Ctrl-C is one line, exit 130.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Callable

from stgcn.errors import StgcnError

COMMANDS = {
    "train": ("stgcn.commands.train", "train a model from a config (tools/train.py flags)"),
    "test": ("stgcn.commands.test", "evaluate a checkpoint, dump per-sample scores (tools/test.py flags)"),
    "convert": ("stgcn.commands.convert", "convert NTU raw / NW-UCLA / Penn Action / numpy data"),
    "validate": ("stgcn.commands.validate", "check an annotation file and summarise it"),
    "pack": ("stgcn.commands.pack", "pack an annotation file into memory-mapped storage"),
    "ensemble": ("stgcn.commands.ensemble", "fuse the scores of several streams (joint, bone, ...)"),
    "bench": ("stgcn.commands.bench", "time inference of a config on this machine"),
    "export": ("stgcn.commands.export", "export a checkpoint to ONNX (fp32 or int8) or TorchScript"),
    "vis": ("stgcn.commands.vis", "picture a sample's skeleton (png grid, gif, mp4), label, prediction"),
    "plot-curve": ("stgcn.commands.plot_curve", "plot training curves (loss, accuracy) from .log.json files"),
    "init-config": ("stgcn.commands.init_config", "write a commented training config sized to your data"),
    "predict": ("stgcn.commands.predict", "predict action classes with a checkpoint (path, URL or zoo name)"),
    "zoo": ("stgcn.commands.zoo", "list the released checkpoints loadable by name"),
    "extract-pose": ("stgcn.commands.extract_pose", "videos -> 2D poses -> annotation file (needs [video])"),
    "demo": ("stgcn.commands.demo", "video with skeletons and predicted actions drawn (needs [video])"),
}


def guarded(prog: str, run: Callable[[], int | None]) -> int:
    """Run ``run()``; user errors, Ctrl-C and inputs nested too deeply end as one stderr line."""
    try:
        return int(run() or 0)
    except StgcnError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except RecursionError:
        print(f"{prog}: error: an input file is nested too deeply to be a config, checkpoint or "
              "annotation file; check the files given", file=sys.stderr)
        return 2


def _formatter() -> type[argparse.HelpFormatter]:
    return argparse.RawDescriptionHelpFormatter


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    from stgcn import __version__

    parser = argparse.ArgumentParser(
        prog="stgcn", description="Skeleton-based action recognition with ST-GCN.")
    parser.add_argument("--version", action="version", version=f"stgcn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    parser.command_parsers = {}
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        doc = (module.__doc__ or help_text).strip()
        parser.command_parsers[name] = sub.add_parser(name, help=help_text, description=doc,
                                                      formatter_class=_formatter())
        module.add_arguments(parser.command_parsers[name])
    return parser, modules


def _all_options(parser: argparse.ArgumentParser) -> list[str]:
    """The option strings of ``parser`` and of every parser nested under it (``stgcn convert kinetics``)."""
    options = []
    for action in parser._actions:
        options += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options += _all_options(sub)
    return options


def _refuse_unknown(target: argparse.ArgumentParser, extra: list[str]) -> None:
    options = _all_options(target)
    flags = [e.split("=")[0] for e in extra if e.startswith("-")]
    close = difflib.get_close_matches(flags[0], options, n=1, cutoff=0.8) if flags else []
    hint = f" (did you mean {close[0]}?)" if close else ""
    target.error(f"unrecognized arguments: {' '.join(extra)}{hint}")


def _misspelt_flags(target: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--long`` flags of ``argv`` that no option of ``target`` (or of a parser nested in it) has, nor
    starts with (argparse accepts unambiguous prefixes)."""
    options = _all_options(target)
    return [tok for tok in argv if tok.startswith("--") and tok != "--"
            and not any(o.startswith(tok.split("=")[0]) for o in options)]


def parse_with_hints(parser: argparse.ArgumentParser, argv: list[str] | None,
                     command_parser=None) -> argparse.Namespace:
    """``parser.parse_args`` whose unknown-option error comes from the command's own parser (its usage,
    not the top level's) with the closest option it has; a misspelt flag is named before argparse
    would complain about a required option it made look missing."""
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = getattr(parser, "command_parsers", {})
    name = next((tok for tok in argv if not tok.startswith("-")), None) if commands else None
    early = commands.get(name) if commands else parser
    if early is not None and "-h" not in argv and "--help" not in argv:
        unknown = _misspelt_flags(early, argv[argv.index(name) + 1:] if commands else argv)
        if unknown:
            _refuse_unknown(early, unknown)
    args, extra = parser.parse_known_args(argv)
    if extra:
        _refuse_unknown(command_parser(args) if command_parser else parser, extra)
    return args


def main(argv: list[str] | None = None) -> int:
    """The ``stgcn COMMAND ...`` console script."""
    def start() -> int:
        parser, modules = build_parser()
        args = parse_with_hints(parser, argv, lambda a: parser.command_parsers.get(a.command, parser))
        if args.command is None:
            parser.print_help()
            return 2
        return guarded(f"stgcn {args.command}", lambda: modules[args.command].run(args))

    return guarded("stgcn", start)


def run_command(name: str, argv: list[str] | None = None, prog: str | None = None) -> int:
    """One command with its own parser, as ``tools/train.py`` and ``tools/test.py`` run it."""
    prog = prog or f"stgcn {name}"

    def start() -> int:
        module = importlib.import_module(COMMANDS[name][0])
        parser = argparse.ArgumentParser(prog=prog, description=(module.__doc__ or "").strip(),
                                         formatter_class=_formatter())
        module.add_arguments(parser)
        args = parse_with_hints(parser, argv)
        return module.run(args)

    return guarded(prog, start)


if __name__ == "__main__":
    sys.exit(main())
