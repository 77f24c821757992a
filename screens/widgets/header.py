"""The line at the top of every screen: the App's title, centred, and the command palette's icon."""

from __future__ import annotations

from textual import events
from textual.content import Content
from textual.widget import Widget

from cpf_tui.text import display
from screens.widgets import console

ICON = "⭘"
ICON_WIDTH = 8
"""Columns of the icon's part (Textual's HeaderIcon: 8 wide, the icon after one column of padding)."""
CLOCK_WIDTH = 10
"""Columns kept free on the right (Textual's HeaderClockSpace): the title is centred between the two."""


class CpfHeader(Widget):
    """Textual's `Header` drawn by one widget, its title read when it is drawn.

    Textual's Header is four widgets, and sets its title from four watchers (the App's and the screen's
    title and sub-title) that run after it is mounted: each screen shown was asked for one more layout
    after its first, for a title that never changes while the App runs, and each header stayed listed on
    the App's watchers after its screen was gone. Drawn the same (the icon in the first 8 columns, the title centred
    between them and the last 10, ended with « … » when too long); a click on the icon opens the command
    palette, as Textual's does. Under the Linux console the icon is its console glyph (`console.glyph`).
    """

    DEFAULT_CSS = """
    CpfHeader { dock: top; width: 100%; height: 1; background: $panel; color: $foreground; }
    """

    def title_content(self) -> Content:
        """The screen's title (or the App's) and sub-title, as Textual's Header formats them (never read as
        markup; a control character is written out, `text.display`)."""
        screen, app = self.screen, self.app
        title = screen.title if screen.title is not None else app.title
        sub_title = screen.sub_title if screen.sub_title is not None else app.sub_title
        return app.format_title(display(title), display(sub_title))

    def render(self) -> Content:
        room = max(0, self.size.width - ICON_WIDTH - CLOCK_WIDTH)
        title = self.title_content()
        if title.cell_length > room:
            title = title.truncate(room, ellipsis=True)
        left = (room - title.cell_length) // 2
        icon = (" " + console.glyph(ICON)).ljust(ICON_WIDTH) if self.app.ENABLE_COMMAND_PALETTE else " " * ICON_WIDTH
        return Content.assemble(icon, " " * left, title, " " * (room - title.cell_length - left + CLOCK_WIDTH))

    async def on_click(self, event: events.Click) -> None:
        if event.x < ICON_WIDTH and self.app.ENABLE_COMMAND_PALETTE:
            event.stop()
            await self.run_action("app.command_palette")
