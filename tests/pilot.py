"""Driving the App in Pilot tests: every wait bounded and named, one copy of each helper.

Workers let service errors rise to the App's one handler (screens/base.py), so waiting for workers
never raises for a worker that failed: a test checks what the failure showed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static
from textual.worker import WorkerState

SIZE = (80, 24)
"""The terminal size every Pilot test runs at."""
WAIT_SECONDS = 30.0
"""Longest wait for anything in a Pilot test; reaching it fails the test with what was awaited."""


def _screen_name(pilot: Pilot[object]) -> str:
    return type(pilot.app.screen).__name__


async def workers_done(app: App[object], *, timeout: float = WAIT_SECONDS) -> None:
    """Wait until no worker of the App is pending or running (failed or cancelled ones do not raise)."""
    deadline = time.monotonic() + timeout
    while True:
        busy = [worker for worker in app.workers if worker.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        if not busy:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            names = ", ".join(sorted(worker.name for worker in busy))
            raise AssertionError(f"workers still running after {timeout} s: {names} (screen {type(app.screen).__name__})")
        running = [worker for worker in busy if worker.state == WorkerState.RUNNING]
        if running:
            await asyncio.wait([asyncio.ensure_future(_finished(worker)) for worker in running],
                               timeout=min(left, 0.5))
        else:
            await asyncio.sleep(0.01)


async def _finished(worker) -> None:  # noqa: ANN001 - a Textual Worker
    try:
        await worker.wait()
    except Exception:  # noqa: BLE001 - failures went to the App's handler; the test looks at the screen
        pass


def _busy(app: App[object]) -> bool:
    """Workers running, or keys the App's key gate still holds or is delivering (a burst in progress)."""
    gate = getattr(app, "key_gate", None)
    return (gate is not None and gate.pending) or any(
        worker.state in (WorkerState.PENDING, WorkerState.RUNNING) for worker in app.workers)


async def settle(pilot: Pilot[object], *, timeout: float = WAIT_SECONDS) -> None:
    """Let the App handle pending messages and finish its workers, until a pause starts no new worker."""
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        await workers_done(pilot.app, timeout=max(deadline - time.monotonic(), 0.1))
        await pilot.pause()
        if not _busy(pilot.app):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"l'application ne se stabilise pas (écran {_screen_name(pilot)})")


async def wait_until(pilot: Pilot[object], condition: Callable[[], bool], what: str, *,
                     timeout: float = WAIT_SECONDS) -> None:
    """Wait until `condition()` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} : délai dépassé (écran {_screen_name(pilot)})")
        await pilot.pause(0.02)


async def wait_for_screen(pilot: Pilot[object], screen_name: str, *, timeout: float = WAIT_SECONDS) -> None:
    """Wait for `screen_name` on top, then for its work to be done."""
    await wait_until(pilot, lambda: _screen_name(pilot) == screen_name, f"écran {screen_name}", timeout=timeout)
    await settle(pilot, timeout=timeout)


async def log_in(pilot: Pilot[object], account, *, timeout: float = WAIT_SECONDS) -> None:  # noqa: ANN001
    """Open a session for `account` the way the login screen does once the password is checked."""
    from cpf_tui.services import auth

    await settle(pilot, timeout=timeout)
    pilot.app.logged_in(await auth.session_info(account.id))
    await settle(pilot, timeout=timeout)


async def log_in_with_keys(pilot: Pilot[object], identifier: str, password: str) -> None:
    """Type the identifier and the password on the login screen, each followed by Entrée."""
    await wait_for_screen(pilot, "LoginScreen")
    await pilot.app.wait_database()
    await pilot.press(*identifier, "enter", *password, "enter")
    await settle(pilot)


async def open_section(pilot: Pilot[object], section: str) -> None:
    """From home, move down the menu to the section (its id or its label) and open it with Entrée."""
    from screens.home import HomeScreen

    home = pilot.app.screen
    assert isinstance(home, HomeScreen), f"accueil attendu, écran {_screen_name(pilot)}"
    index = next(i for i, entry in enumerate(home.sections) if section in (entry.id, entry.label))
    await pilot.press("home", *["down"] * index, "enter")
    await settle(pilot)


def text_of(screen, selector: str) -> str:  # noqa: ANN001 - any Textual screen
    """The text shown by the Static `selector` of `screen`."""
    return str(screen.query_one(selector, Static).content)


class FakeMonotonic:
    """The App's idle clock, advanced by the tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def new_app(settings):  # noqa: ANN001, ANN201 - Settings -> CpfApp
    """The App with an idle clock the test advances (`app.monotonic.advance(seconds)`)."""
    from cpf_tui.app import make_app

    app = make_app(settings)
    app.monotonic = FakeMonotonic()
    return app


async def type_login(pilot: Pilot[object], identifier: str, password: str) -> None:
    """On the login screen: the identifier (field emptied first), Entrée, the password, Entrée."""
    from screens.login import LoginScreen

    login = pilot.app.screen
    assert isinstance(login, LoginScreen)
    login.identifier_input.focus()
    await pilot.press("ctrl+u", *identifier, "enter", *password, "enter")
    await settle(pilot)


async def login_and_open(pilot: Pilot[object], account, section: str) -> None:  # noqa: ANN001
    """Log in with the keyboard (the factories' default password) and open a home section."""
    from tests.factories import DEFAULT_PASSWORD

    await log_in_with_keys(pilot, account.identifier, DEFAULT_PASSWORD)
    await open_section(pilot, section)


async def type_into(pilot: Pilot[object], text: str) -> None:
    """Replace the focused field's text with `text`."""
    await pilot.press("ctrl+a", "ctrl+k", *text)


def bound_actions(screen) -> set[str]:  # noqa: ANN001 - any Textual screen
    """The actions the key bar offers as available on `screen`."""
    return {active.binding.action for active in screen.active_bindings.values() if active.enabled}


def restyled_nodes(app: App[object], monkeypatch) -> list[object]:  # noqa: ANN001 - pytest's MonkeyPatch
    """From now on, every node the App's stylesheet restyles (rules matched again), in order."""
    restyled: list[object] = []
    update_nodes = app.stylesheet.update_nodes

    def spy(nodes, animate=False):  # noqa: ANN001, ANN202 - Textual's signature
        nodes = list(nodes)
        restyled.extend(nodes)
        return update_nodes(nodes, animate=animate)

    monkeypatch.setattr(app.stylesheet, "update_nodes", spy)
    return restyled


class TableApp(App[None]):
    """An App showing only a CpfTable (#table), for the table's own tests."""

    def compose(self):  # noqa: ANN201 - Textual's ComposeResult
        from screens.widgets.table import CpfTable

        yield CpfTable(id="table")
