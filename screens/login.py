"""Login screen: identifier + password."""

from __future__ import annotations

import os
import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker

from cpf_tui.errors import AuthenticationFailed, CpfError
from cpf_tui.messages import LoggedIn
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.typeahead import TypeAheadInput
from screens.widgets.header import CpfHeader


def write_ready_marker(path: str) -> None:
    """Write the wall-clock time into `path` (start-up benchmark)."""
    with open(path, "w", encoding="ascii") as marker:
        marker.write(repr(time.time()))


CHECKING_DELAY = 0.3
"""Seconds before "Vérification…" shows: a normal check ends sooner (about 0.2 s), and the message would
only flicker; drawing it would also take processor time from the check itself."""


class LoginScreen(CpfScreen):
    """Ask for identifier and password, then hand the session to the App.

    After repeated failures the service imposes a delay: the screen counts it down (App clock).
    """

    BINDINGS = [
        Binding("f3", "training_accounts", "Comptes de formation", tooltip="Afficher les comptes de formation",
                id="login-training-accounts"),
    ]

    def __init__(self, notice: str = "") -> None:
        super().__init__()
        self.notice = notice
        self.retry_deadline = 0.0
        self.failure_text = ""
        self._countdown = None

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        with Center(id="login-center"):
            with Vertical(id="login-box"):
                yield Static("Connexion à l'espace de gestion CPF", id="login-title")
                yield Label("Identifiant")
                yield TypeAheadInput(placeholder="ex. K7MP4XQ2", id="login-identifier", max_length=32)
                yield Label("Mot de passe")
                yield Input(password=True, id="login-password", max_length=128)
                yield Static(self.notice, id="login-message", markup=False)
                yield Button("Se connecter (Entrée)", id="login-submit", variant="primary")
        yield KeyBar()

    @property
    def identifier_input(self) -> Input:
        return self.query_one("#login-identifier", Input)

    @property
    def password_input(self) -> Input:
        return self.query_one("#login-password", Input)

    @property
    def message(self) -> Static:
        return self.query_one("#login-message", Static)

    def on_mount(self) -> None:
        self.identifier_input.focus()
        ready_file = os.environ.get("CPF_TUI_READY_FILE")
        if ready_file:
            # bench/startup.py: record when the first login frame has been drawn.
            self.call_after_refresh(write_ready_marker, ready_file)

    def action_state(self, action: str) -> bool | None:
        return self.settings.sandbox if action == "training_accounts" else True

    def action_training_accounts(self) -> None:
        from screens.training_accounts import TrainingAccountsModal

        self.app.push_screen(TrainingAccountsModal())

    @on(Input.Changed)
    def _typing(self, event: Input.Changed) -> None:
        """Someone is logging in: have the (empty, same for all) home screen built meanwhile."""
        prepare = getattr(self.app, "prepare_home", None)
        if prepare is not None and event.value:
            prepare()

    @on(Input.Submitted, "#login-identifier")
    def _identifier_entered(self) -> None:
        if self.focused is self.identifier_input:
            self.password_input.focus()

    @on(Input.Submitted, "#login-password")
    @on(Button.Pressed, "#login-submit")
    def _submit(self) -> None:
        self.attempt_login(self.identifier_input.value, self.password_input.value)

    def show_failure(self, text: str) -> None:
        self.message.update(text)
        self.message.add_class("-error")

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """A refused login: the password field emptied and focused, the delay counted down if any."""
        self.password_input.value = ""
        self.password_input.focus()
        if isinstance(error, AuthenticationFailed) and error.retry_after > 0:
            self.start_countdown(error.message, error.retry_after)
        else:
            self.show_failure(error.message)
        return True

    # -- delay after repeated failures ------------------------------------------------------------
    def _now(self) -> float:
        return self.app.monotonic()

    def seconds_to_wait(self) -> int:
        """Whole seconds left before the service accepts a new attempt (0: now)."""
        left = self.retry_deadline - self._now()
        return int(left + 0.999) if left > 0 else 0

    def start_countdown(self, failure: str, retry_after: float) -> None:
        """Show the failure and count down the delay once per second."""
        self.failure_text = failure
        self.retry_deadline = self._now() + retry_after
        self._tick()
        if self._countdown is None:
            self._countdown = self.set_interval(1.0, self._tick, name="login-countdown")

    def _tick(self) -> None:
        left = self.seconds_to_wait()
        if left:
            self.show_failure(f"{self.failure_text}\nNouvel essai possible dans {left} s.")
            return
        if self._countdown is not None:
            self._countdown.stop()
            self._countdown = None
        if self.retry_deadline:
            self.retry_deadline = 0.0
            self.show_failure(f"{self.failure_text}\nVous pouvez réessayer.")

    @work(exclusive=True, group="login", exit_on_error=False)
    async def attempt_login(self, identifier: str, password: str) -> None:
        if not identifier.strip() or not password:
            self.show_failure("Saisissez votre identifiant et votre mot de passe.")
            return
        if self.seconds_to_wait():
            self._tick()
            return
        # Shown only if the check is slow (busy server, delay after failures): see CHECKING_DELAY.
        checking = self.set_timer(CHECKING_DELAY, self._show_checking, name="login-checking")
        await self.app.wait_database()
        from cpf_tui.services import auth

        try:
            info = await auth.authenticate(
                identifier, password, self.cpf_app.request_context, security=self.settings.security
            )
        finally:
            checking.stop()
        self.password_input.value = ""
        self.message.update("")
        self.app.post_message(LoggedIn(info))

    def _show_checking(self) -> None:
        self.message.update("Vérification…")
        self.message.remove_class("-error")
