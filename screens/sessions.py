"""Sessions ouvertes: who is connected in the administrator's scope, and ending a user's sessions."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from cpf_tui import clock
from cpf_tui.services.sessions import OpenSession
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable
from screens.widgets.header import CpfHeader


def _moment(value: datetime) -> str:
    return clock.shown(value, "%d/%m %H:%M")


class SessionsScreen(CpfScreen):
    """One line per open session, most recent activity first."""

    BINDINGS = [
        Binding("escape", "back", "Retour", tooltip="Revenir à l'accueil", id="sessions-back"),
        Binding("f5", "refresh", "Actualiser", tooltip="Relire la liste des sessions ouvertes", id="sessions-refresh"),
        Binding("x", "end_sessions", "Fermer ses sessions",
                tooltip="Fermer toutes les sessions de l'utilisateur sélectionné (confirmation)", id="sessions-end"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[OpenSession] = []

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        yield Static("Sessions ouvertes", id="sessions-title", markup=False)
        yield CpfTable(id="sessions-table")
        yield Static("", id="sessions-status", markup=False)
        yield KeyBar()

    @property
    def table(self) -> CpfTable:
        return self.query_one("#sessions-table", CpfTable)

    @property
    def status(self) -> Static:
        return self.query_one("#sessions-status", Static)

    def on_mount(self) -> None:
        self.table.add_columns("Identifiant", "Nom", "Rôle", "Depuis", "Activité", "Origine")
        self.table.focus()
        self.load()

    @work(exclusive=True, group="sessions", exit_on_error=False)
    async def load(self) -> None:
        """Read the open sessions (errors, an ended session included, go to the App's handler)."""
        from cpf_tui.services import sessions

        with self.table.loading_while():
            rows = await sessions.list_open_sessions(self.ctx)
        self.rows = rows
        self.table.replace_rows(
            ((Text(row.identifier), Text(f"{row.full_name} (vous)" if row.is_self else row.full_name),
              Text(row.role_label), Text(_moment(row.started_at)), Text(_moment(row.last_activity_at)),
              Text(row.origin)), str(index))
            for index, row in enumerate(rows)
        )
        self.status.update(f"{len(rows)} session(s) ouverte(s). x : fermer les sessions de la personne choisie.")

    def selected(self) -> OpenSession | None:
        if not self.rows or self.table.cursor_row is None or self.table.cursor_row >= len(self.rows):
            return None
        return self.rows[self.table.cursor_row]

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self.load()

    def action_end_sessions(self) -> None:
        from screens.modals import ConfirmModal

        row = self.selected()
        if row is None:
            return
        if not row.can_end:
            self.status.update("Vous ne pouvez pas fermer les sessions de ce compte (vous-même, ou un niveau égal"
                               " ou supérieur au vôtre).")
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.end_sessions(row.account_id, row.full_name)

        self.app.push_screen(
            ConfirmModal(f"Fermer toutes les sessions de {row.full_name} ({row.identifier}) ?", "Fermer", "Annuler"),
            answered,
        )

    @work(exclusive=True, group="sessions-end", exit_on_error=False)
    async def end_sessions(self, account_id: int, full_name: str) -> None:
        from cpf_tui.services import sessions

        ended = await sessions.end_account_sessions(self.ctx, account_id)
        self.app.notify(f"{ended} session(s) de {full_name} fermée(s).", title="Sessions", markup=False)
        self.load()
