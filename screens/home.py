"""Home: who is logged in and the sections this user may open."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from screens.base import CpfScreen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from cpf_tui.services.auth import SessionInfo
from screens.sections import Section, sections_for


class HomeScreen(CpfScreen):
    """Identity card on top, menu of allowed sections below."""

    BINDINGS = [
        Binding("enter", "open_section", "Ouvrir", tooltip="Ouvrir la section choisie", id="home-open", show=False),
        Binding("x", "logout", "Se déconnecter", tooltip="Fermer la session", id="home-logout"),
    ]

    def __init__(self, info: SessionInfo) -> None:
        super().__init__()
        self.info = info
        self.sections: list[Section] = sections_for(info)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home-identity"):
            yield Static(self.info.full_name, id="home-name", markup=False)
            yield Static(self._identity_line(), id="home-role", markup=False)
            yield Static(self._organisation_line(), id="home-organisation", markup=False)
        yield Static("Sections", id="home-sections-title")
        if self.sections:
            yield OptionList(
                *[Option(f"{s.label} — {s.description}", id=s.id) for s in self.sections],
                id="home-sections",
            )
        else:
            yield Static("Aucune section n'est ouverte à votre compte.", id="home-no-section", markup=False)
        yield Footer()

    def _identity_line(self) -> str:
        parts = [f"Identifiant : {self.info.identifier}", f"Rôle : {self.info.role_label}"]
        if self.info.role in ("gestionnaire", "principal_admin", "delegated_admin"):
            parts.append(f"Profil : {self.info.profile_label}")
        return "   ".join(parts)

    def _organisation_line(self) -> str:
        line = f"Organisme : {self.info.organisation_label}"
        if self.info.establishment_label:
            line += f"   Établissement : {self.info.establishment_label}"
        return line

    def on_mount(self) -> None:
        if self.sections:
            self.query_one("#home-sections", OptionList).focus()

    @on(OptionList.OptionSelected, "#home-sections")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.open_section(event.option.id or "")

    def action_open_section(self) -> None:
        options = self.query("#home-sections")
        if options:
            option_list = options.first(OptionList)
            if option_list.highlighted is not None:
                self.open_section(option_list.get_option_at_index(option_list.highlighted).id or "")

    def open_section(self, section_id: str) -> None:
        for section in self.sections:
            if section.id == section_id:
                self.app.push_screen(section.factory())
                return

    async def action_logout(self) -> None:
        await self.app.logout("Vous êtes déconnecté.")
