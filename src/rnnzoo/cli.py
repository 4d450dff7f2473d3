"""The `rnnzoo` command line (also `python -m rnnzoo`): `rnnzoo models`, `rnnzoo example addition`, ...

Each subcommand is one module in `rnnzoo/commands/`, found by listing that package, so a new
subcommand is a new file there and no edit here. A command module defines:

    NAME = "train"                        # the subcommand's name
    HELP = "train a model on a data set"  # one line for `rnnzoo --help`
    def configure(parser): ...            # add its arguments to its own argparse parser
    def run(args): ...                    # do the work; return the exit status (None means 0)

A module whose `configure` adds subcommands of its own (`rnnzoo example addition`) may leave out
`run`: then `rnnzoo NAME` alone prints its help.

`run` reports a bad request by raising `CommandError` (or ValueError) with a one-line message; main
prints it as "rnnzoo: error: <message>" and exits 1. Bad arguments exit 2 with one such line (no
usage block), so write argument checks as argparse `type=` functions, e.g. `int_range(1, 64)`.
Any other exception is a bug: one line says so and how to see it, `rnnzoo --debug COMMAND ...`,
which prints the traceback (of a user's error too) and re-raises a bug's exception.

Example:
    >>> from rnnzoo.cli import main
    >>> main(["models", "--names"])  # doctest: +ELLIPSIS
    elman
    ...
    0
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shlex
import sys
import traceback

from .checks import int_range  # noqa: F401  (the commands' argparse type; lives on the ground floor)

PROG = "rnnzoo"


class CommandError(Exception):
    """A request the command cannot do; main prints 'rnnzoo: error: <message>' and exits 1."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr, 'rnnzoo: error: ...', exit status 2."""

    def error(self, message):
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def command_modules() -> list:
    """The modules of `rnnzoo.commands` (those not starting with "_"), sorted by their NAME."""
    from . import commands
    modules = [importlib.import_module(f"{commands.__name__}.{info.name}")
               for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_")]
    return sorted(modules, key=lambda m: m.NAME)


def show_help(parser):
    """A `run` for a parser whose subcommand was left out: print its help."""
    return lambda args: parser.print_help()


def build_parser() -> Parser:
    from . import __version__
    parser = Parser(prog=PROG, description="rnnzoo: the whole family of recurrent neural networks "
                    "behind one PyTorch API.", epilog=f"'{PROG} COMMAND --help' describes a command.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (for a bug report)")
    parser.set_defaults(run=show_help(parser))
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in command_modules():
        doc = (module.__doc__ or module.HELP).strip()
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=doc,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        cmd.set_defaults(run=getattr(module, "run", None) or show_help(cmd))
        module.configure(cmd)
    return parser


def main(argv=None) -> int:
    """Run the command line on `argv` (default sys.argv[1:]); returns the exit status.

    Usage errors raise SystemExit(2) after one 'rnnzoo: error: ...' line on stderr (argparse's way).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # what was typed: a command may need to tell given options from defaults
    try:
        return args.run(args) or 0
    except (CommandError, ValueError, OSError) as e:  # OSError: a missing or unreadable file
        if args.debug:
            traceback.print_exc()
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # not a user's mistake: rnnzoo's own
        if args.debug:
            raise
        message = str(e).splitlines()[0] if str(e) else ""
        print(f"{PROG}: internal error (a bug in rnnzoo): {type(e).__name__}{': ' if message else ''}{message}; "
              f"run it again with --debug to see the traceback ({shlex.join([PROG, '--debug', *argv])}), "
              "and report it", file=sys.stderr)
        return 1
