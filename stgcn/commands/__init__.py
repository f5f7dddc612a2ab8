"""One module per `stgcn` subcommand, each with `add_arguments(parser)` and `run(args) -> int`."""
