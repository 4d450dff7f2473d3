"""The README stays true: every architecture has a row, and CI runs the README's test command."""

from pathlib import Path

import rnnzoo

ROOT = Path(__file__).resolve().parents[1]


def test_every_registered_architecture_has_a_readme_row():
    readme = (ROOT / "README.md").read_text()
    for entry in rnnzoo.registry.entries():
        assert f"| `{entry.name}` | `rnnzoo.{entry.layer.__name__}` |" in readme, entry.name


def test_the_readme_architecture_table_is_the_registrys():
    """The whole table, as `rnnzoo models --markdown` prints it from the registry: a new entry, option,
    engine or paper that is not in the README fails here."""
    from rnnzoo.commands.models import markdown_table
    readme = (ROOT / "README.md").read_text()
    table = markdown_table()
    start = readme.index(table.splitlines()[0])
    assert readme[start:start + len(table) + 2] == table + "\n\n"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    test_command = readme[readme.index("# 2. set up and run the tests") + 1]
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
