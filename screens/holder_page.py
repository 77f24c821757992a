"""A holder's page: identity, coordonnées médiatiques, CPF and DIF balances, and the ledger history."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from cpf_tui import clock
from cpf_tui.errors import CpfError
from cpf_tui.permissions import Capability
from cpf_tui.services.holders import MovementLine
from screens.base import CpfModal, CpfScreen
from screens.widgets.form_guard import leave_form, remember_fields
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable
from screens.widgets.header import CpfHeader


class HolderPageScreen(CpfScreen):
    """Everything about one holder; `n` starts a file for them, `e` edits the e-mail and mobile phone, `s` sets
    the DIF balance. Files of other organisations show their status and hours only (services.holders)."""

    BINDINGS = [
        Binding("n", "new_file", "Nouveau dossier", tooltip="Créer un dossier de formation pour ce titulaire",
                id="holder-new-file"),
        Binding("e", "edit_contact", "Coordonnées", tooltip="Modifier l'e-mail et le téléphone mobile",
                id="holder-edit-contact"),
        Binding("s", "set_dif", "Solde DIF", tooltip="Saisir le solde DIF (justification obligatoire)",
                id="holder-set-dif"),
        Binding("escape", "back", "Retour", tooltip="Revenir à la recherche", id="holder-back"),
    ]

    ACTION_CAPABILITY = {"edit_contact": Capability.HOLDER_UPDATE_CONTACT, "set_dif": Capability.HOLDER_SET_DIF,
                         "new_file": Capability.DOSSIER_EDIT_DRAFT}
    MESSAGE_ID = "holder-identity"

    def __init__(self, holder_id: int, *, page=None) -> None:  # noqa: ANN001 - holders.HolderPage
        super().__init__()
        self.holder_id = holder_id
        self.left = False
        """Whether another screen was shown over this one (read again when it comes back)."""
        self.page = page
        """What is shown (`holders.HolderPage`); given by `prepared_holder_page`, the screen is composed filled in."""

    def compose(self) -> ComposeResult:
        identity, contact, balances = self.card_texts() if self.page is not None else ("Chargement…", "", "")
        yield CpfHeader()
        with Vertical(id="holder-card"):
            yield Static(identity, id="holder-identity", markup=False)
            yield Static(contact, id="holder-contact", markup=False)
            yield Static(balances, id="holder-balances", markup=False)
        yield Static(self.files_title(), id="holder-files-title")
        yield CpfTable(id="holder-files")
        yield Static("Historique du compte d'heures", id="holder-ledger-title")
        yield CpfTable(id="holder-ledger")
        yield KeyBar()

    @property
    def ledger_table(self) -> CpfTable:
        return self.query_one("#holder-ledger", CpfTable)

    @property
    def files_table(self) -> CpfTable:
        return self.query_one("#holder-files", CpfTable)

    def on_mount(self) -> None:
        self.files_table.add_columns("Dossier", "Statut", "Formation", "Demandé", "Réservé", "Réalisé")
        self.ledger_table.add_columns("Date", "Mouvement", "Heures", "Dossier", "Auteur", "Motif")
        self.ledger_table.focus()
        if self.page is None:
            self.load()
        else:
            self.fill_tables()

    @work(exclusive=True, group="holder-page", exit_on_error=False)
    async def load(self) -> None:
        from cpf_tui.services import holders

        self.show_page(await holders.holder_page(self.ctx, self.holder_id))

    def show_page(self, page) -> None:  # noqa: ANN001 - holders.HolderPage
        """Show `page` (read again, or another holder's in this page kept for the session: `push_reusing`)."""
        self.page = page
        self.holder_id = page.id
        identity, contact, balances = self.card_texts()
        self.query_one("#holder-identity", Static).update(identity)
        self.query_one("#holder-contact", Static).update(contact)
        self.query_one("#holder-balances", Static).update(balances)
        self.query_one("#holder-files-title", Static).update(self.files_title())
        self.fill_tables()

    def show_holder(self, page) -> None:  # noqa: ANN001 - holders.HolderPage
        """Show another holder in this page, kept for the session (`push_reusing`): read already, not read
        again when shown; the history has the focus, as on a new page."""
        self.left = False
        self.show_page(page)
        self.ledger_table.focus()

    def card_texts(self) -> tuple[str, str, str]:
        """The holder's identity, contact and balances lines."""
        from cpf_tui.services.ledger import format_hours
        from cpf_tui.services.validation import format_phone

        page = self.page
        names = page.nom_naissance + (f" (usage : {page.nom_usage})" if page.nom_usage else "")
        b = page.balances
        return (
            f"{page.prenoms} {names} — NIR {page.nir} — né(e) le {page.date_naissance:%d/%m/%Y}",
            f"E-mail : {page.email or '—'}   Mobile : {format_phone(page.mobile) or '—'}",
            f"CPF disponible {format_hours(b.cpf_available)} (acquis {format_hours(b.cpf_acquired)}, "
            f"réservé {format_hours(b.cpf_reserved)}, consommé {format_hours(b.cpf_consumed)})\n"
            f"DIF disponible {format_hours(b.dif_available)} (solde {format_hours(b.dif_total)}, "
            f"réservé {format_hours(b.dif_reserved)}, consommé {format_hours(b.dif_consumed)})",
        )

    def files_title(self) -> str:
        return "Dossiers de formation" if self.page is None else f"Dossiers de formation : {len(self.page.files)}"

    def fill_tables(self) -> None:
        from cpf_tui.services.ledger import format_hours

        page = self.page
        self.files_table.replace_rows(
            ((Text(f.label), Text(f.status.label), Text(f.training_title), Text(format_hours(f.requested_minutes)),
              Text(format_hours(f.reserved_minutes)), Text(format_hours(f.done_minutes))),
             str(f.dossier_id) if f.dossier_id is not None else f"other-{index}")
            for index, f in enumerate(page.files)
        )

        def hours(line: MovementLine) -> str:
            shown = format_hours(line.minutes)
            return shown if line.previous_minutes is None else f"{format_hours(line.previous_minutes)} → {shown}"

        self.ledger_table.replace_rows(
            ((Text(clock.shown(line.at, "%d/%m/%Y")), Text(line.label), Text(hours(line)),
              Text(line.dossier_number), Text(line.author), Text(line.reason)), str(index))
            for index, line in enumerate(reversed(page.movements))
        )

    def action_back(self) -> None:
        self.app.pop_screen()

    def on_screen_suspend(self) -> None:
        self.left = True

    def on_screen_resume(self) -> None:
        """Back from a file or a dialog: read again (balances and files may have changed)."""
        if self.left and self.page is not None:
            self.load()

    def action_new_file(self) -> None:
        """A new file with this holder's NIR filled in (the form shows the holder's balances)."""
        from screens.dossier_form import DossierFormScreen

        if self.page is not None:
            self.app.push_screen(DossierFormScreen(None, holder_nir=self.page.nir))

    @on(CpfTable.RowSelected, "#holder-files")
    def _open_file(self, event: CpfTable.RowSelected) -> None:
        from screens.dossier_form import open_dossier

        key = event.row_key.value or ""
        if key.isdigit():
            open_dossier(self, int(key))

    def action_edit_contact(self) -> None:
        if self.page is not None:
            self.app.push_screen(ContactModal(self.page), self._after_change)

    def action_set_dif(self) -> None:
        if self.page is not None:
            self.app.push_screen(DifModal(self.page), self._after_change)

    def _after_change(self, changed: bool | None) -> None:
        if changed:
            self.load()



async def prepared_holder_page(ctx, holder_id: int, kept: HolderPageScreen | None = None) -> HolderPageScreen:  # noqa: ANN001
    """The page of holder `holder_id`, read before it is shown: `kept` filled again (`CpfSeam.push_reusing`),
    or a new page composed with it."""
    from cpf_tui.services import holders

    page = await holders.holder_page(ctx, holder_id)
    if kept is None:
        return HolderPageScreen(holder_id, page=page)
    kept.show_holder(page)
    return kept

class HolderModal(CpfModal[bool]):
    """A small keyboard form over the holder's page: Ctrl+S saves, Échap cancels, errors stay visible."""

    DEFAULT_CSS = """
    HolderModal { align: center middle; }
    HolderModal > Vertical {
        width: 70; max-width: 100%; height: auto; border: thick $primary; background: $surface; padding: 0 1;
    }
    HolderModal .modal-title { text-style: bold; }
    HolderModal Horizontal { height: auto; }
    HolderModal Label { width: 18; }
    HolderModal Input { width: 1fr; }
    HolderModal .modal-message { color: $error; height: auto; }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Enregistrer", tooltip="Enregistrer", id="holder-modal-save"),
        Binding("escape", "cancel", "Annuler", tooltip="Fermer sans enregistrer", id="holder-modal-cancel"),
    ]

    MESSAGE_ID = "modal-message"

    title_text = ""
    fields: tuple[tuple[str, str, str], ...] = ()

    def __init__(self, page) -> None:
        super().__init__()
        self.page = page

    def initial(self, key: str) -> str:
        return ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="modal-title", markup=False)
            for key, label, placeholder in self.fields:
                with Horizontal():
                    yield Label(label)
                    yield Input(value=self.initial(key), placeholder=placeholder, id=f"modal-{key}", compact=True,
                                max_length=500)
            yield Static("", id="modal-message", classes="modal-message", markup=False)
            yield Static("Ctrl+S enregistrer — Échap annuler", markup=False)

    def on_mount(self) -> None:
        self.query(Input).first().focus()
        remember_fields(self)

    def value(self, key: str) -> str:
        return self.query_one(f"#modal-{key}", Input).value

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            self.action_save()
        else:
            self.focus_next()

    def action_cancel(self) -> None:
        leave_form(self, lambda: self.dismiss(False))

    def action_save(self) -> None:
        self.run_save()

    async def save(self) -> None:
        raise CpfError("Action inconnue.")

    @work(exclusive=True, group="holder-modal", exit_on_error=False)
    async def run_save(self) -> None:
        await self.save()
        self.dismiss(True)


class ContactModal(HolderModal):
    """Edit the holder's coordonnées médiatiques (validated, audited by the service)."""

    title_text = "Coordonnées médiatiques du titulaire"
    fields = (("email", "E-mail", "prenom.nom@exemple.fr"), ("mobile", "Téléphone mobile", "06 12 34 56 78"))

    def initial(self, key: str) -> str:
        from cpf_tui.services.validation import format_phone

        return self.page.email if key == "email" else format_phone(self.page.mobile)

    async def save(self) -> None:
        from cpf_tui.services import holders

        await holders.update_contact(self.ctx, self.page.id, email=self.value("email"),
                                     mobile=self.value("mobile"), expected_version=self.page.version)
        self.app.notify("Coordonnées enregistrées.", title="Titulaire")


class DifModal(HolderModal):
    """Set the DIF balance (at most 120 h, never below what is used) with its justification."""

    title_text = "Solde DIF (120 h au maximum, justification obligatoire)"
    fields = (("hours", "Solde DIF", "ex. 45 h 30"), ("reason", "Justification", "ex. attestation employeur n°"))

    def initial(self, key: str) -> str:
        from cpf_tui.services.ledger import format_hours

        return format_hours(self.page.balances.dif_total) if key == "hours" else ""

    async def save(self) -> None:
        from cpf_tui.services import ledger

        minutes = ledger.parse_hours(self.value("hours"), "Solde DIF")
        await ledger.set_dif_balance(self.ctx, self.page.id, minutes, self.value("reason"))
        self.app.notify("Solde DIF enregistré.", title="Titulaire")
