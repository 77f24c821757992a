"""Holder search (titulaires): by NIR, or by the beginning of the name with the date of birth."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable
from screens.widgets.header import CpfHeader


class HolderSearchScreen(CpfScreen):
    """Type a NIR (spaces allowed) or a name and a date of birth, then open a holder's page."""

    BINDINGS = [
        Binding("slash", "focus_search", "Rechercher", tooltip="Saisir un NIR ou un nom", id="holders-search"),
        Binding("escape", "back", "Retour", tooltip="Revenir à l'accueil", id="holders-back"),
    ]
    MESSAGE_ID = "holder-message"

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        yield Static("Titulaires — recherche par NIR, ou par début du nom et date de naissance", id="holders-title",
                     markup=False)
        with Horizontal(id="holders-form"):
            yield Label("NIR ou nom", classes="holders-label")
            yield Input(placeholder="1 85 05 78 006 084 91 ou DUPO", id="holder-query", max_length=60, compact=True)
        with Horizontal(id="holders-form-birth"):
            yield Label("Né(e) le", classes="holders-label")
            yield Input(placeholder="JJ/MM/AAAA (recherche par nom)", id="holder-birth", max_length=10, compact=True)
        yield Static("", id="holder-message", markup=False)
        yield CpfTable(id="holder-results")
        yield KeyBar()

    @property
    def query_input(self) -> Input:
        return self.query_one("#holder-query", Input)

    @property
    def birth_input(self) -> Input:
        return self.query_one("#holder-birth", Input)

    @property
    def results(self) -> CpfTable:
        return self.query_one("#holder-results", CpfTable)

    def on_mount(self) -> None:
        self.results.add_columns("NIR", "Nom de naissance", "Nom d'usage", "Prénoms", "Né(e) le")
        self.query_input.focus()

    def action_focus_search(self) -> None:
        self.query_input.focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Input.Submitted, "#holder-query")
    def _query_entered(self) -> None:
        from cpf_tui.services.holders import looks_like_nir

        if looks_like_nir(self.query_input.value) or self.birth_input.value.strip():
            self.run_search()
        else:
            self.birth_input.focus()

    @on(Input.Submitted, "#holder-birth")
    def _birth_entered(self) -> None:
        self.run_search()

    @work(exclusive=True, group="holder-search", exit_on_error=False)
    async def run_search(self) -> None:
        from cpf_tui.services import holders
        from cpf_tui.services.validation import parse_date_fr

        text = self.query_input.value
        # The previous answer goes at once: a refused search (bad NIR key) must not leave it on screen.
        self.results.replace_rows(())
        with self.results.loading_while():
            if holders.looks_like_nir(text):
                rows = await holders.search(self.ctx, nir=text)
            else:
                birth = parse_date_fr(self.birth_input.value, "Date de naissance")
                rows = await holders.search(self.ctx, name=text, birth_date=birth)
        self.results.replace_rows(
            ((Text(row.nir), Text(row.nom_naissance), Text(row.nom_usage), Text(row.prenoms),
              Text(row.date_naissance.strftime("%d/%m/%Y"))), str(row.id))
            for row in rows
        )
        if rows:
            more = " (50 premiers, précisez la recherche)" if len(rows) >= holders.SEARCH_LIMIT else ""
            self.show_message(f"{len(rows)} titulaire(s) trouvé(s){more} — Entrée pour ouvrir.")
            self.results.focus()
        else:
            self.show_message("Aucun titulaire ne correspond.")

    @on(DataTable.RowSelected, "#holder-results")
    def _open(self, event: DataTable.RowSelected) -> None:
        from screens.holder_page import prepared_holder_page

        if event.row_key.value:
            holder_id = int(event.row_key.value)
            self.push_reusing(lambda kept: prepared_holder_page(self.ctx, holder_id, kept), group="open-holder")
