"""The private Textual APIs of cpf_tui/textual_internals.py: each fails here if a Textual release changes it."""

from __future__ import annotations

import io
import time

from rich.text import Text
from textual.app import App, ComposeResult

from cpf_tui.textual_internals import WRITE_TIMEOUT_SECONDS, TerminalWriter, size_table_now
from screens.widgets.table import CpfTable
from tests.pilot import TableApp


async def test_a_filled_table_has_its_column_widths_before_the_next_frame():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CpfTable)
        table.add_columns("N°", "Statut")
        await pilot.pause()
        table.replace_rows([((Text("DF-1"), Text("En cours d'élaboration")), "1")])
        # Without size_table_now the widths wait for the table's next idle moment (a frame later).
        assert [column.get_render_width(table) for column in table.ordered_columns][1] >= len("En cours d'élaboration")
        assert not table._require_update_dimensions
        size_table_now(table)  # nothing left to do: a no-op


async def test_a_table_filled_before_its_first_layout_is_fitted_within_it_without_a_scroll_bar(monkeypatch):
    """A CpfTable given rows wider than the screen before it has a size (a file's history, set when its
    form is mounted) gets its columns fitted within the layout that sizes it (`CpfTable._size_updated`):
    no scroll bar shown at one layout and hidden at the next, no layout asked for afterwards."""
    from textual.screen import Screen
    from textual.widget import Widget

    from cpf_tui.textual_internals import use_one_layout_per_size

    use_one_layout_per_size()  # as the App does: no layout again for a Resize at the same size

    class Filled(Screen[None]):
        def compose(self) -> ComposeResult:
            yield CpfTable(id="history")

        def on_mount(self) -> None:
            table = self.query_one(CpfTable)
            table.add_columns("Date", "Par", "Action", "Détail")
            table.replace_rows([((Text("15/01/2026 10:00"), Text("Thomas Durand"), Text("Création"),
                                  Text("Dossier créé par l'organisme de formation partenaire")), "0")])

    layouts: list[Screen[object]] = []
    scroll_bars: list[tuple[bool, bool]] = []
    refresh_layout, refresh_scrollbars = Screen._refresh_layout, Widget._refresh_scrollbars

    def counting(screen: Screen[object], *args: object, **kwargs: object) -> None:
        layouts.append(screen)
        refresh_layout(screen, *args, **kwargs)

    def watching(widget: Widget) -> None:
        refresh_scrollbars(widget)
        if isinstance(widget, CpfTable):
            scroll_bars.append((widget.show_vertical_scrollbar, widget.show_horizontal_scrollbar))

    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        monkeypatch.setattr(Screen, "_refresh_layout", counting)
        monkeypatch.setattr(Widget, "_refresh_scrollbars", watching)
        screen = Filled()
        await app.push_screen(screen)
        await pilot.pause()
        await pilot.pause()
        table = screen.query_one(CpfTable)
        assert table.virtual_size.width <= table.size.width - table.styles.scrollbar_size_vertical
        assert str(table.ordered_columns[-1].label) == "Détail"
        shown = screen_strips_text(screen)
        assert "Détail" in shown and "…" in shown  # every header whole, the long cell shortened
        assert scroll_bars and not any(vertical or horizontal for vertical, horizontal in scroll_bars)
        # Textual's own second layout (the virtual sizes the first one set) and no third.
        assert 1 <= layouts.count(screen) <= 2, layouts


def screen_strips_text(screen) -> str:  # noqa: ANN001 - a Textual Screen
    from cpf_tui.textual_internals import screen_strips

    return "\n".join(strip.text for strip in screen_strips(screen))


class _DeadTerminal(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")


def test_the_output_thread_drops_writes_once_the_terminal_is_gone():
    writer = TerminalWriter(_DeadTerminal())
    writer.start()
    started = time.monotonic()
    for _ in range(1000):  # Textual's writer blocks for ever after 30 queued writes to a dead terminal
        writer.write("x" * 100)
    writer.stop()
    assert time.monotonic() - started < WRITE_TIMEOUT_SECONDS
    assert writer.terminal_gone
    assert not writer.is_alive()


def test_the_output_thread_writes_everything_to_a_live_terminal():
    sink = io.StringIO()
    writer = TerminalWriter(sink)
    writer.start()
    for index in range(100):
        writer.write(f"{index};")
    writer.stop()
    assert sink.getvalue() == "".join(f"{index};" for index in range(100))
    assert not writer.terminal_gone


async def test_screen_strips_are_the_lines_the_screen_draws():
    from cpf_tui.textual_internals import screen_strips

    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CpfTable)
        table.add_columns("Statut")
        await pilot.pause()
        strips = screen_strips(app.screen)
        assert len(strips) == 24 and all(strip.cell_length == 80 for strip in strips)
        assert "Statut" in strips[0].text


def _tokens(parser, *chunks: str) -> list[object]:  # noqa: ANN001 - a WholePasteParser
    found: list[object] = []
    for chunk in chunks:
        found.extend(parser.feed(chunk))
    return found


def test_a_bracketed_paste_arrives_whole_escape_sequences_included():
    from textual import events

    from cpf_tui.textual_internals import WholePasteParser

    tokens = _tokens(WholePasteParser(), "ab\x1b[200~x\x1b[31mROUGE\x1b[0m\x00y\x1b[201~c")
    keys = [t.character for t in tokens if isinstance(t, events.Key)]
    pastes = [t.text for t in tokens if isinstance(t, events.Paste)]
    assert keys == ["a", "b", "c"] and pastes == ["x\x1b[31mROUGE\x1b[0my"]  # Textual's gave "^", "[", "3"…


def test_a_paste_cut_across_reads_and_its_end_marker_cut_too():
    from textual import events

    from cpf_tui.textual_internals import WholePasteParser

    tokens = _tokens(WholePasteParser(), "\x1b[200~Attestation [A12] \x1b[3", "1m", "rouge\x1b[20", "1~z")
    assert [t.text for t in tokens if isinstance(t, events.Paste)] == ["Attestation [A12] \x1b[31mrouge"]
    assert [t.character for t in tokens if isinstance(t, events.Key)] == ["z"]


def test_the_linux_driver_uses_the_whole_paste_parser():
    from textual.drivers import linux_driver

    from cpf_tui.textual_internals import WholePasteParser, use_safe_terminal_writer

    use_safe_terminal_writer()
    assert linux_driver.XTermParser is WholePasteParser


class _RadioApp(App[None]):
    CSS = "RadioSet:focus > RadioButton.-selected > .toggle--label { text-style: reverse; }"

    def compose(self) -> ComposeResult:
        from textual.widgets import RadioButton, RadioSet

        with RadioSet():
            yield RadioButton("Titulaires", value=True)
            yield RadioButton("Heures CPF")


async def test_a_component_class_in_reverse_video_is_drawn_reversed():
    from textual.widgets import RadioSet

    from cpf_tui.textual_internals import screen_strips, use_reverse_in_component_styles

    use_reverse_in_component_styles()
    use_reverse_in_component_styles()  # idempotent
    app = _RadioApp()
    async with app.run_test(size=(40, 6)) as pilot:
        app.query_one(RadioSet).focus()
        await pilot.pause()
        segments = [segment for strip in screen_strips(app.screen) for segment in strip]
        reversed_text = "".join(s.text for s in segments if s.style is not None and s.style.reverse)
        assert "Titulaires" in reversed_text and "Heures" not in reversed_text


def test_word_wrap_breaks_a_long_folder_path_before_a_slash_only():
    from rich.console import Console

    from cpf_tui.textual_internals import use_french_wrap

    use_french_wrap()
    text = Text("Dans Téléchargements (/srv/cpf-tui/depots-des-organismes/exports) le 15/01/2015, "
                "Statut : Actif, tél. 06 12 34 56 78")
    lines = [line.plain.rstrip() for line in text.wrap(Console(width=30), 30)]
    assert "".join(line if line.startswith("/") else " " + line for line in lines).strip() == text.plain
    assert all(len(line) <= 30 for line in lines)
    assert any(line.startswith("/") for line in lines)  # the path went on at a folder's start
    for whole in ("15/01/2015,", "Statut : Actif,", "06 12 34 56 78", "/depots-des-organismes"):
        assert any(whole in line for line in lines), (whole, lines)


class _FieldsApp(App[None]):
    CSS = "#short { width: 12; } #auto { width: auto; }"

    def compose(self) -> ComposeResult:
        from textual.widgets import Input

        yield Input(id="short", compact=True)
        yield Input(id="auto", compact=True)


async def test_typing_in_a_field_lays_nothing_out_and_the_field_still_scrolls(monkeypatch):
    from textual.screen import Screen
    from textual.widgets import Input

    from cpf_tui.textual_internals import screen_strips, use_inputs_without_relayout

    use_inputs_without_relayout()
    use_inputs_without_relayout()  # idempotent
    layouts: list[Screen[object]] = []
    original = Screen._refresh_layout

    def counting(screen: Screen[object], *args: object, **kwargs: object) -> None:
        layouts.append(screen)
        original(screen, *args, **kwargs)

    app = _FieldsApp()
    async with app.run_test(size=(40, 6)) as pilot:
        field = app.query_one("#short", Input)
        field.focus()
        await pilot.pause()
        monkeypatch.setattr(Screen, "_refresh_layout", counting)
        await pilot.press(*"ABCDEFGHIJ")
        await pilot.pause()
        assert layouts == []  # Textual laid the screen out at every key
        await pilot.press(*"KLMNOPQRST")  # longer than the field: it scrolls
        await pilot.pause()
        assert field.virtual_size.width == 21 and field.scroll_x > 0  # the cursor's end of the text shows
        assert "RST" in screen_strips(app.screen)[0].text and "ABC" not in screen_strips(app.screen)[0].text
        await pilot.press(*["backspace"] * 20)
        await pilot.pause()
        assert field.value == "" and field.scroll_x == 0 and field.virtual_size.width == 1
        # A field as wide as its text is still laid out: its width changes with what it holds.
        app.query_one("#auto", Input).focus()
        await pilot.pause()
        layouts.clear()
        await pilot.press("x", "y")
        await pilot.pause()
        assert layouts


async def test_a_screen_is_laid_out_again_only_when_the_terminal_size_changes(monkeypatch):
    from textual.screen import Screen
    from textual.widgets import Static

    from cpf_tui.textual_internals import use_one_layout_per_size

    use_one_layout_per_size()
    use_one_layout_per_size()  # idempotent
    layouts: list[tuple[str, object]] = []
    original = Screen._refresh_layout

    def counting(screen: Screen[object], size: object = None, scroll: bool = False) -> None:
        layouts.append((screen.id or "", size))
        original(screen, size, scroll)

    class Covered(Screen[None]):
        def compose(self) -> ComposeResult:
            yield Static("dessous")

    class Shown(Screen[None]):
        def compose(self) -> ComposeResult:
            yield Static("dessus")

    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(Covered(id="covered"))
        await pilot.pause()
        monkeypatch.setattr(Screen, "_refresh_layout", counting)
        await app.push_screen(Shown(id="shown"))
        await pilot.pause()
        await pilot.pause()
        # Shown: laid out at the terminal's size once. Textual laid it out again for its own Resize, and
        # the one under it too (the layouts without a size are those its widgets ask for).
        assert [screen for screen, size in layouts if size is not None] == ["shown"], layouts
        layouts.clear()
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        await pilot.pause()
        assert {"shown", "covered"} <= {screen for screen, _ in layouts}  # a real resize: every screen
        assert all(screen._compositor.size == (60, 20) for screen in app.screen_stack[-2:])


async def test_the_css_generation_changes_with_the_theme_only():
    """`css_generation` (kept screens are styled again when it changed since they were closed) moves when
    the App's styles are made again, not when a screen is pushed or popped."""
    from textual.screen import Screen

    from cpf_tui.textual_internals import css_generation

    app = App[None]()
    async with app.run_test(size=(80, 24)) as pilot:
        before = css_generation(app)
        await app.push_screen(Screen())
        await pilot.pause()
        app.pop_screen()
        await pilot.pause()
        assert css_generation(app) == before
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        assert css_generation(app) > before
