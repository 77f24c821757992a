"""The private Textual APIs cpf-tui relies on, in one place (Textual is pinned in pyproject.toml).

Each function names what it relies on; `tests/test_textual_internals.py` fails when a Textual release
changes one of them. docs/development.md lists the others still used by the App (screen memory,
prepared home).
"""

from __future__ import annotations

import queue
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual import events
from textual._xterm_parser import BRACKETED_PASTE_END, BRACKETED_PASTE_START, XTermParser
from textual.drivers._writer_thread import WriterThread

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen
    from textual.strip import Strip
    from textual.widgets import DataTable

WRITE_TIMEOUT_SECONDS = 2.0
"""Longest a frame may wait for the output thread before it is dropped (the terminal stopped reading)."""


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


class TerminalWriter(WriterThread):
    """Textual's output thread, made safe for a terminal that goes away (SSH client closed, pty hung up).

    Textual's writer dies on the first failed write (EIO after a hang-up) and its bounded queue then
    blocks every later write forever: the App, shutting down, was stuck writing "disable mouse" and
    ignored SIGTERM. A SIGCONT sent with the SIGHUP also makes Textual start a second writer. Here a
    failed write switches the thread to discarding what it is given, and a write never waits more than
    WRITE_TIMEOUT_SECONDS: output to a dead terminal is dropped, never waited for.

    Relies on `WriterThread._queue`, `_file` and `run` (textual/drivers/_writer_thread.py, Textual 8.2).
    """

    terminal_gone = False

    def write(self, text: str) -> None:
        if self.terminal_gone or (self._started.is_set() and not self.is_alive()):
            return
        try:
            self._queue.put(text, timeout=WRITE_TIMEOUT_SECONDS)
        except queue.Full:
            self.terminal_gone = True

    def run(self) -> None:
        try:
            super().run()
        except OSError:
            self.terminal_gone = True
            while self._queue.get() is not None:  # keep the queue moving until stop()
                pass

    def stop(self) -> None:
        try:
            self._queue.put(None, timeout=WRITE_TIMEOUT_SECONDS)
        except queue.Full:
            return
        self.join(WRITE_TIMEOUT_SECONDS)


class WholePasteParser(XTermParser):
    """Textual's input parser, with a bracketed paste delivered whole, escape sequences inside it included.

    Textual's parser reads an ESC inside a bracketed paste as the start of a key sequence and reissues
    it as keys (ESC becomes "^"): a pasted `ESC[31mROUGE ESC[0m` reached the field as typed keys,
    "^[31mROUGE^[0m", where no control-character rule could see it. Here the text between ESC[200~ and
    ESC[201~ is taken out of the stream before Textual's parser reads it and given as one
    `events.Paste` holding exactly what was pasted (NUL removed, as Textual does); the screens' one
    text rule (screens/base.py) then refuses it whole. A paste longer than one read is gathered across
    reads; a start marker split between two reads is left to Textual's own handling.

    Relies on `XTermParser` and `Parser.feed` (textual/_xterm_parser.py, textual/_parser.py) and on the
    Linux driver creating `XTermParser` by that module-level name (Textual 8.2).
    """

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._pasted: list[str] | None = None
        self._held = ""

    def feed(self, data: str) -> Iterable[events.Event]:  # type: ignore[override]
        if not data:  # end of input: what a paste left unfinished is given as it is
            if self._pasted is not None:
                yield events.Paste(("".join(self._pasted) + self._held).replace("\x00", ""))
                self._pasted, self._held = None, ""
            yield from super().feed(data)
            return
        while data:
            if self._pasted is None:
                start = data.find(BRACKETED_PASTE_START)
                if start < 0:
                    yield from super().feed(data)
                    return
                if start:
                    yield from super().feed(data[:start])
                self._pasted = []
                data = data[start + len(BRACKETED_PASTE_START):]
                continue
            data, self._held = self._held + data, ""
            end = data.find(BRACKETED_PASTE_END)
            if end < 0:  # the paste goes on in the next read; keep a possibly cut end marker aside
                keep = next((n for n in range(len(BRACKETED_PASTE_END) - 1, 0, -1)
                             if data.endswith(BRACKETED_PASTE_END[:n])), 0)
                self._pasted.append(data[:len(data) - keep])
                self._held = data[len(data) - keep:]
                return
            self._pasted.append(data[:end])
            yield events.Paste("".join(self._pasted).replace("\x00", ""))
            self._pasted = None
            data = data[end + len(BRACKETED_PASTE_END):]


def use_safe_terminal_writer() -> None:
    """Make Textual's Linux driver write through `TerminalWriter` and read pastes whole with
    `WholePasteParser` (idempotent; before the App starts)."""
    from textual.drivers import linux_driver

    linux_driver.WriterThread = TerminalWriter  # type: ignore[misc]
    linux_driver.XTermParser = WholePasteParser  # type: ignore[misc]


FRENCH_WORD = (r"\s*(?:0\d(?: \d\d){4}|[(~]?/[^\s/]+(?=/)|\S+)"
               r"(?: : (?:0\d(?: \d\d){4}|\S+))*\s*")
"""A word for wrapping text: a phone number (06 12 34 56 78) is one word, and so is a « libellé : valeur »
pair (French puts a space before the colon, where a line must not break: « Statut⏎: Actif »). A folder
path is a word per folder (« (/srv/cpf/depots/ » is « (/srv », « /cpf », « /depots/ »): a long path wraps
before a « / », never in the middle of a folder's name. A date (15/01/2015) stays one word."""


def use_french_wrap() -> None:
    """Make Rich's (hence Textual's) word wrap keep phone numbers and « libellé : valeur » pairs whole.

    Relies on `rich._wrap.re_word`, the pattern `rich._wrap.words` (used by `divide_line`, which
    `textual.content.Content.wrap` and `rich.text.Text.wrap` call) matches one word with (idempotent).
    """
    import re

    from rich import _wrap

    _wrap.re_word = re.compile(FRENCH_WORD)


def use_reverse_in_component_styles() -> None:
    """Make a component class's `text-style: reverse` reach what Textual draws (idempotent).

    `Widget.get_visual_style` (Textual 8.2) folds the CSS of a widget and its component classes into a
    `textual.style.Style` keeping bold, dim, italic, underline and strike, but not reverse: a rule such
    as app.tcss's `RadioSet:focus > RadioButton.-selected > .toggle--label { text-style: reverse }`
    (the focus shown without colour) was dropped for every widget drawn through it (toggle buttons,
    radio sets, checkboxes, option lists). Relies on `Widget.get_visual_style` and
    `Widget.get_component_styles`.
    """
    from dataclasses import replace

    from textual.widget import Widget

    original = Widget.get_visual_style
    if getattr(original, "keeps_reverse", False):
        return

    def get_visual_style(self: Widget, *component_classes: str, partial: bool = False) -> Any:
        visual = original(self, *component_classes, partial=partial)
        if visual.reverse is not None:
            return visual
        reverse = None
        for name in component_classes:
            text_style = self.get_component_styles(name).text_style
            if text_style.reverse is not None:
                reverse = text_style.reverse
        return replace(visual, reverse=True) if reverse else visual

    get_visual_style.keeps_reverse = True  # type: ignore[attr-defined]
    Widget.get_visual_style = get_visual_style  # type: ignore[method-assign]


def screen_strips(screen: Screen[object]) -> list[Strip]:
    """The lines the screen draws now, with their styles (frames and borders included).

    Relies on `Screen._compositor.render_strips` (textual/_compositor.py, Textual 8.2).
    """
    return screen._compositor.render_strips()


def use_inputs_without_relayout() -> None:
    """Make a text field of fixed width take a new value without laying the screen out again (idempotent).

    Textual's `Input` sets its virtual (scrollable) width at every change of its value, and the virtual
    size is a layout property: each key typed in a field reflowed every widget of the screen and drew
    it again, about 40 % of the layouts of a working session (a NIR typed is fifteen layouts). The
    field's scrollable width concerns the field alone (an `Input` is a ScrollView: it keeps its own
    virtual size, whatever the layout computes): it is set here without a layout, and the field's scroll
    is checked against it as a layout would. A field sized by its content (`width: auto`) is still laid
    out, by Textual's own code. Relies on `Input._watch_value`, `Widget.virtual_size` (a reactive set
    with `set_reactive`) and `Widget._scroll_update` (textual/widgets/_input.py, textual/widget.py,
    Textual 8.2).
    """
    from textual.geometry import Size
    from textual.widget import Widget
    from textual.widgets import Input

    original = Input._watch_value
    if getattr(original, "without_relayout", False):
        return

    def _watch_value(self: Input, value: str) -> None:
        if self.is_mounted and not self.styles.auto_dimensions:
            virtual_size = Size(self.content_width, 1)
            if virtual_size != self.virtual_size:
                self.set_reactive(Widget.virtual_size, virtual_size)
                self._scroll_update(virtual_size)
        original(self, value)

    _watch_value.without_relayout = True  # type: ignore[attr-defined]
    Input._watch_value = _watch_value  # type: ignore[method-assign]


def use_one_layout_per_size() -> None:
    """Make a screen lay itself out again on a resize only when its size did change (idempotent).

    Textual lays a screen out when it is first shown, then posts the screen a `Resize` for having been
    shown; the screen's handler lays it out again at the same size, and every screen under it too:
    opening a file from the list laid out the form twice and the list once more, a third of the layouts
    of a working session, with the terminal's size unchanged. A real resize still lays every screen out
    at the new size. Relies on `Screen._screen_resized` (called by `Screen._on_resize` for the screen
    and those under it) and `Compositor.size`, the size of the screen's last layout (textual/screen.py,
    textual/_compositor.py, Textual 8.2).
    """
    from textual.screen import Screen

    original = Screen._screen_resized
    if getattr(original, "same_size_skipped", False):
        return

    def _screen_resized(self: Screen[object], size: Any) -> None:
        if self._compositor.size != size:
            original(self, size)

    _screen_resized.same_size_skipped = True  # type: ignore[attr-defined]
    Screen._screen_resized = _screen_resized  # type: ignore[method-assign]


def css_generation(app: App[Any]) -> int:
    """A number that changes whenever the App's styles are made again (a theme or its colours changed).

    Relies on `App._css_update_count` (incremented by `App._invalidate_css`, Textual 8.2).
    """
    return int(app._css_update_count)
