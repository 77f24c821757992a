"""Lock screen: after too long without a key press, the session hides and asks for the password again."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.widgets import Button, Input, Static
from textual.worker import Worker

from cpf_tui.errors import AuthenticationFailed, CpfError
from cpf_tui.messages import LoggedOut, Unlocked
from cpf_tui.services.context import SessionInfo
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.header import CpfHeader


class LockScreen(CpfScreen):
    """Covers the screens of the session; the identifier is fixed, only the password is asked."""

    BINDINGS = [
        Binding("f10", "logout", "Se déconnecter", tooltip="Fermer la session au lieu de la déverrouiller",
                id="lock-logout"),
    ]
    MESSAGE_ID = "lock-message"

    def __init__(self, info: SessionInfo) -> None:
        super().__init__()
        self.info = info

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        with Center(id="lock-center"):
            with Vertical(id="lock-box"):
                yield Static("Session verrouillée", id="lock-title", markup=False)
                yield Static(f"{self.info.full_name} — identifiant {self.info.identifier}", id="lock-identity",
                             markup=False)
                yield Static("Saisissez votre mot de passe pour reprendre votre travail.", markup=False)
                password = Input(password=True, id="lock-password", max_length=200)
                password.border_title = "Mot de passe"
                yield password
                yield Static("", id="lock-message", markup=False)
                yield Button("Se déconnecter (F10)", id="lock-logout-button")
        yield KeyBar()

    @property
    def password_input(self) -> Input:
        return self.query_one("#lock-password", Input)

    @property
    def message(self) -> Static:
        return self.query_one("#lock-message", Static)

    def on_mount(self) -> None:
        self.password_input.focus()

    @on(Input.Submitted, "#lock-password")
    def _submitted(self) -> None:
        self.unlock(self.password_input.value)

    @on(Button.Pressed, "#lock-logout-button")
    async def _logout_pressed(self) -> None:
        await self.action_logout()

    @work(exclusive=True, group="unlock", exit_on_error=False)
    async def unlock(self, password: str) -> None:
        from cpf_tui.services import auth

        self.password_input.value = ""
        if not password:
            self.message.update("Saisissez votre mot de passe.")
            return
        self.message.update("Vérification…")
        await auth.unlock(self.ctx, password, security=self.settings.security)
        self.message.update("")
        self.app.post_message(Unlocked())

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """A wrong password: the reason, with the delay before the next try."""
        text = error.message
        if isinstance(error, AuthenticationFailed) and error.retry_after > 0 and "Nouvel essai" not in text:
            text += f" Nouvel essai possible dans {int(error.retry_after + 0.999)} s."
        self.show_message(text, error=True)
        return True

    async def action_logout(self) -> None:
        self.app.post_message(LoggedOut("Vous êtes déconnecté."))
