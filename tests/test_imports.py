"""The import structure of src/rnnzoo, read with ast: no module imports itself back through others
(every import counts, those inside functions too, except under `if TYPE_CHECKING:`), and library code
never imports the command line."""

import ast
from pathlib import Path

import pytest

import rnnzoo

ROOT = Path(rnnzoo.__file__).parent
CLI_MODULES = ("rnnzoo.cli", "rnnzoo.commands", "rnnzoo.__main__")  # the command line and what only it uses


def module_files(root=ROOT) -> dict:
    """{dotted name: (path, is a package __init__)} for every .py file under root."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if package else parts)] = (path, package)
    return modules


def _type_checking_nodes(tree) -> set:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def import_graph(modules: dict) -> dict:
    """{module: set of rnnzoo modules it imports}. `from pkg import name` counts as importing the
    submodule pkg.name when there is one, else pkg itself."""
    graph = {}
    for name, (path, package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip, edges = _type_checking_nodes(tree), set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)] + ([node.module] if node.module else [])
                    base = ".".join(base)
                else:
                    base = node.module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # rnnzoo.x.y where y is a name in module x
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _is_cli(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in CLI_MODULES)


def test_no_import_cycle_in_the_package():
    found = cycles(import_graph(module_files()))
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_library_code_never_imports_the_command_line():
    graph = import_graph(module_files())
    offenders = sorted(f"{m} imports {t}" for m, targets in graph.items() if not _is_cli(m)
                       for t in targets if _is_cli(t))
    assert not offenders, offenders


def test_the_checker_finds_a_cycle_and_a_cli_import(tmp_path):
    """The two tests above can fail: a package where a imports b, b imports a lazily in a function
    and c imports the CLI."""
    pkg = tmp_path / "rnnzoo"
    (pkg / "commands").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("")
    (pkg / "commands" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import thing\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
                              "from .cli import main\n")
    graph = import_graph(module_files(pkg))
    assert cycles(graph) == [["rnnzoo.a", "rnnzoo.b"]]
    assert graph["rnnzoo.c"] == {"rnnzoo.cli"}  # the TYPE_CHECKING import does not count


@pytest.mark.parametrize("ground", ["rnnzoo.checks", "rnnzoo.registry", "rnnzoo.engine.interface"])
def test_ground_floor_modules_import_nothing_of_rnnzoo(ground):
    """checks (shared argument checks), the registry and the engine interface are read by everything."""
    assert import_graph(module_files())[ground] == set()
