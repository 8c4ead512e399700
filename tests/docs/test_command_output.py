"""Output the docs show for a command is what the command prints."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from tests.docs.snippets import ROOT

pytestmark = pytest.mark.once  # one environment per run, not every Django/Python pair


def literal_block_after(page: str, marker: str) -> list[str]:
    """The lines of the ``::`` literal block whose first line contains ``marker``."""
    lines = (ROOT / page).read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if marker in line and line.startswith("    "))
    block = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        block.append(line.strip())
    return [line for line in block if line]


@pytest.mark.django_db(databases="__all__")
def test_commands_rst_shows_what_migrate_all_prints() -> None:
    shown = literal_block_after("docs/commands.rst", "Skipping reviews_replica1")
    out = StringIO()
    call_command("migrate_all", "--no-input", stdout=out)
    printed = out.getvalue().splitlines()

    assert shown[-1] == "..."
    for line in shown[:-1]:
        assert line in printed
    assert printed.index(shown[-3]) + 1 == printed.index(shown[-2])  # "Migrating default:"
