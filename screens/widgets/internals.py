"""The private Textual APIs cpf-tui relies on, in one place (Textual is pinned in pyproject.toml).

Each function names what it relies on; `tests/test_textual_internals.py` fails when a Textual release
changes one of them. docs/development.md lists the others still used by the App (screen memory,
prepared home).
"""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable


def size_table_now(table: DataTable[Any]) -> None:
    """Measure a DataTable's new rows and columns now, as its own idle handler would do later.

    Relies on `DataTable._require_update_dimensions`, `_new_rows` and `_update_dimensions` (the body
    of `DataTable._on_idle` in Textual 8.2).
    """
    if not table._require_update_dimensions:
        return
    table._require_update_dimensions = False
    new_rows = table._new_rows.copy()
    table._new_rows.clear()
    table._update_dimensions(new_rows)
