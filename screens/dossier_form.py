"""One training file: its fields (editable while a draft), its actions by profile, and its history."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, Static
from textual.worker import Worker

from cpf_tui import clock
from cpf_tui.errors import CpfError, ValidationError
from screens.base import CpfModal, CpfScreen, update_line
from screens.widgets.form_guard import leave_form, remember_fields
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable
from screens.widgets.header import CpfHeader

FIELDS = (
    ("holder_nir", "NIR du titulaire", "15 caractères, espaces admis"),
    ("training_title", "Intitulé formation", ""),
    ("provider_name", "Organisme formation", "raison sociale"),
    ("provider_siret", "SIRET de l'organisme", "14 chiffres"),
    ("start_date", "Date de début", "JJ/MM/AAAA"),
    ("end_date", "Date de fin", "JJ/MM/AAAA"),
    ("duration_minutes", "Durée totale", "ex. 35 h"),
    ("requested_minutes", "Heures demandées", "ex. 35 h, 150 h au maximum"),
)


def balance_text(holder, requested: int | None) -> tuple[str, bool]:  # noqa: ANN001 - holders.HolderBalance
    """What the form says of the holder's hours for `requested` minutes, and whether it is more than available.

    The split is the ledger's own rule (`cpf_tui.hours.reservation_split`: DIF hours first, then CPF).
    """
    from cpf_tui.hours import reservation_split
    from cpf_tui.services.ledger import format_hours

    b = holder.balances
    line = (f"{holder.name} — disponible : CPF {format_hours(b.cpf_available)}, DIF {format_hours(b.dif_available)}"
            f" (total {format_hours(b.total_available)})")
    if not requested:
        return line, False
    if requested > b.total_available:
        return (line + f"\nAttention : {format_hours(requested)} demandées pour {format_hours(b.total_available)} "
                "disponibles — le brouillon peut être enregistré, la validation sera refusée."), True
    split = reservation_split(requested, b.dif_available)
    return (line + f"\nRéservation à la validation : DIF {format_hours(split.dif)} puis CPF {format_hours(split.cpf)}"
            f" — resterait CPF {format_hours(b.cpf_available - split.cpf)}, "
            f"DIF {format_hours(b.dif_available - split.dif)}"), False


class DossierFormScreen(CpfScreen):
    """Create or open a file. Ctrl+S saves a draft, F5 validates, F6 closes, F8 deletes (confirmed)."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Enregistrer", tooltip="Enregistrer le dossier en cours d'élaboration",
                id="dossier-save"),
        Binding("f5", "validate", "Valider", tooltip="Valider le dossier et réserver les heures",
                id="dossier-validate"),
        Binding("f6", "close_file", "Clôturer", tooltip="Clore le dossier avec les heures réalisées",
                id="dossier-close"),
        Binding("f8", "delete", "Supprimer", tooltip="Supprimer le dossier en cours d'élaboration (confirmation)",
                id="dossier-delete"),
        Binding("escape", "back", "Retour", tooltip="Revenir à la liste", id="dossier-back"),
    ]
    MESSAGE_ID = "dossier-message"

    def __init__(self, dossier_id: int | None, *, holder_nir: str = "", view=None,  # noqa: ANN001
                 balance=None) -> None:  # noqa: ANN001 - dossiers.DossierView, holders.HolderBalance
        super().__init__()
        self.dossier_id = dossier_id
        self.holder_nir = holder_nir
        """A new file's holder, given when the file is started from the holder's page."""
        self.view = view
        """The file shown (`dossiers.DossierView`); given by `prepared_form`, the screen is composed filled in."""
        self.loaded_values: dict[str, str] = {}
        self.holder_balance = balance
        """The holder named by the NIR field and its balances (`holders.HolderBalance`), None if unknown."""

    def compose(self) -> ComposeResult:
        # Composed with its data when it has them (`prepared_form`): one layout and one drawing, no
        # field filled in afterwards (each a restyle and a relayout of the form).
        texts = self.view.as_text_fields() if self.view is not None else {"holder_nir": self.holder_nir}
        locked = not self.editable()
        yield CpfHeader()
        yield Static(self.title_text(), id="dossier-title", markup=False)
        yield Static("", id="dossier-balance", markup=False)
        with VerticalScroll(id="dossier-body", can_focus=False):
            for key, label, placeholder in FIELDS:
                with Horizontal(classes="dossier-row"):
                    yield Label(label, classes="dossier-label")
                    yield Input(texts.get(key, ""), placeholder=placeholder, id=f"dossier-{key}", compact=True,
                                max_length=200, disabled=locked)
                yield Static("", id=f"dossier-error-{key}", classes="dossier-error", markup=False)
            yield Static("", id="dossier-message", markup=False)
            yield Static(self.info_text(), id="dossier-info", markup=False)
            yield Static("Historique", id="dossier-history-title")
            yield CpfTable(id="dossier-history", zebra_stripes=False)
        yield KeyBar()

    # -- state --------------------------------------------------------------------------------------
    @property
    def status(self):
        return self.view.status if self.view is not None else None

    def allowed(self) -> set[str]:
        from cpf_tui.services.dossiers import allowed_actions

        session = self.session
        if session is None:
            return set()
        return allowed_actions(session.role, session.profile, self.status)

    def editable(self) -> bool:
        return ("create" in self.allowed()) if self.view is None else ("save" in self.allowed())

    def action_state(self, action: str) -> bool | None:
        if action == "save":
            return self.editable()
        if action == "validate":
            return "validate" in self.allowed()
        if action == "close_file":
            return "close" in self.allowed()
        if action == "delete":
            return "delete" in self.allowed()
        return True

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#dossier-{key}", Input).value for key, _, _ in FIELDS}

    def dirty(self) -> bool:
        return self.values() != self.loaded_values

    # -- display ------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.query_one("#dossier-history", CpfTable).add_columns("Date", "Par", "Action", "Détail")
        if self.view is not None:
            self._view_shown()
            self.show_balance()
        elif self.dossier_id is None:
            self.loaded_values = self.values()
            remember_fields(self)
            self._apply_editability()
            if self.holder_nir:
                self.load_balance(self.holder_nir)
        else:
            self.load()

    def _apply_editability(self) -> None:
        editable = self.editable()
        for key, _, _ in FIELDS:
            self.query_one(f"#dossier-{key}", Input).disabled = not editable
        if editable:
            first_empty = next((key for key, _, _ in FIELDS if not self.query_one(f"#dossier-{key}", Input).value),
                               FIELDS[0][0])
            self.query_one(f"#dossier-{first_empty}", Input).focus()
        else:
            self.query_one("#dossier-history", CpfTable).focus()
        self.refresh_bindings()

    def say(self, text: str, *, error: bool = False) -> None:
        self.show_message(text, error=error)

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """Field errors under their fields (the input stays on screen), the reason on the message line."""
        if isinstance(error, ValidationError):
            self.show_errors(error.errors)
            if error.errors and worker.name == "run_save":
                self.say("Le dossier n'a pas été enregistré : corrigez les champs signalés.", error=True)
                return True
        self.say(error.message, error=True)
        return True

    def show_errors(self, errors: dict[str, str]) -> None:
        first = None
        for key, _, _ in FIELDS:
            message = errors.get(key, "")
            update_line(self.query_one(f"#dossier-error-{key}", Static), message, "-shown", bool(message))
            if message and first is None:
                first = key
        if first is not None:
            self.query_one(f"#dossier-{first}", Input).focus()

    @work(exclusive=True, group="dossier-load", exit_on_error=False)
    async def load(self, keep_input: bool = False) -> None:
        from cpf_tui.services import dossiers

        self.show_read(*await dossiers.open_dossier(self.ctx, self.dossier_id), keep_input=keep_input)

    # -- the holder's balance -------------------------------------------------------------------------
    @work(exclusive=True, group="dossier-balance", exit_on_error=False)
    async def load_balance(self, nir: str) -> None:
        """Read the holder named by `nir` and its balances (a malformed or unknown NIR clears the line)."""

        self.holder_balance = await balance_or_none(self.ctx, nir)
        self.show_balance()

    def requested_minutes(self) -> int | None:
        from cpf_tui.services.ledger import parse_hours

        try:
            return parse_hours(self.query_one("#dossier-requested_minutes", Input).value, required=False)
        except ValidationError:
            return None

    def show_balance(self) -> None:
        """The holder's balances and, for a draft, the split the typed hours would reserve (or a warning)."""
        if self.holder_balance is None:
            text, over = "", False
        else:
            from models.enums import DossierStatus

            draft = self.view is None or self.view.status == DossierStatus.DRAFT
            text, over = balance_text(self.holder_balance, self.requested_minutes() if draft else None)
        # Set again with each field's first value on opening: an unchanged line is left as it is.
        update_line(self.query_one("#dossier-balance", Static), text, "-warning", over)

    @on(Input.Changed, "#dossier-holder_nir")
    def _nir_changed(self, event: Input.Changed) -> None:
        compact = "".join(event.value.split()).replace(".", "").upper()
        if len(compact) == 15:
            shown = self.holder_balance
            if shown is not None and shown.nir == compact:
                return  # the holder read with the file (the field's first value): not read again
            self.load_balance(compact)
        elif self.holder_balance is not None:
            self.holder_balance = None
            self.show_balance()

    @on(Input.Changed, "#dossier-requested_minutes")
    def _requested_changed(self) -> None:
        self.show_balance()

    def title_text(self) -> str:
        view = self.view
        if view is None:
            return "Nouveau dossier de formation"
        # No action of this user on the file (Consultation, or a closed file): said before anything else.
        read_only = " (lecture seule)" if not self.allowed() & {"save", "validate", "close", "delete"} else ""
        return f"Dossier {view.number} — {view.status.label}{read_only} — {view.holder_name}"

    def info_text(self) -> str:
        from cpf_tui.services.ledger import format_hours

        view = self.view
        if view is None:
            return ""
        info = [f"Organisme : {view.organisation}" + (f" — {view.establishment}" if view.establishment else "")]
        if view.validated_at:
            info.append(
                f"Validé le {clock.shown(view.validated_at)} par {view.validated_by} — réservé "
                f"{format_hours(view.reserved_minutes)} (DIF {format_hours(view.reserved_dif_minutes)}, "
                f"CPF {format_hours(view.reserved_cpf_minutes)})"
            )
        if view.closed_at:
            info.append(
                f"Clos le {clock.shown(view.closed_at)} par {view.closed_by} — réalisé "
                f"{format_hours(view.done_minutes)}" + (f" — motif : {view.closure_reason}" if view.closure_reason else "")
            )
        return "\n".join(info)

    def show_file(self, view, balance) -> None:  # noqa: ANN001 - dossiers.DossierView, holders.HolderBalance
        """Show another file in this form, kept for the session (`push_reusing`): nothing of the last one
        stays (input, field errors, message, scroll position)."""
        self._clean_values().clear()
        self.set_focus(None)  # focused again below, as in a new form (a field's text selected on focus)
        self.show_errors({})
        self.say("")
        self.show_read(view, balance)
        self.query_one("#dossier-body", VerticalScroll).scroll_home(animate=False)

    def show_read(self, view, balance, *, keep_input: bool = False) -> None:  # noqa: ANN001 - as in show_file
        """A file and its holder's balances as `dossiers.open_dossier` read them together (the balance set
        first: the NIR field's new value then reads nothing again)."""
        self.holder_balance = balance
        self.show_view(view, keep_input=keep_input)
        self.show_balance()

    def show_view(self, view, *, keep_input: bool = False) -> None:
        self.view = view
        self.dossier_id = view.id
        self.query_one("#dossier-title", Static).update(self.title_text())
        if not keep_input:
            texts = view.as_text_fields()
            for key, _, _ in FIELDS:
                self.query_one(f"#dossier-{key}", Input).value = texts[key]
        self.query_one("#dossier-info", Static).update(self.info_text())
        self._view_shown(keep_input=keep_input)

    def _view_shown(self, *, keep_input: bool = False) -> None:
        """What follows the fields once they show `self.view`: the unchanged state, history, focus."""
        view = self.view
        self.loaded_values = view.as_text_fields()
        if not keep_input:  # kept input (a conflict) stays "changed": Échap still asks before dropping it
            remember_fields(self)
        self.query_one("#dossier-history", CpfTable).replace_rows(
            ((Text(clock.shown(event.at)), Text(event.actor), Text(event.label), Text(event.summary)), str(index))
            for index, event in enumerate(reversed(view.events))
        )
        self._apply_editability()

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        if event.input.id == f"dossier-{FIELDS[-1][0]}":
            self.action_save()
        else:
            self.focus_next()

    # -- actions ------------------------------------------------------------------------------------
    def action_back(self) -> None:
        """Échap: back to the list, after asking when a field was changed (the one form guard)."""
        leave_form(self, self.app.pop_screen)

    def action_save(self) -> None:
        if self.editable():
            self.run_save(self.values())

    @work(exclusive=True, group="dossier-action", exit_on_error=False)
    async def run_save(self, values: dict[str, str]) -> None:
        from cpf_tui.services import dossiers
        from cpf_tui.services.dossiers import DossierInput
        from cpf_tui.services.ledger import format_hours

        data = DossierInput.from_text(values)
        if self.view is None:
            saved = await dossiers.create_draft(self.ctx, data)
        else:
            saved = await dossiers.save_draft(self.ctx, self.view.id, data, expected_version=self.view.version)
        self.show_errors({})
        view, balance = await dossiers.open_dossier(self.ctx, saved.id)
        self.show_read(view, balance)
        if self.holder_balance is not None and view.requested_minutes > self.holder_balance.balances.total_available:
            self.say(f"Dossier {view.number} enregistré en brouillon. Attention : "
                     f"{format_hours(view.requested_minutes)} demandées pour "
                     f"{format_hours(self.holder_balance.balances.total_available)} disponibles — "
                     "la validation sera refusée tant que le solde ne suffit pas.", error=True)
        else:
            self.say(f"Dossier {view.number} enregistré.")

    def action_validate(self) -> None:
        if "validate" in self.allowed():
            self.run_validate()

    @work(exclusive=True, group="dossier-action", exit_on_error=False)
    async def run_validate(self) -> None:
        from cpf_tui.services import dossiers
        from screens.modals import ConfirmModal

        if self.dirty():
            self.say("Enregistrez d'abord vos modifications (Ctrl+S) avant de valider.", error=True)
            return
        question = await self.validation_question()
        if not await self.app.push_screen_wait(ConfirmModal(question, "Valider", "Annuler")):
            return
        await dossiers.validate(self.ctx, self.view.id, expected_version=self.view.version)
        # The balances shown are read again with the file: the validation reserved some of them.
        self.show_read(*await dossiers.open_dossier(self.ctx, self.view.id))
        self.say(f"Dossier {self.view.number} validé : heures réservées.")

    async def validation_question(self) -> str:
        """The confirmation of a validation: the split it reserves (DIF first) and what the holder keeps."""
        from cpf_tui.hours import reservation_split
        from cpf_tui.services import holders
        from cpf_tui.services.ledger import format_hours

        requested = self.view.requested_minutes
        question = f"Valider le dossier {self.view.number} ? {format_hours(requested)} seront réservées"
        holder = await holders.balance_for_nir(self.ctx, self.view.holder_nir)
        if holder is None:
            return question + " (DIF d'abord, puis CPF)."
        b = holder.balances
        if requested > b.total_available:
            return (question + f", mais le titulaire n'a que {format_hours(b.total_available)} disponibles "
                    f"(DIF {format_hours(b.dif_available)}, CPF {format_hours(b.cpf_available)}) : "
                    "la validation sera refusée.")
        split = reservation_split(requested, b.dif_available)
        return (question + f" : DIF {format_hours(split.dif)} puis CPF {format_hours(split.cpf)}. "
                f"Il restera au titulaire CPF {format_hours(b.cpf_available - split.cpf)} et "
                f"DIF {format_hours(b.dif_available - split.dif)}.")

    def action_close_file(self) -> None:
        if "close" in self.allowed() and self.view is not None:
            self.app.push_screen(CloseModal(self.view), self._after_close)

    def _after_close(self, closed: bool | None) -> None:
        if closed:
            self.load()
            self.say("Dossier clos.")

    def action_delete(self) -> None:
        if "delete" in self.allowed():
            self.run_delete()

    @work(exclusive=True, group="dossier-action", exit_on_error=False)
    async def run_delete(self) -> None:
        from cpf_tui.services import dossiers
        from screens.modals import ConfirmModal

        question = f"Supprimer le dossier {self.view.number} ? Cette action est définitive."
        if not await self.app.push_screen_wait(ConfirmModal(question, "Supprimer", "Garder")):
            return
        await dossiers.delete_draft(self.ctx, self.view.id, expected_version=self.view.version)
        self.app.notify(f"Dossier {self.view.number} supprimé.", title="Dossiers")
        self.app.pop_screen()


async def balance_or_none(ctx, nir: str):  # noqa: ANN001, ANN201 - a RequestContext; holders.HolderBalance | None
    """The holder named by `nir` and their balances; None for an unknown or malformed NIR."""
    from cpf_tui.services import holders

    try:
        return await holders.balance_for_nir(ctx, nir)
    except ValidationError:
        return None


async def prepared_form(ctx, dossier_id: int, kept: DossierFormScreen | None = None) -> DossierFormScreen:  # noqa: ANN001
    """The form of file `dossier_id` with its data and its holder's balances read first: `kept` filled
    again (`CpfSeam.push_reusing`), or a new form composed with them.

    A form shown empty and filled in afterwards costs a restyle and a relayout per field, and draws the
    screen several times over; composed with its data it is laid out and drawn once.
    """
    from cpf_tui.services import dossiers

    view, balance = await dossiers.open_dossier(ctx, dossier_id)
    if kept is None:
        return DossierFormScreen(dossier_id, view=view, balance=balance)
    kept.show_file(view, balance)
    return kept


def open_dossier(screen: CpfScreen, dossier_id: int) -> None:
    """Open file `dossier_id` from `screen` (a list, a holder's page, a work queue), read first, in the
    session's kept form once there is one (`push_reusing`)."""
    screen.push_reusing(lambda kept: prepared_form(screen.ctx, dossier_id, kept), group="open-dossier")


class CloseModal(CpfModal[bool]):
    """Hours actually done (at most the reserved hours) and the reason when fewer; Ctrl+S closes the file."""

    DEFAULT_CSS = """
    CloseModal { align: center middle; }
    CloseModal > Vertical {
        width: 72; max-width: 100%; height: auto; border: thick $warning; background: $surface; padding: 0 1;
    }
    CloseModal Horizontal { height: auto; }
    CloseModal Label { width: 18; }
    CloseModal Input { width: 1fr; }
    CloseModal #close-message { color: $error; height: auto; }
    """

    BINDINGS = [
        Binding("ctrl+s", "confirm", "Clôturer", tooltip="Clore le dossier", id="close-confirm"),
        Binding("escape", "cancel", "Annuler", tooltip="Fermer sans clore", id="close-cancel"),
    ]

    MESSAGE_ID = "close-message"

    def __init__(self, view) -> None:
        super().__init__()
        self.view = view

    @property
    def limit(self) -> int:
        """The most hours this closure may record today (nothing before the training's start)."""
        from cpf_tui.services.dossiers import closure_limit

        return closure_limit(self.view.start_date, self.view.reserved_minutes, clock.today())

    def compose(self) -> ComposeResult:
        from cpf_tui.services.dossiers import format_date_fr
        from cpf_tui.services.ledger import format_hours

        with Vertical():
            yield Static(f"Clôture du dossier {self.view.number} — réservé : "
                         f"{format_hours(self.view.reserved_minutes)} (DIF "
                         f"{format_hours(self.view.reserved_dif_minutes)}, CPF "
                         f"{format_hours(self.view.reserved_cpf_minutes)})", markup=False)
            if self.limit < self.view.reserved_minutes:
                yield Static(f"Formation pas encore commencée (début le {format_date_fr(self.view.start_date)}) : "
                             "clôture à 0 h seulement, formation annulée, avec un motif.", id="close-not-started",
                             markup=False)
            with Horizontal():
                yield Label("Heures réalisées")
                yield Input(value=format_hours(self.limit), id="close-done", compact=True, max_length=12)
            with Horizontal():
                yield Label("Motif")
                yield Input(placeholder="obligatoire si moins d'heures que réservé", id="close-reason",
                            compact=True, max_length=500)
            yield Static("", id="close-effect", markup=False)
            yield Static("", id="close-message", markup=False)
            yield Static("Ctrl+S clore — Échap annuler", markup=False)

    def on_mount(self) -> None:
        self.query_one("#close-done", Input).focus()
        self.show_effect()
        remember_fields(self)

    @on(Input.Changed, "#close-done")
    def show_effect(self) -> None:
        """What the closure does with the typed hours: consumed (DIF first) and released back to the holder."""
        from cpf_tui.hours import settlement
        from cpf_tui.services.ledger import format_hours, parse_hours

        effect = self.query_one("#close-effect", Static)
        try:
            done = parse_hours(self.query_one("#close-done", Input).value, "Heures réalisées", required=False)
        except ValidationError:
            done = None
        if done is None or done > self.limit:
            effect.update("")
            return
        result = settlement(done, self.view.reserved_dif_minutes, self.view.reserved_cpf_minutes)
        effect.update(f"Consommé : DIF {format_hours(result.consumed_dif)}, CPF {format_hours(result.consumed_cpf)}"
                      f" — rendu au titulaire : {format_hours(result.released_dif + result.released_cpf)} "
                      f"(DIF {format_hours(result.released_dif)}, CPF {format_hours(result.released_cpf)})")

    @on(Input.Submitted, "#close-done")
    def _to_reason(self) -> None:
        self.query_one("#close-reason", Input).focus()

    @on(Input.Submitted, "#close-reason")
    def _submitted(self) -> None:
        self.action_confirm()

    def action_cancel(self) -> None:
        leave_form(self, lambda: self.dismiss(False))

    def action_confirm(self) -> None:
        self.run_close()

    @work(exclusive=True, group="dossier-close", exit_on_error=False)
    async def run_close(self) -> None:
        """Clore, once confirmed: the closure is irreversible (like validation and deletion)."""
        from cpf_tui.services import dossiers, ledger
        from screens.modals import ConfirmModal

        done = ledger.parse_hours(self.query_one("#close-done", Input).value, "Heures réalisées")
        question = (f"Clore le dossier {self.view.number} avec {ledger.format_hours(done)} réalisées ? "
                    "La clôture est définitive.")
        if not await self.app.push_screen_wait(ConfirmModal(question, "Clore", "Annuler")):
            return
        await dossiers.close(self.ctx, self.view.id, done, self.query_one("#close-reason", Input).value)
        self.dismiss(True)
