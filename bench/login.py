"""Login time: Enter on the login form → home drawn, against one bare Argon2 verification of the same hash.

The App runs headless at 80x24 (Textual Pilot) on a fresh migrated SQLite database, with the real
Argon2id parameters of user passwords. Identifier and password are typed first; the clock starts at
Enter and stops when the home screen is the active screen. Also timed: the login service alone, and
hashing 10,000 temporary passwords (cheap profile, see docs/security.md).
Prints the medians and the ratio login / bare verify (goal: ≤ 1.2); always exits 0 (figures, not a test).

Usage: python bench/login.py [--runs N] [--temporary N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL = 1.2
PASSWORD = "Vx9#qLm2-tRz8!kWp"


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


async def login_seconds(settings, identifier: str, runs: int) -> tuple[list[float], list[float], list[float]]:
    """(Enter → home drawn, service call alone, home drawn alone), `runs` times each."""
    from cpf_tui.app import make_app
    from cpf_tui.services import auth
    from cpf_tui.services.context import RequestContext
    from screens.home import HomeScreen
    from screens.login import LoginScreen

    service = []
    for _ in range(runs):
        start = time.perf_counter()
        await auth.authenticate(identifier, PASSWORD, RequestContext())
        service.append(time.perf_counter() - start)

    screen, drawing = [], []
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.db_ready.wait()
        for _ in range(runs):
            assert isinstance(app.screen, LoginScreen)
            await pilot.press(*identifier, "enter", *PASSWORD)
            await pilot.pause()
            start = time.perf_counter()
            await pilot.press("enter")
            while not isinstance(app.screen, HomeScreen):
                await asyncio.sleep(0.001)
            await pilot.pause()  # the home screen is composed and drawn
            screen.append(time.perf_counter() - start)
            # The same home screen drawn again without logging in: the interface's share.
            session = app.session
            await app.logout()
            await pilot.pause()
            app.session = session
            start = time.perf_counter()
            await app.show_home()
            await pilot.pause()
            drawing.append(time.perf_counter() - start)
            app.session = None
            await app.logout()
            await pilot.pause()
    return screen, service, drawing


def temporary_hash_seconds(count: int) -> float:
    from cpf_tui.services import passwords

    start = time.perf_counter()
    for _ in range(count):
        passwords.hash_temporary(passwords.generate_temporary_password())
    return time.perf_counter() - start


async def main_async(runs: int, temporary: int) -> int:
    from cpf_tui import db
    from cpf_tui.config import Settings
    from cpf_tui.services import cgu, passwords
    from models import Account, Role

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{Path(folder) / 'bench.sqlite3'}"
        await db.migrate(url)
        await db.open_database(url)
        try:
            await cgu.latest_version()
            account = await Account.create(
                identifier="BENCHAAA", role=Role.OPERATOR, nom="Banc", prenom="Essai", email="banc@example.fr",
                password_hash=passwords.hash_password(PASSWORD), password_is_temporary=False,
                cgu_version_accepted=1,
            )
            settings = Settings()
            settings.data_dir = folder
            settings.database.url = url
            verify = bare_verify_seconds(account.password_hash, runs)
            screen, service, drawing = await login_seconds(settings, account.identifier, runs)
        finally:
            await db.close_database()
    temp_seconds = temporary_hash_seconds(temporary)

    verify_median = statistics.median(verify)
    screen_median = statistics.median(screen)
    service_median = statistics.median(service)
    ratio = screen_median / verify_median
    print(f"Vérification Argon2id seule (médiane de {runs}) : {verify_median * 1000:.0f} ms")
    print(f"Service de connexion seul (médiane)             : {service_median * 1000:.0f} ms "
          f"(rapport {service_median / verify_median:.2f})")
    print(f"Entrée → accueil affiché (médiane)              : {screen_median * 1000:.0f} ms")
    print(f"dont dessin de l'accueil seul (médiane)         : {statistics.median(drawing) * 1000:.0f} ms")
    print(f"Rapport connexion / vérification                : {ratio:.2f} (objectif ≤ {GOAL})")
    print(f"Hachage de {temporary} mots de passe temporaires : {temp_seconds:.1f} s "
          f"({temp_seconds / temporary * 1000:.2f} ms chacun)")
    verdict = "atteint" if ratio <= GOAL else "non atteint (voir docs/security.md, § 10)"
    print(f"Objectif {verdict} ; service seul : {service_median / verify_median:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--temporary", type=int, default=10_000)
    args = parser.parse_args()
    return asyncio.run(main_async(args.runs, args.temporary))


if __name__ == "__main__":
    raise SystemExit(main())
