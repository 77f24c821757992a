"""The data table of every list screen: rows replaced in one step, columns fitted to the screen's width."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import DataTable

from cpf_tui import textual_internals as internals

Cell = Text | str
"""A cell: `rich.text.Text` for outside data (never markup), or a plain string."""

FLOOR = 8
"""Narrowest a column of varying text is shortened to (its header stays whole if longer)."""
FIXED_MAX = 16
"""Widest column of same-width cells kept whole (a date and time); a wider one is text, shortened."""
BLANKS = frozenset({"", "—", "-", "″", '"'})
"""Cells that say « nothing » and do not count when deciding whether a column has one fixed width."""


def _ellipsis(cell: Any) -> Any:
    """A cell drawn shortened with « … » when its column is narrower than its text (never cut bare)."""
    if isinstance(cell, Text):
        cell = cell.copy()
        cell.overflow = "ellipsis"
        cell.no_wrap = True
        return cell
    if isinstance(cell, str):
        return Text(cell, overflow="ellipsis", no_wrap=True, end="")
    return cell


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def fitted_widths(labels: Sequence[str], cells: Sequence[Sequence[str]], room: int) -> list[int]:
    """Content widths of the columns so that they fit in `room` cells (padding excluded) if they can.

    A column whose cells all have the same width, at most FIXED_MAX (dates, SIRET, NIR, file numbers),
    is never shortened;
    the others are shortened, widest first, down to FLOOR (or their header's width): their cells then
    end with « … ». Headers always stay whole. When even that does not fit, the narrowest widths are
    returned (the table scrolls sideways).
    """
    natural, floors = [], []
    for index, label in enumerate(labels):
        widths = [cell_len(row[index]) for row in cells]
        head = cell_len(label)
        want = max([head, *widths])
        meaningful = {cell_len(row[index]) for row in cells if row[index].strip() not in BLANKS}
        fixed = len(meaningful) <= 1 and want <= FIXED_MAX
        natural.append(want)
        floors.append(want if fixed else max(head, min(want, FLOOR)))
    widths = list(natural)
    excess = sum(widths) - room
    while excess > 0:
        candidates = [i for i, width in enumerate(widths) if width > floors[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths


LOADING_DELAY_SECONDS = 0.3
"""A table shows its loading indicator only when its rows take longer than this to come."""


class CpfTable(DataTable[Cell]):
    """A DataTable whose columns fit the width it is given, and whose `replace_rows` leaves it ready.

    Textual's DataTable measures its columns at its next idle moment, after the frame that shows the
    new rows: on a busy machine that frame (columns at header width, « En cou » for « En cours
    d'élaboration ») stays on screen until the table is idle again. Here the widths are measured when
    the rows are set, so the first frame that shows them is the right one.

    At 80 columns a table wider than the screen hid its last columns and cut the one at the edge in the
    middle of a word (« Structure uniq », « Résulta »). The columns are fitted to the table's width
    (`fitted_widths`) each time the rows or the size change: every header is whole and on screen, a
    cell too long for its column ends with « … ».
    """

    def __init__(self, *, id: str, cursor_type: str = "row", zebra_stripes: bool = True) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type=cursor_type, zebra_stripes=zebra_stripes)  # type: ignore[arg-type]

    @contextmanager
    def loading_while(self) -> Iterator[None]:
        """The loading indicator over the table while the block runs, if it lasts LOADING_DELAY_SECONDS.

        A search answered in 50 ms showed the indicator and took it away again: a widget mounted,
        styled, animated and removed, and two more frames, for nothing a person could see.
        """
        timer = self.set_timer(LOADING_DELAY_SECONDS, lambda: setattr(self, "loading", True))
        try:
            yield
        finally:
            timer.stop()
            self.loading = False

    def add_row(self, *cells: Any, height: int | None = 1, key: str | None = None,
                label: Any = None) -> Any:
        return super().add_row(*(_ellipsis(cell) for cell in cells), height=height, key=key, label=label)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        super().update_cell(row_key, column_key, _ellipsis(value), update_width=update_width)
        self.fit_columns()

    def replace_rows(self, rows: Iterable[tuple[Sequence[Cell], str]], *, height: int | None = 1) -> None:
        """Clear the table, add `rows` (cells, key) and size the columns now."""
        self.clear()
        for cells, key in rows:
            self.add_row(*cells, key=key, height=height)
        internals.size_table_now(self)
        self.fit_columns()

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        """The columns fitted to a new width within the layout that gives it (see `fit_columns`).

        Fitted afterwards (on `Resize`), the table's new virtual width asked the screen for one more
        layout each time it got a size, and before that first fit its natural width (wider than 80
        columns for a file's history) showed both scroll bars for one layout, hidden at the next: opening
        a file laid its screen out three times instead of two (Textual's own second). Relies on `ScrollView._size_updated`
        (called by the screen's layout for a widget whose size changed) and `Widget.virtual_size` set
        with `set_reactive` (textual/scroll_view.py, textual/widget.py, Textual 8.2).
        """
        if size.width != self._size.width:
            fitted = self._fit(size.width - self.styles.gutter.width)
            if fitted is not None:
                self.set_reactive(Widget.virtual_size, fitted)  # within a layout: none asked for
        return super()._size_updated(size, virtual_size, container_size, layout)

    def fit_columns(self) -> None:
        """Give the columns widths that fit the table's width (see `fitted_widths`)."""
        fitted = self._fit(self.content_region.width)
        if fitted is not None:
            self.virtual_size = fitted
            self.refresh()

    def _fit(self, width: int) -> Size | None:
        """Fit the columns to a content `width`; the table's virtual size then (None: no columns yet).

        A table not laid out yet (rows set in a screen's compose or mount) claims no width until its
        first fit: its natural width would show scroll bars for nothing at the screen's first layout.
        """
        columns = self.ordered_columns
        if not columns:
            return None
        height = self._total_row_height + (self.header_height if self.show_header else 0)
        # The vertical scrollbar's room is kept even before it shows (a page of rows more would hide the
        # last column's end).
        room = width - self.styles.scrollbar_size_vertical
        if room <= 0:
            return Size(0, height)
        room -= 2 * self.cell_padding * len(columns) + self._row_label_column_width
        labels = [column.label.plain for column in columns]
        cells = [[_plain(value) for value in self.get_row_at(index)] for index in range(self.row_count)]
        for column, fitted in zip(columns, fitted_widths(labels, cells, room), strict=True):
            column.auto_width = False
            column.width = fitted
        self._clear_caches()
        return Size(sum(column.get_render_width(self) for column in columns) + self._row_label_column_width, height)
