"""Writing only the changed cells shows exactly what full redraws show (the real app, tmux, 80x24).

Two copies of the same sandbox run side by side: one with the screen memory (the default), one with
`CPF_TUI_UI__CHANGED_LINES_ONLY=false`. They receive the same keys; after every step, once both screens
are still, the two panes — characters, colours and attributes (`capture-pane -e`) — must be identical.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpf_tui.services.sandbox import training_accounts
from tests.e2e.tmux import TmuxTerminal, app_env, build_sandbox_file, copy_sandbox, cpf_tui_command, requires_tmux

pytestmark = [requires_tmux, pytest.mark.slow]

IDENTIFIER = "PRNC2UNQ"


def still_screen(term: TmuxTerminal, timeout: float = 30.0) -> str:
    """The pane once it has not changed for half a second."""
    deadline = time.monotonic() + timeout
    last, since = term.screen_with_escapes(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = term.screen_with_escapes()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 0.5:
            return now
    raise AssertionError(f"L'écran ne se stabilise pas :\n{term.screen()}")


def settled_pair(memory: TmuxTerminal, full: TmuxTerminal, timeout: float = 30.0) -> tuple[str, str]:
    """Both panes once each is still, compared until they agree or `timeout` passes.

    Under load an app may pause longer than `still_screen`'s half second between two frames (a table
    drawn, then its columns sized at the next idle moment), so one capture can catch an intermediate
    frame. A screen-memory fault leaves a difference that lasts (nothing redraws the stale cells):
    it still fails, after `timeout`.
    """
    deadline = time.monotonic() + timeout
    while True:
        shown, expected = still_screen(memory), still_screen(full)
        if shown == expected or time.monotonic() > deadline:
            return shown, expected
        time.sleep(0.2)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[TmuxTerminal, TmuxTerminal]]:
    sandbox = build_sandbox_file(tmp_path / "pristine" / "sandbox.sqlite3")
    terminals = []
    for name, extra in (("memory", {}), ("full", {"CPF_TUI_UI__CHANGED_LINES_ONLY": "false"})):
        folder = tmp_path / name
        folder.mkdir()
        database = copy_sandbox(sandbox, folder / "db")
        terminals.append(TmuxTerminal([cpf_tui_command(), "demo", "--db", str(database)],
                                      env=app_env(folder, **extra), cwd=folder))
    for term in terminals:
        term.start()
    try:
        yield terminals[0], terminals[1]
    finally:
        for term in terminals:
            term.close()


def test_screens_drawn_by_changes_only_equal_full_redraws(pair):
    memory, full = pair
    password = next(a.password for a in training_accounts() if a.identifier == IDENTIFIER)
    for term in pair:
        term.wait_for("Connexion à l'espace de gestion CPF", 90)
    steps = [
        ("type", IDENTIFIER, IDENTIFIER), ("send", "Enter", None), ("type", password, None),
        ("send", "Enter", "Sections"),
        ("send", "Down", None), ("send", "Up", None),
        ("send", "Enter", "Paris"),  # the first section of a principal administrator: the user tree
        ("send", "Down", None), ("send", "Down", None), ("send", "Enter", None), ("send", "Down", None),
        ("send", "F1", "Aide"), ("send", "Escape", None),
        ("send", "/", None), ("type", "mar", None), ("send", "BSpace", None), ("send", "Escape", None),
        ("send", "Escape", "Sections"),
        ("send", "C-l", None),
    ]
    for number, (kind, keys, wait) in enumerate(steps, 1):
        for term in pair:
            term.type(keys) if kind == "type" else term.send(keys)
        if wait:
            for term in pair:
                term.wait_for(wait, 45)
        shown, expected = settled_pair(memory, full)
        assert shown == expected, f"étape {number} ({keys}) : écrans différents\n{memory.screen()}\n---\n{full.screen()}"
    for term in pair:  # a new terminal size: everything is drawn again, at the new size
        term._tmux("resize-window", "-t", term.session, "-x", "100", "-y", "30")  # noqa: SLF001
    shown, expected = settled_pair(memory, full)
    assert len(shown.splitlines()) >= 29 and shown == expected, f"après agrandissement\n{memory.screen()}"
    for term in pair:
        term.send("Down")
    shown, expected = settled_pair(memory, full)
    assert shown == expected
    for term in pair:
        term.send("C-q")
