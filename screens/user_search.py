"""Search a gestionnaire by identifier, name, e-mail, profile, establishment or status, as you type."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from cpf_tui.services import accounts
from cpf_tui.services.accounts import EstablishmentNode
from models.enums import PROFILE_LABELS, Profile
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable


class UserSearchScreen(CpfScreen):
    """Results update while typing (debounced); Entrée on a result closes with its account id."""

    debounce_seconds: float = 0.15
    """Pause after the last key before searching (a faster typist does not trigger a query per key)."""

    BINDINGS = [
        Binding("escape", "back", "Retour", tooltip="Fermer la recherche", id="search-back"),
        Binding("ctrl+f", "focus_query", "Saisie", tooltip="Revenir au champ de recherche", id="search-focus-query"),
    ]

    MESSAGE_ID = "search-count"
    TYPE_TO_SEARCH = "#search-input"

    def __init__(self, organisation_id: int | None = None,
                 establishments: list[EstablishmentNode] | None = None) -> None:
        super().__init__()
        self.organisation_id = organisation_id
        self.establishments = establishments or []

    def compose(self) -> ComposeResult:
        yield Static("Rechercher un compte (identifiant, nom, e-mail, profil, établissement, statut)",
                     id="search-title", markup=False)
        yield Input(placeholder="ex. dupont, K7MP4XQ2, @exemple.fr…", id="search-input", max_length=100)
        with Horizontal(id="search-filters"):
            yield Select([(Text(PROFILE_LABELS[p]), p.value) for p in Profile], prompt="Tout profil",
                         id="search-profile", compact=True)
            yield Select([(Text("Actifs"), "active"), (Text("Désactivés"), "deactivated")], prompt="Tout statut",
                         id="search-status", compact=True)
            yield Select([(Text(e.name), e.id) for e in self.establishments], prompt="Tout établissement",
                         id="search-establishment", compact=True)
        yield CpfTable(id="search-results")
        yield Static("", id="search-count", markup=False)
        yield KeyBar()

    @property
    def query_input(self) -> Input:
        return self.query_one("#search-input", Input)

    @property
    def table(self) -> CpfTable:
        return self.query_one("#search-results", CpfTable)

    def on_mount(self) -> None:
        self.table.add_columns("Identifiant", "Nom", "Profil", "Établissement", "Statut")
        self.query_input.focus()
        self.run_search(0.0)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_focus_query(self) -> None:
        self.query_input.focus()

    @on(Input.Changed, "#search-input")
    def _typed(self) -> None:
        self.run_search(self.debounce_seconds)

    @on(Select.Changed)
    def _filtered(self) -> None:
        self.run_search(0.0)

    @on(Input.Submitted, "#search-input")
    def _to_results(self) -> None:
        if self.table.row_count:
            self.table.focus()

    def _filter(self, selector: str) -> object:
        value = self.query_one(selector, Select).value
        return None if value is Select.NULL else value

    @work(exclusive=True, group="search", exit_on_error=False)
    async def run_search(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)  # exclusive worker: a new key cancels this one
        rows = await accounts.search_accounts(
            self.ctx, self.query_input.value, organisation_id=self.organisation_id,
            profile=self._filter("#search-profile"), status=self._filter("#search-status"),
            establishment_id=self._filter("#search-establishment"),
        )
        self.table.replace_rows(
            ((Text(row.identifier), Text(row.full_name), Text(row.profile_label), Text(row.establishment_name),
              Text(row.status_label)), str(row.id))
            for row in rows
        )
        more = " (affinez la recherche pour voir les autres)" if len(rows) >= accounts.SEARCH_LIMIT else ""
        self.show_message(f"{len(rows)} résultat(s){more}")

    @on(DataTable.RowSelected, "#search-results")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        self.dismiss(int(event.row_key.value))
