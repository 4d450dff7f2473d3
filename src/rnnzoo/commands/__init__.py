"""The `rnnzoo` subcommands, one module each; `rnnzoo.cli` finds them here (protocol in its docstring)."""
