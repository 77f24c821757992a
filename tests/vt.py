"""The terminal the harnesses read the app's raw output with (pty, SSH): `pyte`, the well-kept emulator.

The app writes only the cells that change (`cpf_tui/screen_memory.py`), so a text on screen is not
always written in one piece: a word may keep its first letters from the previous screen. Harnesses
therefore look for text on an emulated screen, not in the byte stream.
"""

from __future__ import annotations

import re

import pyte

_FINAL_MOVE = re.compile(rb"\x1b\[[0-9;]*H\Z")
_MOVE_TAIL = 16
"""Bytes kept from the end of the last read, to see a cursor move split between two reads."""


class VirtualScreen:
    """Characters of a `width` × `height` terminal and its cursor, fed with raw output."""

    def __init__(self, width: int = 80, height: int = 24) -> None:
        self._screen = pyte.Screen(width, height)
        self._stream = pyte.ByteStream(self._screen)
        self._tail = b""
        self.at_rest = False
        """True when the last thing written was a cursor move (Textual ends each update that way)."""

    @property
    def width(self) -> int:
        return self._screen.columns

    @property
    def height(self) -> int:
        return self._screen.lines

    # -- queries ---------------------------------------------------------------------------
    def lines(self) -> list[str]:
        return list(self._screen.display)

    def text(self) -> str:
        return "\n".join(self.lines())

    def row_of(self, needle: str) -> int:
        """First row showing `needle` (-1 when absent)."""
        return next((y for y, line in enumerate(self.lines()) if needle in line), -1)

    @property
    def x(self) -> int:
        return self._screen.cursor.x

    @property
    def y(self) -> int:
        return self._screen.cursor.y

    @property
    def cursor(self) -> tuple[int, int]:
        return self.x, self.y

    # -- changes ---------------------------------------------------------------------------
    def resize(self, width: int, height: int) -> None:
        self._screen.resize(height, width)

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._stream.feed(data)
        self._tail = (self._tail + data)[-_MOVE_TAIL:]
        self.at_rest = bool(_FINAL_MOVE.search(self._tail))


def cursor_in_field_below(screen: VirtualScreen, label_row: int, within: int = 2) -> bool:
    """Whether Textual left the cursor in the field drawn under the label on `label_row`."""
    return screen.at_rest and label_row >= 0 and label_row < screen.y <= label_row + within
