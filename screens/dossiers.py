"""Training files list: filters (status, holder, establishment, dates), sort, pages of 50."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from cpf_tui.permissions import Capability
from models.enums import DossierStatus
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable
from screens.widgets.header import CpfHeader

SORT_ORDER = ["-created", "created", "number", "-number", "start_date", "-start_date"]


class DossierListScreen(CpfScreen):
    """Files in the user's scope; Entrée opens one, `n` creates a draft (profile Création and above)."""

    BINDINGS = [
        Binding("n", "new", "Nouveau", tooltip="Créer un dossier en cours d'élaboration", id="dossiers-new"),
        Binding("slash", "focus_filters", "Filtrer", tooltip="Aller aux filtres", id="dossiers-filter"),
        Binding("t", "cycle_sort", "Trier", tooltip="Changer l'ordre de tri", id="dossiers-sort"),
        Binding("right_square_bracket", "next_page", "Page suiv.", tooltip="Page suivante", id="dossiers-next"),
        Binding("left_square_bracket", "previous_page", "Page préc.", tooltip="Page précédente",
                id="dossiers-previous"),
        Binding("escape", "back", "Retour", tooltip="Revenir à l'accueil", id="dossiers-back"),
    ]

    ACTION_CAPABILITY = {"new": Capability.DOSSIER_EDIT_DRAFT}
    MESSAGE_ID = "dossiers-message"

    def __init__(self, *, page=None, establishments: list[tuple[int, str]] | None = None) -> None:  # noqa: ANN001
        super().__init__()
        self.page_number = 1
        self.sort = SORT_ORDER[0]
        self.has_next = False
        self.first_page = page
        """The first page (`dossiers.DossierPage`), when read before the screen is shown (`prepared`)."""
        self.establishments = establishments
        self.left = False
        """Whether another screen was shown over this one (the list is read again when it comes back)."""

    @classmethod
    async def prepared(cls, ctx) -> DossierListScreen:  # noqa: ANN001 - a RequestContext
        """The list with its first page and establishments read before it is shown (`push_when_read`)."""
        from cpf_tui.services import dossiers
        from cpf_tui.services.dossiers import DossierFilter

        page = await dossiers.list_dossiers(ctx, DossierFilter(sort=SORT_ORDER[0]), page=1)
        return cls(page=page, establishments=await dossiers.establishments_in_scope(ctx))

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        with Horizontal(id="dossiers-filters"):
            yield Select(
                [(Text(s.label), s.value) for s in DossierStatus], prompt="Tous statuts", id="filter-status",
                compact=True,
            )
            yield Select([(Text(name), i) for i, name in self.establishments or ()], prompt="Tous établissements",
                         id="filter-establishment", compact=True)
        with Horizontal(id="dossiers-filters-2"):
            yield Input(placeholder="Titulaire : NIR ou nom", id="filter-holder", compact=True, max_length=60)
            yield Input(placeholder="Début du JJ/MM/AAAA", id="filter-from", compact=True, max_length=10)
            yield Input(placeholder="au JJ/MM/AAAA", id="filter-to", compact=True, max_length=10)
        yield Static("", id="dossiers-message", markup=False)
        yield CpfTable(id="dossiers-table")
        yield KeyBar()

    @property
    def table(self) -> CpfTable:
        return self.query_one("#dossiers-table", CpfTable)

    def on_mount(self) -> None:
        self.table.add_columns("Numéro", "Statut", "Titulaire", "Formation", "Début", "Heures")
        self.table.focus()
        if self.establishments is None:
            self.load_establishments()
        if self.first_page is None:
            self.load()
        else:
            self.show_page(self.first_page)

    def on_screen_suspend(self) -> None:
        self.left = True

    def on_screen_resume(self) -> None:
        """Back from a file: read the page again (a file validated, closed or deleted has changed)."""
        if self.left:
            self.load()

    def action_state(self, action: str) -> bool | None:
        if action == "next_page":
            return self.has_next
        if action == "previous_page":
            return self.page_number > 1
        return True

    def filters(self):
        from cpf_tui.services.dossiers import DossierFilter
        from cpf_tui.services.validation import parse_date_fr

        status = self.query_one("#filter-status", Select).value
        establishment = self.query_one("#filter-establishment", Select).value
        return DossierFilter(
            status=None if status is Select.NULL else str(status),
            holder=self.query_one("#filter-holder", Input).value,
            establishment_id=None if establishment is Select.NULL else int(establishment),
            start_from=parse_date_fr(self.query_one("#filter-from", Input).value, "Début du"),
            start_to=parse_date_fr(self.query_one("#filter-to", Input).value, "Début au"),
            sort=self.sort,
        )

    @work(exclusive=True, group="dossiers-establishments", exit_on_error=False)
    async def load_establishments(self) -> None:
        from cpf_tui.services import dossiers

        options = await dossiers.establishments_in_scope(self.ctx)
        self.query_one("#filter-establishment", Select).set_options([(Text(name), i) for i, name in options])

    @work(exclusive=True, group="dossiers-list", exit_on_error=False)
    async def load(self) -> None:
        from cpf_tui.services import dossiers

        self.show_page(await dossiers.list_dossiers(self.ctx, self.filters(), page=self.page_number))

    def show_page(self, page) -> None:  # noqa: ANN001 - dossiers.DossierPage
        from cpf_tui.services.dossiers import SORT_LABELS, format_date_fr
        from cpf_tui.services.ledger import format_hours

        self.has_next = page.has_next
        self.table.replace_rows(
            ((Text(row.number), Text(row.status.label), Text(row.holder_name), Text(row.training_title),
              Text(format_date_fr(row.start_date)), Text(format_hours(row.requested_minutes))), str(row.id))
            for row in page.rows
        )
        total = f"{page.total:,}".replace(",", "\u00a0")
        shown = f"{len(page.rows)} dossier(s) sur {total}" if page.rows else f"Aucun dossier sur cette page ({total} en tout)"
        if not page.total:
            shown = "Aucun dossier"
        self.show_message(f"Page {page.page}/{page.page_count} — {shown} — tri : {SORT_LABELS[self.sort]}")
        self.refresh_bindings()

    # -- filters and pages --------------------------------------------------------------------------
    @on(Input.Submitted)
    def _filter_submitted(self) -> None:
        self.page_number = 1
        self.load()
        self.table.focus()

    @on(Select.Changed)
    def _select_changed(self) -> None:
        self.page_number = 1
        self.load()

    def action_focus_filters(self) -> None:
        self.query_one("#filter-holder", Input).focus()

    def action_cycle_sort(self) -> None:
        self.sort = SORT_ORDER[(SORT_ORDER.index(self.sort) + 1) % len(SORT_ORDER)]
        self.page_number = 1
        self.load()

    def action_next_page(self) -> None:
        if self.has_next:
            self.page_number += 1
            self.load()

    def action_previous_page(self) -> None:
        if self.page_number > 1:
            self.page_number -= 1
            self.load()

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- opening ------------------------------------------------------------------------------------
    def action_new(self) -> None:
        from screens.dossier_form import DossierFormScreen

        self.app.push_screen(DossierFormScreen(None))

    @on(DataTable.RowSelected, "#dossiers-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        from screens.dossier_form import open_dossier

        if event.row_key.value:
            open_dossier(self, int(event.row_key.value))
