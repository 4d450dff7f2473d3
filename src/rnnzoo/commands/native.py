"""Build or inspect the optional compiled kernels of the sequence engines (rnnzoo.engine.native).

`pip install rnnzoo` compiles nothing; `rnnzoo native build` compiles the engines' C++ loops on this
machine (a C++ compiler and ninja: `pip install "rnnzoo[native]"` brings ninja), about 40 s, cached
for every later process. Without them the engines run in Python, the same results more slowly.

Examples:
    rnnzoo native build     compile (or find the cached build) and say where it is
    rnnzoo native status    whether the engines use the compiled kernels now, and why not
"""

from __future__ import annotations

import time

from ..cli import CommandError

NAME = "native"
HELP = "build the optional compiled kernels of the sequence engines, or show their status"


def configure(parser):
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", parser_class=type(parser))
    build = sub.add_parser("build", help="compile the kernels (about 40 s) or find the cached build")
    build.set_defaults(run=run_build)
    status = sub.add_parser("status", help="whether the engines use the compiled kernels, and why not")
    status.set_defaults(run=run_status)


def run_build(args):
    from ..engine import native
    start = time.perf_counter()
    try:
        module = native.build()
    except RuntimeError as e:
        raise CommandError(str(e).splitlines()[0]) from e
    print(f"compiled kernels ready in {time.perf_counter() - start:.1f} s: {module.__file__}")


def run_status(args):
    from ..engine import native
    reason = native.unavailable_reason()
    print(f"cache: {native.cache_dir()}")
    print("in use: yes" if reason is None else f"in use: no ({reason})")
