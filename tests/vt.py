"""A small terminal emulator for the harnesses that read the app's raw output (pty, SSH).

The app writes only the cells that change (`cpf_tui/screen_memory.py`), so a text on screen is not
always written in one piece: a word may keep its first letters from the previous screen. Harnesses
therefore look for text on an emulated screen, not in the byte stream. Enough of the VT100/xterm
language is understood for what Textual writes: cursor positioning, erasing, text (wide characters
included), newlines and scrolling; colours and modes are skipped.
"""

from __future__ import annotations

import codecs
import re

from rich.cells import cell_len

_CSI = re.compile(rb"\x1b\[([0-9;?<=>]*)[ -/]*([@-~])")


class VirtualScreen:
    """Characters of a `width` × `height` terminal and its cursor, fed with raw output."""

    def __init__(self, width: int = 80, height: int = 24) -> None:
        self.width, self.height = width, height
        self.rows = [[" "] * width for _ in range(height)]
        self.x = self.y = 0
        self.at_rest = False
        """True when the last thing written was a cursor move (Textual ends each update that way)."""
        self._pending = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    # -- queries ---------------------------------------------------------------------------
    def lines(self) -> list[str]:
        return ["".join(row) for row in self.rows]

    def text(self) -> str:
        return "\n".join(self.lines())

    def row_of(self, needle: str) -> int:
        """First row showing `needle` (-1 when absent)."""
        return next((y for y, line in enumerate(self.lines()) if needle in line), -1)

    @property
    def cursor(self) -> tuple[int, int]:
        return self.x, self.y

    # -- changes ---------------------------------------------------------------------------
    def resize(self, width: int, height: int) -> None:
        rows = [[" "] * width for _ in range(height)]
        for y in range(min(height, self.height)):
            rows[y][: min(width, self.width)] = self.rows[y][: min(width, self.width)]
        self.width, self.height, self.rows = width, height, rows
        self.x, self.y = min(self.x, width - 1), min(self.y, height - 1)

    def feed(self, data: bytes) -> None:
        data = self._pending + data
        self._pending = b""
        i, end = 0, len(data)
        while i < end:
            byte = data[i]
            if byte == 0x1B:
                consumed = self._escape(data, i)
                if consumed == 0:  # incomplete sequence: wait for the rest
                    self._pending = data[i:]
                    return
                i += consumed
                continue
            if byte < 0x20 or byte == 0x7F:
                self._control(byte)
                i += 1
                continue
            j = i
            while j < end and data[j] != 0x1B and (data[j] >= 0x20 and data[j] != 0x7F):
                j += 1
            self._text(self._decoder.decode(data[i:j]))
            i = j

    def _escape(self, data: bytes, i: int) -> int:
        """Handle the escape sequence at `i`; returns its length, 0 when it is not complete yet."""
        if i + 1 >= len(data):
            return 0
        kind = data[i + 1]
        if kind == ord("["):
            match = _CSI.match(data, i)
            if match is None:
                return 0 if len(data) - i < 64 else 2
            self._csi(match.group(1).decode("ascii"), match.group(2).decode("ascii"))
            return match.end() - i
        if kind in (ord("]"), ord("P"), ord("_"), ord("^")):  # OSC, DCS, APC, PM: up to BEL or ST
            for j in range(i + 2, len(data)):
                if data[j] == 0x07:
                    return j + 1 - i
                if data[j] == 0x1B and j + 1 < len(data) and data[j + 1] == ord("\\"):
                    return j + 2 - i
            return 0
        if kind in (ord("("), ord(")"), ord("#")):
            return 3 if i + 2 < len(data) else 0
        if kind == ord("c"):
            self.rows = [[" "] * self.width for _ in range(self.height)]
            self.x = self.y = 0
        return 2

    def _csi(self, params: str, final: str) -> None:
        if params.startswith("?") or params.startswith(">") or params.startswith("<") or params.startswith("="):
            return  # private modes (alternate screen, mouse, cursor visibility, synchronised output)
        numbers = [int(p) if p else 0 for p in params.split(";")] if params else []

        def arg(n: int, default: int) -> int:
            return numbers[n] if len(numbers) > n and numbers[n] else default

        if final in "Hf":
            self.at_rest = True
            self.y = min(max(arg(0, 1) - 1, 0), self.height - 1)
            self.x = min(max(arg(1, 1) - 1, 0), self.width - 1)
        elif final == "A":
            self.y = max(self.y - arg(0, 1), 0)
        elif final == "B":
            self.y = min(self.y + arg(0, 1), self.height - 1)
        elif final == "C":
            self.x = min(self.x + arg(0, 1), self.width - 1)
        elif final == "D":
            self.x = max(self.x - arg(0, 1), 0)
        elif final == "G":
            self.x = min(max(arg(0, 1) - 1, 0), self.width - 1)
        elif final == "d":
            self.y = min(max(arg(0, 1) - 1, 0), self.height - 1)
        elif final == "J":
            mode = arg(0, 0)
            if mode in (2, 3):
                self.rows = [[" "] * self.width for _ in range(self.height)]
            elif mode == 0:
                self.rows[self.y][self.x:] = [" "] * (self.width - self.x)
                for y in range(self.y + 1, self.height):
                    self.rows[y] = [" "] * self.width
        elif final == "K":
            mode = arg(0, 0)
            row = self.rows[self.y]
            if mode == 0:
                row[self.x:] = [" "] * (self.width - self.x)
            elif mode == 1:
                row[: self.x + 1] = [" "] * (self.x + 1)
            else:
                self.rows[self.y] = [" "] * self.width

    def _control(self, byte: int) -> None:
        if byte == 0x0D:
            self.x = 0
        elif byte == 0x0A:
            self._line_feed()
        elif byte == 0x08:
            self.x = max(self.x - 1, 0)
        elif byte == 0x09:
            self.x = min((self.x // 8 + 1) * 8, self.width - 1)

    def _line_feed(self) -> None:
        if self.y == self.height - 1:
            self.rows.pop(0)
            self.rows.append([" "] * self.width)
        else:
            self.y += 1

    def _text(self, text: str) -> None:
        if text:
            self.at_rest = False
        for char in text:
            width = cell_len(char)
            if width == 0:
                continue
            if self.x + width > self.width:  # pending wrap: continue on the next line
                self.x = 0
                self._line_feed()
            row = self.rows[self.y]
            row[self.x] = char
            if width == 2:
                row[self.x + 1] = ""
            self.x += width  # at the right edge the wrap stays pending until the next character


def cursor_in_field_below(screen: VirtualScreen, label_row: int, within: int = 2) -> bool:
    """Whether Textual left the cursor in the field drawn under the label on `label_row`."""
    return screen.at_rest and label_row >= 0 and label_row < screen.y <= label_row + within
