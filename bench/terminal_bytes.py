"""Bytes written to the terminal for login → home → user tree, against one full drawing of those screens.

Measured: the real `cpf-tui demo` in a pseudo-terminal of 80x24 on a fresh sandbox, driven with keys
like a person (administrator PRNC2UNQ types identifier and password, opens "Utilisateurs"); every byte
read from the pty master from start until the user tree is loaded and the screen is quiet.

Reference: the size of one full redraw of each of the three final screens (login, home, user tree), as
Textual's own renderer writes it (`Compositor.render_update(full=True).render_segments(console)`,
with the same TERM and colour system), summed.

Prints both, the ratio (goal ≤ 3) and where the bytes went (per phase).

Usage: python bench/terminal_bytes.py [--idle SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.tmux import PtySession, build_sandbox_file, cpf_tui_command  # noqa: E402

GOAL = 3.0
TIMEOUT = 90.0
IDENTIFIER = "PRNC2UNQ"
TERMINAL_ENV = {"TERM": "xterm-256color", "LANG": "C.UTF-8"}
TREE_LOADED = "Paris (35291604300016)"  # the Siège branch of the tree (home has no SIRET)


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CPF_TUI_", "TEXTUAL", "COLORTERM", "NO_COLOR", "COLUMNS", "LINES"))}
    env.update(TERMINAL_ENV)
    env["CPF_TUI_DATA_DIR"] = str(data_dir)
    return env


def dwell(session: PtySession, seconds: float) -> None:
    """Keep reading for `seconds`, as long as a person looks at the screen (blinking cursors write)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and session.pump(0.05):
        pass


def measure_session(sandbox: Path, work: Path, idle: float) -> dict[str, int]:
    """Bytes written by the real app in each phase of login → home → user tree."""
    from cpf_tui.services.sandbox import training_accounts

    password = next(a.password for a in training_accounts() if a.identifier == IDENTIFIER)
    database = work / "run.sqlite3"
    shutil.copyfile(sandbox, database)
    session = PtySession([cpf_tui_command(), "demo", "--db", str(database)], env=environment(work / "data"),
                         cwd=work)
    phases: dict[str, int] = {}
    session.start()
    try:
        session.wait_for_text("Connexion à l'espace de gestion CPF", TIMEOUT)
        dwell(session, idle)
        phases["écran de connexion"] = len(session.output)
        mark = len(session.output)
        for text in (IDENTIFIER, "\r", password):
            for char in text:  # one key at a time, like a person
                session.send(char.encode())
                dwell(session, 0.15)
        phases["saisie identifiant et mot de passe"] = len(session.output) - mark
        mark = len(session.output)
        session.send(b"\r")
        session.wait_for_text("Utilisateurs — habiliter", TIMEOUT)
        dwell(session, idle)
        phases["accueil"] = len(session.output) - mark
        mark = len(session.output)
        session.send(b"\r")
        session.wait_for_text(TREE_LOADED, TIMEOUT)
        dwell(session, idle)
        phases["arbre des utilisateurs"] = len(session.output) - mark
        session.send(b"\x11")
        session.wait_for_text("Quitter l'application", TIMEOUT)
        session.send(b"o")
        session.wait_exit(TIMEOUT)
    finally:
        session.close()
    return phases


async def reference_sizes(sandbox: Path, work: Path) -> dict[str, int]:
    """Bytes of one full redraw of login, home and user tree, rendered by Textual for the same terminal."""
    for key, value in TERMINAL_ENV.items():
        os.environ[key] = value
    for key in ("COLORTERM", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM"):
        os.environ.pop(key, None)
    from cpf_tui.app import make_app
    from cpf_tui.config import Settings
    from cpf_tui.services.sandbox import training_accounts

    password = next(a.password for a in training_accounts() if a.identifier == IDENTIFIER)
    database = work / "reference.sqlite3"
    shutil.copyfile(sandbox, database)
    settings = Settings()
    settings.data_dir = str(work / "data-reference")
    settings.database.url = f"sqlite://{database}"
    settings.sandbox = True
    app = make_app(settings)
    sizes: dict[str, int] = {}

    def full_redraw() -> int:
        update = app.screen._compositor.render_update(full=True)
        return len(update.render_segments(app.console).encode("utf-8"))

    async def settle(pilot, screen_name: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while type(app.screen).__name__ != screen_name:
            if time.monotonic() > deadline:
                raise RuntimeError(f"écran {screen_name} non atteint")
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, "LoginScreen")
        await app.db_ready.wait()
        sizes["écran de connexion"] = full_redraw()
        await pilot.press(*IDENTIFIER, "enter", *password, "enter")
        await settle(pilot, "HomeScreen")
        sizes["accueil"] = full_redraw()
        await pilot.press("enter")
        await settle(pilot, "UserTreeScreen")
        deadline = time.monotonic() + TIMEOUT
        tree = app.screen.query_one("#user-tree")
        while not any("Siège" in child.label.plain for child in tree.root.children):
            if time.monotonic() > deadline:
                raise RuntimeError("arbre des utilisateurs non chargé")
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        sizes["arbre des utilisateurs"] = full_redraw()
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description="Octets écrits au terminal : connexion → accueil → arbre.")
    parser.add_argument("--idle", type=float, default=3.0,
                        help="secondes passées à regarder chaque écran (défaut 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cpf-bytes-") as folder:
        work = Path(folder)
        sandbox = build_sandbox_file(work / "sandbox.sqlite3")
        phases = measure_session(sandbox, work, args.idle)
        reference = asyncio.run(reference_sizes(sandbox, work))
    written = sum(phases.values())
    drawn_once = sum(reference.values())
    ratio = written / drawn_once
    print("Octets écrits par l'application (pty 80x24), par étape :")
    for name, size in phases.items():
        print(f"  {name:38s} {size:8d}")
    print(f"  {'total':38s} {written:8d}")
    print("Un dessin complet de chaque écran final (rendu Textual) :")
    for name, size in reference.items():
        print(f"  {name:38s} {size:8d}")
    print(f"  {'total':38s} {drawn_once:8d}")
    verdict = "OK" if ratio <= GOAL else "AU-DESSUS DE L'OBJECTIF"
    print(f"ratio écrit / dessiné une fois : {ratio:.2f} (objectif ≤ {GOAL:g}) — {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
