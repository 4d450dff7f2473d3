"""List the registered architectures: name, description, paper, step equation, options and defaults.

Every name works as `rnnzoo.Recurrent(name, input_size, hidden_size, **options)`.

Examples:
    rnnzoo models            all of them
    rnnzoo models lstm       one of them
    rnnzoo models --names    just the names, one a line
    rnnzoo models --markdown the README's architecture table (tests/test_readme.py checks it is current)
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
    parser.add_argument("--markdown", action="store_true", help="print the README's architecture table")


def layer_name(layer) -> str:
    if getattr(rnnzoo, layer.__name__, None) is layer:
        return f"rnnzoo.{layer.__name__}"
    return f"{layer.__module__}.{layer.__qualname__}"


def paths(entry) -> str:
    """The fast paths an entry's layers can take besides the per-step loop (rnnzoo.plan)."""
    found = []
    if entry.cell(1, 1).fused_kind is not None:  # with default options
        found.append("torch kernel")
    if entry.engine is not None:
        found.append("engine, compiled" if entry.engine.native else "engine")
    return ", ".join(found) or "loop"


def describe(entry) -> list[str]:
    options = ", ".join(f"{k}={v!r}" for k, v in entry.options().items()) or "(none)"
    lines = [f"{entry.name}  {entry.description}",
             f"    paper:    {entry.paper}",
             f"    step:     {entry.equation}",
             f"    options:  {options}",
             f"    runs on:  {paths(entry)}"]
    if entry.layer is not None:
        lines.append(f"    layer:    {layer_name(entry.layer)}")
    return lines


def markdown_table(entries=None) -> str:
    """The README's architecture table, one row an entry, from the registry alone."""
    rows = ["| name | layer | step equation | options | runs on | paper |", "|---|---|---|---|---|---|"]
    for e in registry.entries() if entries is None else entries:
        options = ", ".join(f"`{k}`" for k in e.options()) or "none"
        layer = f"`{layer_name(e.layer)}`" if e.layer is not None else ""
        rows.append(f"| `{e.name}` | {layer} | {e.equation} | {options} | {paths(e)} | {e.paper} |")
    return "\n".join(rows)


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
    if args.markdown:
        print(markdown_table(entries))
        return 0
    if args.name is None:
        print(f"{len(entries)} architectures; use a name as "
              "rnnzoo.Recurrent(name, input_size, hidden_size, **options)\n")
    print("\n\n".join("\n".join(describe(e)) for e in entries))
    return 0
