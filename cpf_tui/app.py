"""The Textual App: global keys, theme, database start and stop, session state."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding

from cpf_tui.config import Settings
from cpf_tui.services.auth import SessionInfo
from cpf_tui.services.context import RequestContext


class CpfApp(App[int]):
    """Espace de gestion CPF, in the terminal."""

    CSS_PATH = "app.tcss"
    TITLE = "Espace de gestion CPF"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quitter", tooltip="Quitter l'application (confirmation)", priority=True,
                id="app-quit"),
    ]

    def __init__(self, settings: Settings, *, request_context: RequestContext | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.request_context = request_context or RequestContext(terminal=os.environ.get("TERM", ""))
        self.session: SessionInfo | None = None
        self.db_ready = asyncio.Event()
        self.db_error: str = ""
        self._owns_database = False
        if settings.sandbox:
            self.title = "MODE FORMATION — Espace de gestion CPF"

    def compose(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        from screens.login import LoginScreen

        # The default screen stays underneath: login and home are swapped above it.
        self.push_screen(LoginScreen())
        self.call_after_refresh(self.start_database)
        self._install_hangup_handlers()

    @work(exclusive=True, group="database", exit_on_error=False)
    async def start_database(self) -> None:
        """Open the database after the first frame is drawn (start-up stays fast)."""
        from cpf_tui import db
        from cpf_tui.errors import CpfError

        try:
            self._owns_database = await db.open_database(self.settings.database_url)
            await db.ensure_schema_current()
        except CpfError as exc:
            self.db_error = exc.message
            self.show_fatal(exc.message)
            return
        except Exception as exc:  # connection refused, unreadable file...
            self.db_error = f"Impossible d'ouvrir la base de données : {exc}"
            self.show_fatal(self.db_error)
            return
        self.db_ready.set()

    def show_fatal(self, text: str) -> None:
        from screens.modals import MessageModal

        self.push_screen(MessageModal("Base de données", text, error=True))

    # -- hang-up -------------------------------------------------------------------------
    HANGUP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)

    def _install_hangup_handlers(self) -> None:
        """SIGHUP (the SSH client went away) and SIGTERM end the session through the event loop.

        Without them the process dies mid-write: no unmount, no session record closed, the
        terminal left in the alternate screen.
        """
        loop = asyncio.get_running_loop()
        self._hangup_signals: list[int] = []
        for signum in self.HANGUP_SIGNALS:
            try:
                loop.add_signal_handler(signum, self._hangup_received, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                return  # not the main thread: the default behaviour stays
            self._hangup_signals.append(signum)

    def _remove_hangup_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in getattr(self, "_hangup_signals", []):
            loop.remove_signal_handler(signum)
        self._hangup_signals = []

    def _hangup_received(self, signum: int) -> None:
        if getattr(self, "_hanging_up", False):
            return
        self._hanging_up = True
        self.run_worker(self._end_after_hangup(signal.Signals(signum).name), group="hangup", exit_on_error=False)

    async def _end_after_hangup(self, signal_name: str) -> None:
        """Journal the hang-up of a logged-in user, then leave like a normal quit (exit code 0)."""
        try:
            if self.session is not None and self.db_ready.is_set():
                from cpf_tui.services import audit

                await asyncio.wait_for(
                    audit.record("session.hangup", ctx=self.context, actor_identifier=self.session.identifier,
                                 after={"signal": signal_name}),
                    timeout=3,
                )
        finally:
            # Even when the journal cannot be written, the session must end before SIGKILL comes.
            self.exit(0)

    async def on_unmount(self) -> None:
        self._remove_hangup_handlers()
        if self._owns_database:
            from cpf_tui import db

            await db.close_database()

    # -- session ---------------------------------------------------------------------------
    @property
    def context(self) -> RequestContext:
        """The request context of the logged-in user (or the anonymous one before login)."""
        if self.session is None:
            return self.request_context
        return self.request_context.as_account(self.session.account_id, self.session.session_token)

    def logged_in(self, info: SessionInfo) -> None:
        """Called by the login screen after a successful authentication.

        The switch runs on the App's own loop: the login screen's worker that calls this is
        cancelled when its screen goes away.
        """
        self.session = info
        self.call_later(self.show_home)

    async def show_home(self) -> None:
        """Replace the whole stack with the home screen of the logged-in user."""
        from screens.home import HomeScreen

        if self.session is None:
            return
        await self._replace_stack(HomeScreen(self.session))

    async def _replace_stack(self, screen) -> None:
        """Leave only `screen` above the default screen."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        await self.switch_screen(screen)

    async def logout(self, message: str = "") -> None:
        """End the session and go back to an empty login screen."""
        from screens.login import LoginScreen

        self.session = None
        await self._replace_stack(LoginScreen())
        if message:
            self.notify(message, title="Session")

    async def action_quit(self) -> None:
        from screens.modals import ConfirmModal

        def _answer(confirmed: bool | None) -> None:
            if confirmed:
                self.exit(0)

        if isinstance(self.screen, ConfirmModal):
            return
        self.push_screen(ConfirmModal("Quitter l'application ?", "Quitter", "Rester"), _answer)


def make_app(settings: Settings, *, request_context: RequestContext | None = None) -> CpfApp:
    """The only place that builds the App (CLI and tests)."""
    return CpfApp(settings, request_context=request_context)


APP_DIR = Path(__file__).parent
