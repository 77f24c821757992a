"""The header line of every screen (screens/widgets/header.py): drawn as Textual's, by one widget, its
title known when drawn (no watcher left on the App), the icon opening the command palette."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.command import CommandPalette

from cpf_tui.textual_internals import screen_strips
from screens.widgets import console
from screens.widgets.header import CpfHeader

TITLE = "MODE FORMATION — Espace de gestion CPF"


class HeaderApp(App[None]):
    TITLE = TITLE

    def compose(self) -> ComposeResult:
        yield CpfHeader()


def first_line(app: App[None]) -> str:
    return screen_strips(app.screen)[0].text


async def test_the_title_is_centred_between_the_icon_and_the_clock_room_as_textual_draws_it():
    app = HeaderApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = first_line(app)
        # Textual's Header: the icon after one column, the title centred in columns 8 to 70.
        assert line.index("⭘") == 1
        assert line.index(TITLE) == 8 + (80 - 8 - 10 - len(TITLE)) // 2 == 20
        assert len(line) == 80
        await pilot.resize_terminal(30, 10)
        await pilot.pause()
        assert first_line(app).strip() == "⭘      MODE FORMAT…"  # 12 columns of title, shortened visibly


async def test_the_header_leaves_no_watcher_on_the_app():
    """Textual's Header watched App.title and App.sub_title: each screen's header stayed listed on the
    App after the screen was gone. This one reads the title when drawn."""
    app = HeaderApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        watchers = getattr(app, "__watchers", {})
        assert not any(isinstance(node, CpfHeader) for entries in watchers.values() for node, _ in entries)


async def test_text_in_the_title_is_never_read_as_markup():
    app = HeaderApp()
    app.title = "[b]Organisme[/b] \x1b[31m"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "[b]Organisme[/b]" in first_line(app)
        assert "\x1b" not in first_line(app) and "\\x1b[31m" in first_line(app)


async def test_a_click_on_the_icon_opens_the_command_palette_and_one_on_the_title_does_not():
    app = HeaderApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click(CpfHeader, offset=(30, 0))
        await pilot.pause()
        assert not isinstance(app.screen, CommandPalette)
        await pilot.click(CpfHeader, offset=(1, 0))
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)


async def test_the_icon_is_the_console_glyph_on_the_linux_console():
    console.use_console_glyphs(True)
    try:
        app = HeaderApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert first_line(app).startswith(" o ") and "⭘" not in first_line(app)
    finally:
        console.use_console_glyphs(False)
