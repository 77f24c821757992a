"""Outbox state for CDC operators: counts per status, latest messages, send now, retry a failed one."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import Static

from cpf_tui import clock
from cpf_tui.services import mail
from models.enums import OutboxStatus
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable

FILTERS: list[str | None] = [None, "pending", "sending", "sent", "failed"]


def _when(moment: datetime | None) -> str:
    return clock.shown(moment, "%d/%m %H:%M")


class OutboxScreen(CpfScreen):
    """The message bodies are never shown: they may still hold a temporary password."""

    BINDINGS = [
        Binding("s", "send_now", "Envoyer", tooltip="Envoyer maintenant les messages en attente", id="outbox-send"),
        Binding("t", "retry", "Remettre en file", tooltip="Remettre en file le message en échec sélectionné",
                id="outbox-retry"),
        Binding("f", "cycle_filter", "Filtre", tooltip="Filtrer par statut", id="outbox-filter"),
        Binding("f5", "reload", "Actualiser", tooltip="Relire la file d'envoi", id="outbox-reload"),
        Binding("escape", "back", "Retour", tooltip="Revenir à l'accueil", id="outbox-back"),
    ]

    status_filter: reactive[str | None] = reactive(None)

    def compose(self) -> ComposeResult:
        yield Static("File d'envoi des courriels", id="outbox-title", markup=False)
        yield Static("", id="outbox-counts", markup=False)
        yield CpfTable(id="outbox-table")
        yield KeyBar()

    @property
    def table(self) -> CpfTable:
        return self.query_one("#outbox-table", CpfTable)

    def on_mount(self) -> None:
        self.table.add_columns("N°", "Créé", "Destinataire", "Objet", "Statut", "Essais", "Prochain", "Erreur")
        self.table.focus()
        self.load()

    def watch_status_filter(self) -> None:
        if self.is_mounted:
            self.load()

    @work(exclusive=True, group="outbox", exit_on_error=False)
    async def load(self) -> None:
        counts, rows = await mail.outbox_overview(self.ctx, status=self.status_filter)
        parts = [f"{OutboxStatus(k).label} : {v}" for k, v in counts.items()]
        shown = OutboxStatus(self.status_filter).label if self.status_filter else "tous"
        self.query_one("#outbox-counts", Static).update("   ".join(parts) + f"   (affichés : {shown})")
        self.table.replace_rows(
            ((str(row.id), _when(row.created_at), Text(row.to_address), Text(row.subject), row.status_label,
              str(row.attempts), _when(row.next_attempt_at) if row.status == "pending" else "—",
              Text(row.last_error[:60])), str(row.id))
            for row in rows
        )

    def action_reload(self) -> None:
        self.load()

    def action_cycle_filter(self) -> None:
        self.status_filter = FILTERS[(FILTERS.index(self.status_filter) + 1) % len(FILTERS)]

    def action_back(self) -> None:
        self.app.pop_screen()

    @work(exclusive=True, group="outbox-action", exit_on_error=False)
    async def action_send_now(self) -> None:
        report = await mail.send_now(self.ctx, self.settings)
        self.notify(report.summary(), title="Envoi", severity="error" if report.failed else "information")
        self.load()

    @work(exclusive=True, group="outbox-action", exit_on_error=False)
    async def action_retry(self) -> None:
        table = self.table
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        await mail.retry_failed(self.ctx, int(key))
        self.notify(f"Message {key} remis en file d'envoi.", title="File d'envoi")
        self.load()
