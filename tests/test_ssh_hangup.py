"""The app in a pseudo-terminal ends cleanly on SIGHUP and SIGTERM (no SSH involved)."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
import time

import pytest

from cpf_tui import db as db_module
from cpf_tui.ssh_server import spawn_in_pty
from tests.factories import DEFAULT_PASSWORD
from tests.ssh_harness import ROOT, seed_accounts
from tests.vt import VirtualScreen, cursor_in_field_below

pytestmark = pytest.mark.slow

LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"


class PtyApp:
    """`python -m cpf_tui` in its own pty, output collected from the master."""

    def __init__(self, db_url: str, tmp_path, **env: str) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CPF_TUI_")}
        base.pop("COLUMNS", None)
        base.pop("LINES", None)
        base.update({"TERM": "xterm-256color", "PYTHONUTF8": "1", "CPF_TUI_DB_URL": db_url,
                     "CPF_TUI_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), **env})
        self.pid, self.master = spawn_in_pty([sys.executable, "-m", "cpf_tui"], base, 80, 24)
        self.output = bytearray()
        self.screen = VirtualScreen(80, 24)
        self.closed = False

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the app closed the terminal
            data = b""
        if not data:
            self.closed = True
        self.output += data
        self.screen.feed(data)

    def wait_until(self, predicate, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or self.closed:
                raise AssertionError(f"{what} : délai dépassé. Écran :\n{self.screen.text()}")
            self._pump(0.2)

    def wait_for(self, marker: bytes | str, timeout: float = 30.0, start: int = 0) -> None:
        """Text (str) on the screen, or bytes in the raw output after `start`."""
        if isinstance(marker, str):
            self.wait_until(lambda: marker in self.screen.text(), f"« {marker} » attendu", timeout)
            return
        self.wait_until(lambda: self.output.find(marker, start) >= 0, f"{marker!r} attendu", timeout)

    def log_in(self, identifier: str, password: str) -> None:
        """Same steps as `Terminal.log_in` of the harness: wait for the cursor to reach the password."""
        self.write(identifier)
        self.wait_for(identifier)
        label = self.screen.row_of("Mot de passe")
        self.write("\t")
        self.wait_until(lambda: cursor_in_field_below(self.screen, label), "curseur dans le mot de passe")
        self.write(password + "\r")

    def write(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 20.0) -> int:
        """Read until the app closes the terminal, reap it; returns its exit code."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._pump(0.2)
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.master)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.killpg(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.master)
        raise AssertionError("l'application ne s'est pas arrêtée")


def journal(db_url: str):
    from models import AuditEvent

    async def go():
        await db_module.open_database(db_url)
        try:
            return await AuditEvent.filter(action="session.hangup").order_by("seq")
        finally:
            await db_module.close_database()

    return asyncio.run(go())


def test_sighup_on_the_login_screen_ends_cleanly(db_url, tmp_path):
    app = PtyApp(db_url, tmp_path)
    app.wait_for("Connexion à l'espace de gestion CPF")
    mark = len(app.output)
    os.kill(app.pid, signal.SIGHUP)
    assert app.finish() == 0
    assert LEAVE_ALTERNATE_SCREEN in app.output[mark:]  # the terminal was restored by the app itself
    assert b"Traceback" not in app.output
    assert journal(db_url) == []  # nobody was logged in: nothing to journal


def test_sigterm_while_logged_in_is_journalled(db_url, tmp_path):
    identifier = seed_accounts(db_url)[0]
    app = PtyApp(db_url, tmp_path, CPF_TUI_SSH_USER="alice", CPF_TUI_SSH_KEY_FINGERPRINT="SHA256:cle")
    app.wait_for("Connexion à l'espace de gestion CPF")
    app.log_in(identifier, DEFAULT_PASSWORD)
    app.wait_for("Se déconnecter")
    mark = len(app.output)
    os.kill(app.pid, signal.SIGTERM)
    assert app.finish() == 0
    assert LEAVE_ALTERNATE_SCREEN in app.output[mark:]
    [event] = journal(db_url)
    assert event.after == {"signal": "SIGTERM"}
    assert event.ssh_user == "alice" and event.ssh_key_fingerprint == "SHA256:cle"
    assert event.actor_identifier == identifier
    assert ended_sessions(db_url) == [("hangup", 1)]  # the session ended with it, once


def ended_sessions(db_url: str) -> list[tuple[str, int]]:
    """(end reason, session.end events) of every session ended."""
    from models import AppSession, AuditEvent

    async def go():
        await db_module.open_database(db_url)
        try:
            return [(row.end_reason, await AuditEvent.filter(action="session.end").count())
                    for row in await AppSession.filter(ended_at__isnull=False)]
        finally:
            await db_module.close_database()

    return asyncio.run(go())


HANGUP_TRIES = 50


def _gone_within(pid: int, seconds: float) -> bool:
    """Reap `pid` if it ends within `seconds`; True when it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
        time.sleep(0.01)
    return False


def test_closing_the_terminal_always_ends_the_process_within_two_seconds(db_url, tmp_path):
    """The terminal closed (SIGHUP + SIGCONT, then EIO) just after the login screen appears, 50 times.

    Before, 1 process in 10 stayed alive for ever: Textual's output thread died on EIO and the App,
    shutting down, waited on its full queue (cpf_tui/textual_internals.TerminalWriter).
    """
    stuck = []
    for attempt in range(HANGUP_TRIES):
        app = PtyApp(db_url, tmp_path)
        try:
            app.wait_for("Connexion à l'espace de gestion CPF")
            os.close(app.master)  # the SSH client or the terminal window went away
            app.closed = True
            if not _gone_within(app.pid, 2.0):
                stuck.append(attempt)
        finally:
            try:
                os.killpg(app.pid, signal.SIGKILL)
                os.waitpid(app.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    assert stuck == []
