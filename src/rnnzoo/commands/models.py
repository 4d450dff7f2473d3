"""List the registered architectures: name, description, paper, step equation, options and defaults.

Every name works as `rnnzoo.Recurrent(name, input_size, hidden_size, **options)`.

Examples:
    rnnzoo models            all of them
    rnnzoo models lstm       one of them
    rnnzoo models --names    just the names, one a line
"""

from __future__ import annotations

import rnnzoo

from .. import registry
from ..cli import CommandError

NAME = "models"
HELP = "list the registered architectures and their options"


def configure(parser):
    parser.add_argument("name", nargs="?", help="show only this architecture")
    parser.add_argument("--names", action="store_true", help="print only the names, one a line")


def layer_name(layer) -> str:
    if getattr(rnnzoo, layer.__name__, None) is layer:
        return f"rnnzoo.{layer.__name__}"
    return f"{layer.__module__}.{layer.__qualname__}"


def describe(entry) -> list[str]:
    options = ", ".join(f"{k}={v!r}" for k, v in entry.options().items()) or "(none)"
    lines = [f"{entry.name}  {entry.description}",
             f"    paper:    {entry.paper}",
             f"    step:     {entry.equation}",
             f"    options:  {options}"]
    if entry.layer is not None:
        lines.append(f"    layer:    {layer_name(entry.layer)}")
    return lines


def run(args):
    entries = registry.entries()
    if args.name is not None:
        entries = [e for e in entries if e.name == args.name]
        if not entries:
            known = ", ".join(sorted(e.name for e in registry.entries()))
            raise CommandError(f"unknown architecture {args.name!r}; known: {known}")
    if args.names:
        print("\n".join(e.name for e in entries))
        return 0
    if args.name is None:
        print(f"{len(entries)} architectures; use a name as "
              "rnnzoo.Recurrent(name, input_size, hidden_size, **options)\n")
    print("\n\n".join("\n".join(describe(e)) for e in entries))
    return 0
