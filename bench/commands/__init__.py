"""One module per CLI subcommand; each provides ``add_parser(subparsers)``."""
