"""Send the terminal only the cells that changed (slow SSH links, thin terminals).

Textual redraws the whole screen whenever a layout changes (switching screens, a table filled by a
worker, a scrollbar appearing) and a whole widget line for a typed character. Most of that repeats what
the terminal already shows. `ScreenMemory` keeps a copy of the terminal's cells (character and style),
compares every update Textual produces with it, and writes only the changed stretch of each line —
what curses does.

What the memory claims, and when it forgets:
- a cell is known only once this memory has written it (or checked that it already showed the same
  character and style); unknown cells are always written;
- a different terminal size, a redraw request (Ctrl+L) or anything that may have cleared the terminal
  makes it forget every cell;
- an update it cannot read (a control sequence inside a line) is passed on unchanged and the lines it
  touches are forgotten;
- a control or bidi character inside a text (a stored value that reached a widget without
  `cpf_tui.text.display`) is never written, so the terminal cannot obey it (title, clear screen,
  reordering); Textual measures most of them as zero width, so dropping them keeps every cell in place.
So a cell is skipped only when the terminal is known to show exactly that character in that style.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.control import Control
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.strip import Strip

from cpf_tui.text import UNSAFE

Cell = tuple[str, "Style | None"]
WIDE_TAIL = ""
"""The second column of a double-width character: drawn by the character itself."""


class Unreadable(Exception):
    """A strip holds a control sequence: its effect on the cells is unknown."""


class ChangedCells(CompositorUpdate):
    """An update reduced to the stretches that changed, rendered once, ready for the terminal."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: Any) -> Iterable[Any]:  # pragma: no cover - unused
        yield Control(self.text)

    def render_segments(self, console: Console) -> str:
        return self.text


def cells_of(strips: Iterable[Strip]) -> list[Cell]:
    """The cells a row of strips draws, left to right (a wide character then its tail)."""
    cells: list[Cell] = []
    append = cells.append
    for strip in strips:
        for text, style, control in strip:
            if control:
                raise Unreadable
            if text.isascii() and text.isprintable():
                cells.extend([(char, style) for char in text])
                continue
            for char in text:
                width = cell_len(char)
                if UNSAFE.match(char):
                    # Never sent: the terminal would obey it. Most are zero width for Textual (dropped);
                    # the few measured one cell wide (soft hyphen) are shown as U+FFFD in their cell.
                    if width == 1:
                        append(("\ufffd", style))
                    continue
                if width == 1:
                    append((char, style))
                elif width == 2:
                    append((char, style))
                    append((WIDE_TAIL, style))
                elif cells:  # zero width: a combining mark belongs to the previous character
                    previous, previous_style = cells[-1]
                    cells[-1] = (previous + char, previous_style)
    return cells


def render_cells(cells: list[Cell], console: Console) -> str:
    """Characters and styles of a stretch of cells as the terminal needs them (styles grouped)."""
    segments: list[Segment] = []
    run: list[str] = []
    run_style: Style | None = None
    for char, style in cells:
        if char == WIDE_TAIL:
            continue
        if run and style != run_style:
            segments.append(Segment("".join(run), run_style))
            run = []
        run_style = style
        run.append(char)
    if run:
        segments.append(Segment("".join(run), run_style))
    return Strip(segments).render(console)


class ScreenMemory:
    """What each cell of the terminal shows, as far as this memory wrote it."""

    def __init__(self) -> None:
        self.width = 0
        self.height = 0
        self.rows: list[list[Cell | None]] = []
        self.cells_written = 0
        self.cells_skipped = 0

    def forget(self) -> None:
        """The terminal may show anything (cleared, garbled): every cell is unknown."""
        self.rows = [[None] * self.width for _ in range(self.height)]

    def watch_size(self, width: int, height: int) -> None:
        """Forget everything when the terminal size changed since the last update."""
        if (width, height) != (self.width, self.height):
            self.width, self.height = width, height
            self.forget()

    def filter(self, update: Any, console: Console) -> Any:
        """The update to send instead of `update` (None when the terminal already shows it all)."""
        if not self.height:
            return update  # size not known yet: nothing can be compared
        try:
            if isinstance(update, LayoutUpdate):
                patches = list(self._layout_patches(update))
            elif isinstance(update, ChopsUpdate):
                patches = list(self._chops_patches(update))
            else:
                return update
        except Unreadable:
            lines = range(update.region.y, update.region.bottom) if isinstance(update, LayoutUpdate) else (
                y for y, _x1, _x2 in update.spans)
            for y in lines:
                if 0 <= y < self.height:
                    self.rows[y] = [None] * self.width
            return update
        parts: list[str] = []
        for y, x, cells in patches:
            self._patch(y, x, cells, parts, console)
        if not parts:
            return None
        return ChangedCells("".join(parts))

    def _layout_patches(self, update: LayoutUpdate) -> Iterable[tuple[int, int, list[Cell]]]:
        for y, line in enumerate(update.strips, update.region.y):
            yield y, update.region.x, cells_of(line)

    def _chops_patches(self, update: ChopsUpdate) -> Iterable[tuple[int, int, list[Cell]]]:
        for y, x1, x2 in update.spans:
            for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items()):
                if strip is None or x >= x2 or end <= x1:
                    continue
                cells = cells_of([strip])
                start = max(x, x1)
                yield y, start, cells[start - x: min(end, x2) - x]

    def _patch(self, y: int, x: int, cells: list[Cell], parts: list[str], console: Console) -> None:
        """Compare `cells` drawn from column `x` of line `y` with the memory; write the changed stretch."""
        if not 0 <= y < self.height or x >= self.width:
            return
        if x < 0:
            cells, x = cells[-x:], 0
        cells = cells[: self.width - x]
        if not cells:
            return
        row = self.rows[y]
        old = row[x: x + len(cells)]
        if old == cells:
            self.cells_skipped += len(cells)
            return
        first = next(i for i, (a, b) in enumerate(zip(old, cells)) if a != b)
        last = next(i for i in range(len(cells) - 1, -1, -1) if old[i] != cells[i])
        # A double-width character is written whole, new or old: start on its first column and end
        # after its tail (writing over half of one blanks the other half on the terminal).
        if (first > 0 and _is_tail(cells[first])) or _is_tail(old[first]):
            first = max(first - 1, 0)
        if last + 1 < len(cells) and (_is_tail(cells[last + 1]) or _is_tail(old[last + 1])):
            last += 1
        stretch = cells[first: last + 1]
        if _is_tail(stretch[0]):
            stretch = [(" ", stretch[0][1]), *stretch[1:]]  # a tail cut from its character: a blank
        parts.append(Control.move_to(x + first, y).segment.text)
        parts.append(render_cells(stretch, console))
        end = x + last + 1
        row[x + first: end] = stretch
        if first == 0 and x > 0 and _is_tail(old[0]):
            row[x - 1] = None  # the old wide character left of the patch lost its tail: blanked
        if end < self.width and (cell_len(stretch[-1][0]) == 2 or _is_tail(row[end])):
            # A wide character drawn in the last column of the patch covers the next cell; a narrow
            # one written over the first half of an old wide character blanks its tail.
            row[end] = None
        self.cells_written += len(stretch)
        self.cells_skipped += len(cells) - len(stretch)


def _is_tail(cell: Cell | None) -> bool:
    return cell is not None and cell[0] == WIDE_TAIL
