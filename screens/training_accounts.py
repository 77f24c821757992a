"""The training accounts of the sandbox, shown from the login screen (the terminal was cleared)."""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from screens.widgets.keybar import KeyBar


IDENTITY_WIDTH = 19
ROLE_WIDTH = 24
ORGANISATION_WIDTH = 27


class TrainingAccountsModal(ModalScreen[None]):
    """Identifier, password, role, profile, organisation and state of each training account."""

    DEFAULT_CSS = """
    TrainingAccountsModal { align: center middle; }
    TrainingAccountsModal > Vertical {
        width: 100%; height: 100%; border: thick $primary; background: $surface; padding: 0;
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
            yield Static("Par compte : identifiant et mot de passe, rôle et profil, organisme et état.",
                         markup=False)
            yield DataTable(id="training-accounts-table", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        from cpf_tui.services.sandbox import training_accounts

        table = self.query_one(DataTable)
        # Six fields in three two-line columns, so that everything fits in 80 columns without scrolling.
        table.add_column("Identifiant", width=IDENTITY_WIDTH, key="identity")
        table.add_column("Rôle", width=ROLE_WIDTH, key="role")
        table.add_column("Organisme", width=ORGANISATION_WIDTH, key="organisation")
        for row in training_accounts():
            organisation = textwrap.wrap(row.organisation, ORGANISATION_WIDTH) or [""]
            cells = (
                Text(f"{row.identifier}\n{row.password}"),
                Text(f"{row.role_label}\n{row.profile_label}"),
                Text("\n".join([*organisation, row.state])),
            )
            table.add_row(*cells, height=max(2, len(organisation) + 1), key=row.identifier)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
