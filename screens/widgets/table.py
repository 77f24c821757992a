"""The data table of every list screen: rows replaced in one step, columns sized before the next frame."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable

from cpf_tui import textual_internals as internals

Cell = Text | str
"""A cell: `rich.text.Text` for outside data (never markup), or a plain string."""


class CpfTable(DataTable[Cell]):
    """A DataTable whose `replace_rows` leaves it ready to draw as the user must see it.

    Textual's DataTable measures its columns at its next idle moment, after the frame that shows the
    new rows: on a busy machine that frame (columns at header width, « En cou » for « En cours
    d'élaboration ») stays on screen until the table is idle again. Here the widths are measured when
    the rows are set, so the first frame that shows them is the right one.
    """

    def __init__(self, *, id: str, cursor_type: str = "row", zebra_stripes: bool = True) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type=cursor_type, zebra_stripes=zebra_stripes)  # type: ignore[arg-type]

    def replace_rows(self, rows: Iterable[tuple[Sequence[Cell], str]], *, height: int | None = 1) -> None:
        """Clear the table, add `rows` (cells, key) and size the columns now."""
        self.clear()
        for cells, key in rows:
            self.add_row(*cells, key=key, height=height)
        internals.size_table_now(self)
