"""The audit journal for administrators (their organisation) and CDC operators (everything):
filters by who, action, target and period, pages, details, export to .xlsx."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from cpf_tui.services.journal import JournalFilters, JournalPage, JournalRow
from cpf_tui.text import display
from cpf_tui.user_files import UserFiles
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable
from screens.widgets.header import CpfHeader

FILTER_FIELDS = (
    ("actor", "Acteur"),
    ("action", "Action"),
    ("target", "Cible"),
    ("date_from", "Du jj/mm/aaaa"),
    ("date_to", "Au jj/mm/aaaa"),
)


class JournalScreen(CpfScreen):
    """Newest events first, one page at a time."""

    HELP_TITLE = "Journal d'audit"
    HELP_TEXT = (
        "Les événements enregistrés (connexions, créations, modifications…), les plus récents d'abord."
        " Filtres : identifiant de l'acteur, action, cible, période du … au … (JJ/MM/AAAA) ; Entrée applique."
    )
    AUTO_FOCUS = "#journal-table"
    BINDINGS = [
        Binding("escape", "back", "Retour", tooltip="Quitter les filtres, ou revenir à l'écran précédent",
                id="journal-back"),
        Binding("slash", "filter", "Filtrer", tooltip="Saisir les filtres (Entrée pour appliquer)",
                id="journal-filter"),
        Binding("c", "clear_filters", "Effacer les filtres", tooltip="Effacer tous les filtres", id="journal-clear",
                show=False),
        Binding("greater_than_sign", "next_page", "Page suivante", tooltip="Afficher la page suivante",
                id="journal-next-page", show=False),
        Binding("less_than_sign", "previous_page", "Page précédente", tooltip="Afficher la page précédente",
                id="journal-previous-page", show=False),
        Binding("s", "export", "Exporter", tooltip="Exporter les événements filtrés au format .xlsx",
                id="journal-export"),
        Binding("f5", "reload", "Actualiser", tooltip="Relire le journal", id="journal-reload", show=False),
    ]

    class PageLoaded(Message):
        """A page of the journal was read."""

        def __init__(self, page: JournalPage) -> None:
            super().__init__()
            self.page = page

    def __init__(self) -> None:
        super().__init__()
        self.filters = JournalFilters()
        self.page: JournalPage | None = None
        self.page_index = 0

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        with Horizontal(id="journal-filters"):
            for name, placeholder in FILTER_FIELDS:
                yield Input(placeholder=placeholder, id=f"journal-filter-{name.replace('_', '-')}",
                            max_length=100, compact=True)
        yield CpfTable(id="journal-table")
        yield Static("", id="journal-status", markup=False)
        yield KeyBar()

    @property
    def table(self) -> CpfTable:
        return self.query_one("#journal-table", CpfTable)

    def filter_input(self, name: str) -> Input:
        return self.query_one(f"#journal-filter-{name.replace('_', '-')}", Input)

    def on_mount(self) -> None:
        table = self.table
        table.add_column("N°", width=4, key="seq")
        table.add_column("Date", width=16, key="at")
        table.add_column("Acteur", width=9, key="actor")
        table.add_column("Action", width=17, key="action")
        table.add_column("Cible", width=13, key="target")
        table.add_column("Résultat", width=7, key="outcome")
        table.focus()
        self.load(0)

    MESSAGE_ID = "journal-status"

    def action_state(self, action: str) -> bool | None:
        if action == "next_page":
            return None if self.page is None or self.page.page + 1 >= self.page.page_count else True
        if action == "previous_page":
            return None if self.page is None or self.page.page == 0 else True
        if action == "export":
            return None if self.page is None or self.page.total == 0 else True
        return True

    # -- loading ---------------------------------------------------------------------------------
    def read_filters(self) -> JournalFilters:
        return JournalFilters(**{name: self.filter_input(name).value for name, _ in FILTER_FIELDS})

    @work(exclusive=True, group="journal", exit_on_error=False)
    async def load(self, page: int) -> None:
        from cpf_tui.services import journal

        with self.table.loading_while():
            result = await journal.search(self.ctx, self.filters, page=page)
        self.post_message(self.PageLoaded(result))

    def on_journal_screen_page_loaded(self, message: PageLoaded) -> None:
        self.show_page(message.page)

    def show_page(self, page: JournalPage) -> None:
        self.page = page
        self.page_index = page.page
        self.table.replace_rows(
            ((Text(str(row.seq)), Text(display(row.at_text[:16])),
              *(Text(display(value), no_wrap=True, overflow="ellipsis")
                for value in (row.actor, row.action_label, row.target_text, row.outcome))), str(row.seq))
            for row in page.rows
        )
        filtered = " (filtré)" if page.filters.describe() else ""
        self.show_message(
            f"Page {page.page + 1}/{page.page_count} — {page.total} événement(s){filtered}"
            " — Entrée : détail, < > : pages, c : sans filtre"
        )
        self.refresh_bindings()

    @property
    def current_row(self) -> JournalRow | None:
        if self.page is None or not self.page.rows:
            return None
        index = self.table.cursor_row
        return self.page.rows[index] if 0 <= index < len(self.page.rows) else None

    # -- actions ---------------------------------------------------------------------------------
    def _in_filters(self) -> bool:
        return isinstance(self.focused, Input)

    def action_back(self) -> None:
        if self._in_filters():
            self.table.focus()
            return
        self.app.pop_screen()

    def action_filter(self) -> None:
        self.filter_input("actor").focus()

    @on(Input.Submitted)
    def _apply_filters(self) -> None:
        self.filters = self.read_filters()
        self.table.focus()
        self.load(0)

    def action_clear_filters(self) -> None:
        for name, _ in FILTER_FIELDS:
            self.filter_input(name).value = ""
        self.filters = JournalFilters()
        self.load(0)

    def action_next_page(self) -> None:
        if self.page is not None and self.page.page + 1 < self.page.page_count:
            self.load(self.page.page + 1)

    def action_previous_page(self) -> None:
        if self.page is not None and self.page.page > 0:
            self.load(self.page.page - 1)

    def action_reload(self) -> None:
        self.load(self.page_index)

    @on(DataTable.RowSelected, "#journal-table")
    def _open_detail(self) -> None:
        row = self.current_row
        if row is not None:
            self.app.push_screen(JournalEventModal(row))

    @work(exclusive=True, group="journal-export", exit_on_error=False)
    async def action_export(self) -> None:
        from cpf_tui.services import journal
        from screens.modals import MessageModal

        # Over SSH the export goes to the person's drop folder (fetched by SFTP), named relative to it.
        files = UserFiles.for_settings(self.settings)
        target = files.output_folder(self.settings.data_path / "exports") / journal.default_export_path(
            self.settings.data_path).name
        self.show_message("Export en cours…")
        written, count = await journal.export_xlsx(self.ctx, self.filters, target)
        shown = files.shown(written)
        self.show_message(f"{count} événement(s) exporté(s) dans {shown}")
        self.app.push_screen(MessageModal("Export du journal", f"{count} événement(s) exporté(s) dans :\n{shown}"))


def event_text(row: JournalRow) -> Text:
    """Every field of an event in French (labels of the service, never a raw key or code), user data kept
    as plain text with control and bidi characters made visible."""
    from cpf_tui.services.journal import detail_lines, target_kind

    text = Text()
    reference = f"{target_kind(row.target_type)} {row.target_id}".strip()
    for label, value in (
        ("N°", str(row.seq)),
        ("Date", row.at_text),
        ("Acteur", row.actor),
        ("Action", row.action_label),
        ("Résultat", row.outcome),
        ("Cible", f"{row.target_label} ({reference})" if row.target_label and reference else row.target_text),
        ("Session", row.session_token or "—"),
        ("Utilisateur SSH", row.ssh_user or "—"),
    ):
        text.append(f"{label} : ", style="bold")
        text.append(f"{display(value)}\n")
    for label, values in (("Avant", row.before), ("Après", row.after)):
        text.append(f"{label} :", style="bold")
        lines = detail_lines(values)
        text.append("\n" if lines else " —\n")
        for field_name, shown in lines:
            text.append(f"  {field_name} : ", style="italic")
            text.append(f"{display(shown)}\n")
    return text


class JournalEventModal(ModalScreen[None]):
    """One event in full (before/after included)."""

    DEFAULT_CSS = """
    JournalEventModal { align: center middle; }
    JournalEventModal > Vertical {
        width: 76; max-width: 100%; height: 20; max-height: 100%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    JournalEventModal #journal-event-scroll { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape", "close", "Fermer", tooltip="Fermer le détail", id="journal-event-close"),
        Binding("enter", "close", "Fermer", tooltip="Fermer le détail", id="journal-event-close-enter", show=False),
    ]

    def __init__(self, row: JournalRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll(id="journal-event-scroll"):
                yield Static(event_text(self.row), id="journal-event-text", markup=False)

    def on_mount(self) -> None:
        self.query_one("#journal-event-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
