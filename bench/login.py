"""Login time: Enter on the login form → home drawn, against one bare Argon2 verification of the same hash.

The figure of the goal is taken as a person sees it: the real `cpf-tui`, a new process for each run, in
a pseudo-terminal of 80x24, on a migrated SQLite database holding one operator whose password has the
real Argon2id parameters of user passwords. Identifier and password are typed one key at a time; the
clock starts when Enter is written to the terminal and stops at the last byte that draws the home
screen (the program then writes nothing for a second; Textual's pointer-shape sequence, which draws
nothing, is not counted). Bare verifications are timed between the runs, so that both figures see the
same machine. Also timed: the login service alone, the headless Textual Pilot (Enter → screen idle, as
the tests see it), and hashing 10,000 temporary passwords (cheap profile, see docs/security.md).
Prints the medians and the ratio login / bare verify (goal: ≤ 1.2); always exits 0 (figures, not a test).

Usage: python bench/login.py [--runs N] [--temporary N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL = 1.2
PASSWORD = "Vx9#qLm2-tRz8!kWp"
IDENTIFIER = "BENCHAAA"
HOME_TEXT = "Se déconnecter"  # in the key bar of the home screen only
QUIET_SECONDS = 1.0
POINTER_SHAPE = re.compile(rb"\x1b\]22;[^\x07]*\x07")


def bare_verify_seconds(password_hash: str, runs: int) -> list[float]:
    """One argon2-cffi verification of the account's hash, nothing else."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        hasher.verify(password_hash, PASSWORD)
        timings.append(time.perf_counter() - start)
    return timings


async def pilot_seconds(settings, runs: int) -> tuple[list[float], list[float]]:
    """(Enter → home screen idle under the headless Pilot, login service call alone), `runs` times each."""
    from cpf_tui.app import make_app
    from cpf_tui.services import auth
    from cpf_tui.services.context import RequestContext
    from screens.home import HomeScreen
    from screens.login import LoginScreen

    service = []
    for _ in range(runs):
        start = time.perf_counter()
        await auth.authenticate(IDENTIFIER, PASSWORD, RequestContext())
        service.append(time.perf_counter() - start)

    screen = []
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.db_ready.wait()
        for _ in range(runs):
            assert isinstance(app.screen, LoginScreen)
            await pilot.press(*IDENTIFIER, "enter", *PASSWORD)
            await pilot.pause()
            start = time.perf_counter()
            await pilot.press("enter")
            while not isinstance(app.screen, HomeScreen):
                await asyncio.sleep(0.001)
            await pilot.pause()
            screen.append(time.perf_counter() - start)
            await app.logout()
            await pilot.pause()
    return screen, service


def terminal_seconds(url: str, folder: str, password_hash: str, runs: int) -> tuple[list[float], list[float]]:
    """(Enter → last byte drawing home, in a real terminal, one new process per run; bare verifications)."""
    from tests.e2e.tmux import PtySession, app_env, cpf_tui_command

    env = app_env(Path(folder), CPF_TUI_DB_URL=url)
    home, verify = [], []
    for _ in range(runs):
        verify += bare_verify_seconds(password_hash, 3)
        session = PtySession([cpf_tui_command()], env=env, cwd=Path(folder))
        session.start()
        try:
            session.wait_for_text("Connexion à l'espace de gestion CPF", 60)
            session.wait_quiet(0.5)
            for key in (*IDENTIFIER, "\r", *PASSWORD):
                session.send(key.encode())
                session.pump(0.03)
            session.wait_quiet(0.5)
            seen = len(session.output)
            start = time.monotonic()
            session.send(b"\r")
            drawn = 0.0
            while True:
                session.pump(0.002)
                now = time.monotonic()
                if len(session.output) > seen:
                    if POINTER_SHAPE.sub(b"", bytes(session.output[seen:])):
                        drawn = now
                    seen = len(session.output)
                text = session.screen.text()
                if drawn and "Sections" in text and HOME_TEXT in text and now - drawn >= QUIET_SECONDS:
                    break
                if now - start > 60:
                    raise RuntimeError(f"accueil non affiché :\n{text}")
            home.append(drawn - start)
            session.send(b"\x11")
            session.wait_for_text("Quitter l'application", 30)
            session.send(b"o")
            session.wait_exit(30)
        finally:
            session.close()
    return home, verify


def temporary_hash_seconds(count: int) -> float:
    from cpf_tui.services import passwords

    start = time.perf_counter()
    for _ in range(count):
        passwords.hash_temporary(passwords.generate_temporary_password())
    return time.perf_counter() - start


async def prepare_account(url: str):
    """The bench account (operator, CGU accepted, chosen password): its password hash."""
    from cpf_tui.services import cgu, passwords
    from models import Account, Role

    await cgu.latest_version()
    account = await Account.create(
        identifier=IDENTIFIER, role=Role.OPERATOR, nom="Banc", prenom="Essai", email="banc@example.fr",
        password_hash=passwords.hash_password(PASSWORD), password_is_temporary=False, cgu_version_accepted=1,
    )
    return account.password_hash


async def headless_figures(url: str, folder: str, runs: int) -> tuple[str, list[float], list[float]]:
    from cpf_tui import db
    from cpf_tui.config import Settings

    await db.migrate(url)
    await db.open_database(url)
    try:
        password_hash = await prepare_account(url)
        settings = Settings()
        settings.data_dir = folder
        settings.database.url = url
        pilot, service = await pilot_seconds(settings, runs)
    finally:
        await db.close_database()
    return password_hash, pilot, service


def main_figures(runs: int, temporary: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        # Everything the app writes (the journal's key first) stays in the bench's folder, never in the
        # user's data directory.
        os.environ["CPF_TUI_DATA_DIR"] = folder
        url = f"sqlite://{Path(folder) / 'bench.sqlite3'}"
        password_hash, pilot, service = asyncio.run(headless_figures(url, folder, runs))
        screen, verify = terminal_seconds(url, folder, password_hash, runs)
    temp_seconds = temporary_hash_seconds(temporary)

    verify_median = statistics.median(verify)
    screen_median = statistics.median(screen)
    service_median = statistics.median(service)
    pilot_median = statistics.median(pilot)
    ratio = screen_median / verify_median
    print(f"Vérification Argon2id seule (médiane de {len(verify)}) : {verify_median * 1000:.0f} ms")
    print(f"Service de connexion seul (médiane)              : {service_median * 1000:.0f} ms "
          f"(rapport {service_median / verify_median:.2f})")
    print(f"Entrée → accueil dessiné, terminal réel (médiane) : {screen_median * 1000:.0f} ms "
          f"(essais : {' '.join(f'{t * 1000:.0f}' for t in screen)})")
    print(f"Entrée → écran au repos, Pilot sans terminal     : {pilot_median * 1000:.0f} ms "
          f"(rapport {pilot_median / verify_median:.2f}, attente d'inactivité du Pilot comprise)")
    print(f"Rapport connexion / vérification                 : {ratio:.2f} (objectif ≤ {GOAL})")
    print(f"Hachage de {temporary} mots de passe temporaires  : {temp_seconds:.1f} s "
          f"({temp_seconds / temporary * 1000:.2f} ms chacun)")
    verdict = "atteint" if ratio <= GOAL else "non atteint (voir docs/security.md, § 10)"
    print(f"Objectif {verdict}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--temporary", type=int, default=10_000)
    args = parser.parse_args()
    return main_figures(args.runs, args.temporary)


if __name__ == "__main__":
    raise SystemExit(main())
