"""Home: who is logged in and the sections this user may open."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option

from cpf_tui.services.context import SessionInfo
from models.enums import Role
from screens.base import CpfScreen
from screens.sections import Section, sections_for
from screens.widgets.keybar import KeyBar


REHEARSAL_SESSION = SessionInfo(
    account_id=0, identifier="REPETITION", full_name="Répétition", role=Role.OPERATOR.value,
    role_label=Role.OPERATOR.label, profile="", profile_label="", organisation_label="Caisse des dépôts",
    establishment_label="",
)
"""Fictitious user of `HomeScreen.rehearse` (every section of an operator; never shown)."""


class HomeScreen(CpfScreen):
    """Identity card on top, menu of allowed sections below.

    Built without a session, it is the empty home the App prepares while the login form is being
    typed (`CpfApp.prepare_home`): the same widgets for everyone, filled by `show_session` once the
    password is checked.
    """

    BINDINGS = [
        Binding("enter", "open_section", "Ouvrir", tooltip="Ouvrir la section choisie", id="home-open", show=False),
        Binding("x", "logout", "Se déconnecter", tooltip="Fermer la session", id="home-logout"),
    ]

    def __init__(self, info: SessionInfo | None = None) -> None:
        super().__init__()
        self.info = info
        self.sections: list[Section] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home-identity"):
            yield Static(id="home-name", markup=False)
            yield Static(id="home-role", markup=False)
            yield Static(id="home-organisation", markup=False)
        yield Static("Sections", id="home-sections-title")
        yield OptionList(id="home-sections")
        yield Static("Aucune section n'est ouverte à votre compte.", id="home-no-section", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        if self.info is not None:
            self.show_session(self.info)

    def show_session(self, info: SessionInfo) -> None:
        """Fill the identity card and the menu for the logged-in user."""
        self.info = info
        self.sections = sections_for(info)
        self.query_one("#home-name", Static).update(info.full_name)
        self.query_one("#home-role", Static).update(self._identity_line())
        self.query_one("#home-organisation", Static).update(self._organisation_line())
        menu = self.query_one("#home-sections", OptionList)
        menu.clear_options()
        menu.add_options([Option(f"{s.label} — {s.description}", id=s.id) for s in self.sections])
        menu.display = bool(self.sections)
        self.query_one("#home-no-section").display = not self.sections
        if self.sections:
            menu.highlighted = 0
            menu.focus()

    def rehearse(self, size) -> None:  # noqa: ANN001 - textual.geometry.Size
        """Lay out and draw this hidden screen once, filled for a fictitious user, and throw the drawing away.

        The first layout and drawing of a screen in a process is several times slower than the next ones
        (styles, text shaping and caches met for the first time). Done here, while the login form is
        typed, it is not paid between the password check and home. Nothing reaches the terminal: a screen
        that is not on top of the stack is not displayed, and `show_session` replaces everything.
        """
        self.show_session(REHEARSAL_SESSION)
        self.draw_hidden(size)

    def draw_hidden(self, size) -> None:  # noqa: ANN001 - textual.geometry.Size
        """Lay out and draw this screen while it is not shown (the drawing is kept in the widgets' caches).

        Only for a screen that is not on top: Textual writes to the terminal only for the current screen.
        """
        if self.is_current:
            return
        self._refresh_layout(size)
        self._compositor.render_update(full=True)

    def _identity_line(self) -> str:
        assert self.info is not None
        parts = [f"Identifiant : {self.info.identifier}", f"Rôle : {self.info.role_label}"]
        if self.info.role in ("gestionnaire", "principal_admin", "delegated_admin"):
            parts.append(f"Profil : {self.info.profile_label}")
        return "   ".join(parts)

    def _organisation_line(self) -> str:
        assert self.info is not None
        line = f"Organisme : {self.info.organisation_label}"
        if self.info.establishment_label:
            line += f"   Établissement : {self.info.establishment_label}"
        return line

    @on(OptionList.OptionSelected, "#home-sections")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.open_section(event.option.id or "")

    def action_open_section(self) -> None:
        menu = self.query_one("#home-sections", OptionList)
        if menu.display and menu.highlighted is not None:
            self.open_section(menu.get_option_at_index(menu.highlighted).id or "")

    def open_section(self, section_id: str) -> None:
        for section in self.sections:
            if section.id == section_id:
                self.app.push_screen(section.factory())
                return

    async def action_logout(self) -> None:
        await self.app.logout("Vous êtes déconnecté.")
