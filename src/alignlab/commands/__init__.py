"""CLI subcommands, one module per command group; each defines `register(subparsers)`."""
