"""The training accounts of the sandbox, shown from the login screen (the terminal was cleared)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static


class TrainingAccountsModal(ModalScreen[None]):
    """Identifier, password, role, profile, organisation and state of each training account."""

    DEFAULT_CSS = """
    TrainingAccountsModal { align: center middle; }
    TrainingAccountsModal > Vertical {
        width: 100%; height: 100%; border: thick $primary; background: $surface; padding: 0 1;
    }
    TrainingAccountsModal DataTable { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape", "close", "Fermer", tooltip="Revenir à la connexion", id="training-accounts-close"),
        Binding("f3", "close", "Fermer", show=False, id="training-accounts-close-f3"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Comptes de formation (mode formation uniquement)", markup=False)
            yield DataTable(id="training-accounts-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        from cpf_tui.services.sandbox import training_accounts

        table = self.query_one(DataTable)
        table.add_columns("Identifiant", "Mot de passe", "Rôle", "Profil", "Organisme", "État")
        for row in training_accounts():
            table.add_row(row.identifier, row.password, row.role_label, row.profile_label, row.organisation,
                          row.state)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
