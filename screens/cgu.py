"""CGU screen: the full text of the conditions to read (keyboard scrolling), then accept or refuse."""

from __future__ import annotations

import re

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual.worker import Worker

from cpf_tui.errors import Conflict, CpfError
from cpf_tui.messages import CguAccepted, LoggedOut
from cpf_tui.services.context import SessionInfo
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.header import CpfHeader

REFUSED = "Vous avez refusé les conditions générales d'utilisation : vous êtes déconnecté."
WRAPPED_LINE = 60
"""A source line at least this long was wrapped by its author: it is joined to the next for display."""
_STARTS_ITEM = re.compile(r"^(Article\b|[-–•·]|\d+[.)])")


def reflow(text: str) -> str:
    """Join the lines of each paragraph so the terminal wraps them at its own width.

    A line is kept apart when the previous one is short (end of a paragraph, title) or in capitals
    (heading), or when it starts an article or a list item.
    """
    lines: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        previous = lines[-1] if lines else ""
        joinable = (
            stripped
            and previous
            and len(previous) >= WRAPPED_LINE
            and not previous.isupper()
            and not _STARTS_ITEM.match(stripped)
        )
        if joinable:
            lines[-1] = f"{previous} {stripped}"
        else:
            lines.append(line.rstrip())
    return "\n".join(lines)


class CguScreen(CpfScreen):
    """Shown at first login and whenever a newer CGU version exists than the one accepted."""

    BINDINGS = [
        Binding("o", "accept", "J'accepte", tooltip="Accepter les conditions générales d'utilisation",
                id="cgu-accept"),
        Binding("n", "refuse", "Je refuse", tooltip="Refuser les conditions (vous serez déconnecté)",
                id="cgu-refuse"),
    ]
    MESSAGE_ID = "cgu-message"

    def __init__(self, info: SessionInfo) -> None:
        super().__init__()
        self.info = info
        self.version = info.cgu_version_required
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        yield Static(f"Conditions générales d'utilisation — version {self.version}", id="cgu-title", markup=False)
        yield Static(
            "Lisez le texte (flèches, Pg.Préc/Pg.Suiv, Début/Fin), puis o : j'accepte, n : je refuse.",
            id="cgu-hint", markup=False,
        )
        with VerticalScroll(id="cgu-scroll"):
            yield Static("Chargement…", id="cgu-text", markup=False)
        yield Static("", id="cgu-message", markup=False)
        yield KeyBar()

    @property
    def scroller(self) -> VerticalScroll:
        return self.query_one("#cgu-scroll", VerticalScroll)

    @property
    def text(self) -> Static:
        return self.query_one("#cgu-text", Static)

    def on_mount(self) -> None:
        self.scroller.focus()
        self.load_text(self.version)

    @work(exclusive=True, group="cgu", exit_on_error=False)
    async def load_text(self, version: int) -> None:
        from cpf_tui.services import cgu

        found = await cgu.get_version(version)
        self.version = found.version
        self.query_one("#cgu-title", Static).update(f"Conditions générales d'utilisation — version {found.version}")
        self.text.update(reflow(found.text))
        self.scroller.scroll_home(animate=False)
        self.loaded = True

    @work(exclusive=True, group="cgu", exit_on_error=False)
    async def action_accept(self) -> None:
        from cpf_tui.services import cgu

        if not self.loaded:
            return
        await cgu.accept(self.ctx, self.version)
        self.app.post_message(CguAccepted())

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """A refusal on the message line; a newer version published meanwhile is shown to be read."""
        self.show_message(error.message, error=True)
        if isinstance(error, Conflict):
            self.load_latest()
        return True

    @work(exclusive=True, group="cgu", exit_on_error=False)
    async def load_latest(self) -> None:
        from cpf_tui.services import cgu

        latest = await cgu.latest_version()
        self.load_text(latest.version)

    def action_refuse(self) -> None:
        from screens.modals import ConfirmModal

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.refuse()

        self.app.push_screen(
            ConfirmModal("Refuser les conditions générales d'utilisation met fin à votre session. Confirmer ?",
                         "Refuser", "Revenir"),
            answered,
        )

    @work(exclusive=True, group="cgu", exit_on_error=False)
    async def refuse(self) -> None:
        from cpf_tui.services import cgu

        await cgu.refuse(self.ctx, self.version)
        self.app.post_message(LoggedOut(REFUSED))
