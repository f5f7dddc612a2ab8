"""One module per `stgcn` subcommand, each with `add_arguments(parser)` and `run(args) -> int`.

Errors and Ctrl-C are handled in one place, :func:`stgcn.cli.guarded`; `tools/*.py` go through
:func:`stgcn.cli.run_command`.
"""
