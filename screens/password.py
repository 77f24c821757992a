"""Password change: mandatory after a temporary password, or chosen from home (current password asked).

The rules are shown as a checklist that ticks while the user types, with a strength indication.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Static
from textual.worker import Worker

from cpf_tui.errors import CpfError, ValidationError
from cpf_tui.messages import LoggedOut, PasswordChanged
from cpf_tui.services import password_policy
from cpf_tui.services.context import SessionInfo
from screens.base import CpfScreen
from screens.widgets.console import glyph
from screens.widgets.keybar import KeyBar
from screens.widgets.header import CpfHeader

MARKS = {True: ("✔", "green"), False: ("✘", "red"), None: ("…", "")}


class PasswordScreen(CpfScreen):
    """New password and its confirmation (and the current one when the change is voluntary)."""

    BINDINGS = [
        Binding("escape", "back", "Retour", tooltip="Revenir sans changer de mot de passe", id="password-back"),
        Binding("f10", "logout", "Se déconnecter", tooltip="Fermer la session sans changer de mot de passe",
                id="password-logout"),
    ]
    MESSAGE_ID = "password-message"

    def __init__(self, info: SessionInfo | None = None, *, mandatory: bool = False) -> None:
        super().__init__()
        self.info = info
        self.mandatory = mandatory
        self.personal = password_policy.PersonalInfo()
        self._items: list[password_policy.CheckItem] = []
        self._scored: tuple[str, int] = ("", 0)

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        title = "Choisissez votre mot de passe personnel" if self.mandatory else "Changer mon mot de passe"
        yield Static(title, id="password-title", markup=False)
        with Horizontal(id="password-columns"):
            with Vertical(id="password-form"):
                if not self.mandatory:
                    current = Input(password=True, id="password-current", max_length=200)
                    current.border_title = "Mot de passe actuel"
                    yield current
                new = Input(password=True, id="password-new", max_length=200)
                new.border_title = "Nouveau mot de passe"
                yield new
                confirm = Input(password=True, id="password-confirm", max_length=200)
                confirm.border_title = "Confirmation"
                yield confirm
                yield Static("Robustesse : —", id="password-strength", markup=False)
            with Vertical(id="password-rules"):
                yield Static("Règles", id="password-rules-title", markup=False)
                yield Static("", id="password-checklist", markup=False)
        with VerticalScroll(id="password-message-box"):
            hint = "Entrée : valider." + ("" if self.mandatory else " Échap : revenir.")
            yield Static(hint, id="password-message", markup=False)
        yield KeyBar()

    # -- accessors ---------------------------------------------------------------------------------------
    @property
    def new_input(self) -> Input:
        return self.query_one("#password-new", Input)

    @property
    def confirm_input(self) -> Input:
        return self.query_one("#password-confirm", Input)

    @property
    def message(self) -> Static:
        return self.query_one("#password-message", Static)

    def on_mount(self) -> None:
        info = self.info or self.session  # from the home menu, the App knows who is logged in
        if info is not None:
            self.info = info
            self.personal = password_policy.PersonalInfo(info.identifier, info.nom, info.prenom, info.email)
        self.query_one("#password-current" if not self.mandatory else "#password-new", Input).focus()
        self.refresh_checklist()
        from screens.widgets.form_guard import remember_fields

        remember_fields(self)

    def action_state(self, action: str) -> bool | None:
        if action == "back":
            return not self.mandatory
        if action == "logout":
            return self.mandatory
        return True

    # -- live checklist ----------------------------------------------------------------------------------
    @on(Input.Changed, "#password-new")
    @on(Input.Changed, "#password-confirm")
    def _typed(self) -> None:
        self.refresh_checklist()

    def checklist_items(self) -> list[password_policy.CheckItem]:
        """The rules as they stand for what is typed (also used by the tests)."""
        return self._items

    def refresh_checklist(self) -> None:
        password = self.new_input.value
        security = self.settings.security
        if self._scored[0] != password:  # the estimator is the costly part: not again for the confirmation
            too_long = len(password) > password_policy.MAX_LENGTH
            self._scored = (password, 0 if too_long else password_policy.strength_score(password, self.personal))
        score = self._scored[1]
        self._items = password_policy.checklist(
            password, self.confirm_input.value, self.personal, min_score=security.zxcvbn_min_score,
            history=security.password_history, score=score,
        )
        lines = Text()
        for index, item in enumerate(self._items):
            mark, style = MARKS[item.ok]
            mark = glyph(mark)
            if index:
                lines.append("\n")
            lines.append(f"{mark} ", style=style)
            lines.append(item.label)
        self.query_one("#password-checklist", Static).update(lines)
        strength = "—" if not password else f"{password_policy.strength_label(score)} ({score}/4)"
        self.query_one("#password-strength", Static).update(f"Robustesse : {strength}")

    # -- submission ----------------------------------------------------------------------------------------
    @on(Input.Submitted, "#password-current")
    def _current_entered(self) -> None:
        self.new_input.focus()

    @on(Input.Submitted, "#password-new")
    def _new_entered(self) -> None:
        self.confirm_input.focus()

    @on(Input.Submitted, "#password-confirm")
    def _confirm_entered(self) -> None:
        current = None if self.mandatory else self.query_one("#password-current", Input).value
        self.submit(current, self.new_input.value, self.confirm_input.value)

    @work(exclusive=True, group="password", exit_on_error=False)
    async def submit(self, current: str | None, new_password: str, confirmation: str) -> None:
        from cpf_tui.services import auth

        self.message.update("Vérification…")
        self.message.remove_class("-error")
        await auth.change_password(
            self.ctx, new_password, confirmation, current_password=current, security=self.settings.security,
        )
        self.app.post_message(PasswordChanged(mandatory=self.mandatory))

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """A refused password: the reason, and the field to type again emptied and focused.

        When the new password is fine and only the confirmation differs, the new one is kept.
        """
        from cpf_tui.services.password_policy import CONFIRMATION_MISMATCH

        self.show_message(error.message, error=True)
        if isinstance(error, ValidationError) and "current" in error.errors:
            current_input = self.query_one("#password-current", Input)
            current_input.value = ""
            current_input.focus()
        elif isinstance(error, ValidationError) and list(error.errors.values()) == [CONFIRMATION_MISMATCH]:
            self.confirm_input.value = ""
            self.confirm_input.focus()
        else:
            self.new_input.value = ""
            self.confirm_input.value = ""
            self.new_input.focus()
        return True

    def action_back(self) -> None:
        """Échap (when the change is not mandatory): back, after asking if something was typed (the one form guard)."""
        if not self.mandatory:
            from screens.widgets.form_guard import leave_form

            leave_form(self, self.app.pop_screen)

    async def action_logout(self) -> None:
        self.app.post_message(LoggedOut("Vous êtes déconnecté. Votre mot de passe temporaire reste à changer."))
