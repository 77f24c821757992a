"""Glyphs for the Linux console (TERM=linux): what Textual and the screens draw, in the console's own set.

The Linux console draws only the glyphs of its font: ASCII, Latin-1 and Latin-9, some punctuation, and
in the box-drawing range only the single and double lines of code page 437 (no rounded corners, no half
or eighth blocks: tests/fixtures/linux_console_glyphs.txt lists the set). Textual draws frames, buttons,
scrollbars, toggles and icons with glyphs outside it (╭ ▔▁▊▎ ▀▄ ▐▌ ⭘ 🔎 📂📄), which the console shows
as its replacement character.

`use_console_glyphs(True)` (the App calls it when it starts, from TERM) swaps them, in one place, for
glyphs of the set: every border type for one drawn with lines (round and dashed as single lines; tall,
wide, panel, block and the others as single lines; thick and heavy as double lines), scrollbar thumbs
in whole cells, toggles as [X], the header and palette icons, the directory tree's icons, and `glyph()`
for the few marks the screens draw themselves. `use_console_glyphs(False)` puts Textual's back (tests
run both in one process). Nothing else changes: the same sizes, the same layout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SINGLE = (("┌", "─", "┐"), ("│", " ", "│"), ("└", "─", "┘"))
DOUBLE = (("╔", "═", "╗"), ("║", " ", "║"), ("╚", "═", "╝"))
BORDERS: Mapping[str, Any] = {
    "round": SINGLE, "dashed": SINGLE, "tall": SINGLE, "wide": SINGLE, "panel": SINGLE, "tab": SINGLE,
    "block": SINGLE, "hkey": SINGLE, "vkey": SINGLE, "inner": SINGLE, "outer": SINGLE,
    "thick": DOUBLE, "heavy": DOUBLE,
}
"""Textual border type -> its drawing on the console."""

MARKS: Mapping[str, str] = {
    "✓": "+", "✔": "+", "✘": "x", "″": '"', "▏": "│", "⭘": "o", "🔎": ">", "⌫": "←",
}
"""Marks drawn by the screens themselves -> their console form (see `glyph`)."""

_saved: dict[str, Any] = {}
_active = False


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the terminal is the Linux console (TERM=linux, also linux-16color and the like)."""
    term = (environ if environ is not None else os.environ).get("TERM", "")
    return term == "linux" or term.startswith("linux-")


def active() -> bool:
    """Whether console glyphs are in use now."""
    return _active


def glyph(mark: str) -> str:
    """`mark` as drawn on this terminal: itself, or its console form under TERM=linux."""
    return MARKS.get(mark, mark) if _active else mark


def _targets() -> list[tuple[object, str, Any]]:
    """(object, attribute, console value) for every glyph of Textual that is swapped."""
    from textual import _border
    from textual.command import SearchIcon
    from textual.scrollbar import ScrollBarRender
    from textual.widgets import DirectoryTree
    from textual.widgets._toggle_button import ToggleButton

    borders = dict(_border.BORDER_CHARS)
    borders.update(BORDERS)
    return [
        (_border, "BORDER_CHARS", borders),
        (ScrollBarRender, "VERTICAL_BARS", [" "] * 8),
        (ScrollBarRender, "HORIZONTAL_BARS", [" "] * 8),
        (ToggleButton, "BUTTON_LEFT", "["),
        (ToggleButton, "BUTTON_RIGHT", "]"),
        (DirectoryTree, "ICON_NODE", "+ "),
        (DirectoryTree, "ICON_NODE_EXPANDED", "- "),
        (DirectoryTree, "ICON_FILE", "  "),
        (SearchIcon.icon, "_default", MARKS["🔎"]),
    ]


def use_console_glyphs(enabled: bool) -> None:
    """Draw with the Linux console's glyphs (True) or Textual's own (False); idempotent."""
    global _active
    from textual import _border

    if enabled == _active:
        return
    for owner, name, console_value in _targets():
        key = f"{id(owner)}.{name}"
        if enabled:
            _saved[key] = getattr(owner, name)
            setattr(owner, name, console_value)
        elif key in _saved:
            setattr(owner, name, _saved.pop(key))
    _border.get_box.cache_clear()
    _active = enabled
