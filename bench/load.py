"""Several `ssh-serve` front ends on one PostgreSQL, under load: key → screen drawn, memory, CPU, integrity.

What it does, bounded in count and time, on loopback only, and stopping by itself:
1. starts its own PostgreSQL (initdb + pg_ctl in a temporary folder, free loopback port; never the
   machine's server), migrates it and loads a data set: one organisation per session, each with one
   gestionnaire (profile Clôture) and ITERATIONS draft files on funded holders, plus HOLDERS holders
   to search among;
2. starts FRONT_ENDS `cpf-tui ssh-serve` on loopback ports, all on that database and the same audit key;
3. runs the scenario once with one session alone (the baseline), then SESSIONS sessions at once, spread
   over the front ends, each one an asyncssh client with a pty 80x24 acting as its gestionnaire:
   log in; then ITERATIONS times: search a holder by NIR, open the holder's page, back home, open the
   files list, open a draft, validate it, close it, back home; with think times between steps.
   Each step is timed from the key sent to the screen drawn (the text that step shows, read from
   the terminal output with tests/vt.py's VirtualScreen);
4. prints, per step, p50/p95/p99 and errors under load, p95 alone and the ratio; sessions per front
   end; PSS (from /proc/PID/smaps_rollup: the pre-loaded launcher shares its pages) and CPU per session
   process; the load average;
5. after the run: `cpf-tui check`, `cpf-tui audit verify`, and the ledger movements written during the
   run against the validations and closures the harness saw succeed (one reservation movement per
   validation, one consumption movement per closure on these CPF-only files).

Goals (issue 16): 60 sessions over 3 front ends; p95 ≤ 300 ms for search and open, ≤ 1 s for validate;
0 errors; PSS ≤ 30 MB per session; check and audit verify clean; movements = validations + closures.

Usage: .venv/bin/python bench/load.py [--sessions 24] [--front-ends 3] [--holders 20000]
       [--iterations 2] [--think 1.0] [--pool 2] [--max-seconds 480]
The defaults fit a 2-core machine in well under 10 minutes (the client runs on the same cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpf_tui import db as db_module  # noqa: E402
from tests.factories import DEFAULT_PASSWORD  # noqa: E402
from tests.pg_instance import PgInstance  # noqa: E402
from tests.ssh_harness import SshServer, Terminal  # noqa: E402

H = 60
STEPS = ("connexion", "recherche", "fiche titulaire", "liste dossiers", "ouverture dossier", "validation",
         "clôture")
GOALS_MS = {"recherche": 300, "fiche titulaire": 300, "ouverture dossier": 300, "validation": 1000}
F5, F6, CTRL_S, ESCAPE, DOWN = "\x1b[15~", "\x1b[17~", "\x13", "\x1b", "\x1b[B"
STEP_TIMEOUT = 90.0
"""A step not drawn after this is an error (the load of a shared 2-core machine can stall a screen for tens of seconds)."""


def nir_for(i: int) -> str:
    """A valid, unique NIR for bulk holder number i."""
    order = i % 999 + 1
    commune = (i // 999) % 990 + 1
    department = (i // (999 * 990)) % 95 + 1
    if department == 20:
        department = 96
    base = f"{1 + i % 2}{40 + (i * 7) % 60:02d}{1 + (i * 5) % 12:02d}{department:02d}{commune:03d}{order:03d}"
    return base + f"{97 - int(base) % 97:02d}"


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


@dataclass
class Person:
    identifier: str
    files: int


@dataclass
class Rendezvous:
    """Sessions meet twice: all logged in (memory and CPU measured from there), all done (CPU measured
    while every session process is still alive); they close only after the second measure."""

    total: int
    logged: int = 0
    finished: int = 0
    all_logged: asyncio.Event = field(default_factory=asyncio.Event)
    all_finished: asyncio.Event = field(default_factory=asyncio.Event)
    may_close: asyncio.Event = field(default_factory=asyncio.Event)

    def log_in(self) -> None:
        self.logged += 1
        if self.logged == self.total:
            self.all_logged.set()

    async def finish(self) -> None:
        self.finished += 1
        if self.finished == self.total:
            self.all_finished.set()
            self.all_logged.set()
        try:
            await asyncio.wait_for(self.may_close.wait(), 120)
        except asyncio.TimeoutError:
            pass


@dataclass
class Figures:
    times: dict[str, list[float]] = field(default_factory=lambda: {step: [] for step in STEPS})
    errors: dict[str, list[str]] = field(default_factory=lambda: {step: [] for step in STEPS})
    validations: int = 0
    closures: int = 0


# -- data set ---------------------------------------------------------------------------------------
async def load(url: str, people: int, files_each: int, holders: int) -> tuple[list[Person], list[str]]:
    """Organisations, gestionnaires, funded holders with draft files, and `holders` more to search."""
    from cpf_tui.services import dossiers
    from cpf_tui.services.context import RequestContext
    from cpf_tui.services.dossiers import DossierInput
    from models import Holder, Profile, Role
    from tests.factories import make_account, make_organisation, make_siren, make_siret
    from tests.holder_helpers import funded_holder

    await db_module.open_database(url)
    try:
        nirs = [nir_for(i) for i in range(holders)]
        for start in range(0, holders, 5000):
            await Holder.bulk_create([
                Holder(nir=nir, nom_naissance=f"TITULAIRE{i}", search_name=f"TITULAIRE{i}", prenoms="Camille",
                       date_naissance=date(1980, 1 + i % 12, 1 + i % 28))
                for i, nir in enumerate(nirs[start:start + 5000], start)
            ], batch_size=1000)
        found: list[Person] = []
        siret = make_siret(make_siren(904), 21)
        for n in range(people):
            org = await make_organisation()
            account = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
            ctx = RequestContext(account_id=account.id)
            for _ in range(files_each):
                holder = await funded_holder(100 * H, nir=nir_for(holders + n * files_each + _))
                await dossiers.create_draft(ctx, DossierInput(
                    holder_nir=holder.nir, training_title="Comptabilité", provider_name="Compta Formation",
                    provider_siret=siret, start_date=date(2026, 3, 2), end_date=date(2026, 3, 27),
                    duration_minutes=35 * H, requested_minutes=35 * H))
            found.append(Person(account.identifier, files_each))
        return found, nirs
    finally:
        await db_module.close_database()


async def movement_count(url: str) -> int:
    from models import HoursMovement

    await db_module.open_database(url)
    try:
        return await HoursMovement.all().count()
    finally:
        await db_module.close_database()


# -- one person ---------------------------------------------------------------------------------------
async def step(figures: Figures, name: str, term: Terminal, keys: str, *markers: str) -> bool:
    """Send `keys`, time until every one of `markers` shows on the screen; record the time or the error."""
    start = time.perf_counter()
    term.write(keys)
    try:
        await term.wait_until(lambda: all(marker in term.screen.text() for marker in markers),
                              " + ".join(markers), timeout=STEP_TIMEOUT)
    except (AssertionError, OSError, asyncio.TimeoutError) as exc:
        lines = str(exc).splitlines()
        figures.errors[name].append(" | ".join(line.strip() for line in lines[:4] if line.strip())[:240])
        return False
    figures.times[name].append(time.perf_counter() - start)
    return True


async def think(rng: random.Random, seconds: float) -> None:
    await asyncio.sleep(rng.uniform(0.5, 1.5) * seconds)


async def act(server: SshServer, person: Person, nirs: list[str], figures: Figures, think_s: float,
              seed: int, deadline: float, meet: Rendezvous | None = None) -> None:
    rng = random.Random(seed)
    conn = await server.connect("alice")
    logged = False
    try:
        term = await Terminal.open(conn, 80, 24)
        await term.wait_for("Connexion à l'espace de gestion CPF", timeout=120)
        start = time.perf_counter()
        try:
            await term.log_in(person.identifier, DEFAULT_PASSWORD, timeout=120)
            await term.wait_for("x Se déconnecter", timeout=120)
        except AssertionError as exc:
            figures.errors["connexion"].append(str(exc).splitlines()[0][:120])
            return
        figures.times["connexion"].append(time.perf_counter() - start)
        if meet is not None:
            meet.log_in()
            logged = True
        for index in range(person.files):
            if time.monotonic() > deadline:
                return
            await think(rng, think_s)
            term.write("1")
            await term.wait_for("NIR ou nom", timeout=STEP_TIMEOUT)
            if not await step(figures, "recherche", term, rng.choice(nirs) + "\r", "titulaire(s) trouvé(s)"):
                return
            await think(rng, think_s)
            if not await step(figures, "fiche titulaire", term, "\r", "CPF disponible"):
                return
            await think(rng, think_s)
            for keys, marker in ((ESCAPE, "NIR ou nom"), (ESCAPE, "x Se déconnecter")):
                term.write(keys)
                await term.wait_for(marker, timeout=STEP_TIMEOUT)
            if not await step(figures, "liste dossiers", term, "2", "t Trier", "DF-20"):  # rows loaded
                return
            await think(rng, think_s)
            if not await step(figures, "ouverture dossier", term, DOWN * index + "\r", "f5 Valider"):
                return
            await think(rng, think_s)
            term.write(F5)
            await term.wait_for("Valider (o)", timeout=STEP_TIMEOUT)
            if not await step(figures, "validation", term, "o", "heures réservées."):
                return
            figures.validations += 1
            await think(rng, think_s)
            term.write(F6)
            await term.wait_for("Ctrl+S clore", timeout=STEP_TIMEOUT)
            term.write(CTRL_S)
            await term.wait_for("Clore (o)", timeout=STEP_TIMEOUT)  # the closure is confirmed first
            if not await step(figures, "clôture", term, "o", "Dossier clos."):
                return
            figures.closures += 1
            for keys, marker in ((ESCAPE, "t Trier"), (ESCAPE, "x Se déconnecter")):
                term.write(keys)
                await term.wait_for(marker, timeout=STEP_TIMEOUT)
    except (AssertionError, OSError, asyncio.TimeoutError) as exc:
        figures.errors["liste dossiers"].append(f"navigation : {str(exc).splitlines()[0][:100]}")
    finally:
        if meet is not None:
            if not logged:
                meet.log_in()
            await meet.finish()
        conn.close()
        await conn.wait_closed()


# -- the run -------------------------------------------------------------------------------------------
def cli(url: str, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPF_TUI_")}
    env.update({"CPF_TUI_DB_URL": url, "CPF_TUI_AUDIT__KEY_FILE": str(key)})
    return subprocess.run([sys.executable, "-m", "cpf_tui", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f}"


async def run(options: argparse.Namespace) -> int:
    from cpf_tui.services import audit_key

    base = Path(tempfile.mkdtemp(prefix="cpf-bench-load-"))
    # Every session process has its own pool: `maxsize` connections at most (Tortoise's default is 5).
    pg = PgInstance(settings={"max_connections": str(50 + (options.pool + 1) * (options.sessions + 1))})
    servers: list[SshServer] = []
    try:
        pg.init().start()
        url = pg.create_database("cpf") + f"?maxsize={options.pool}"
        print(f"PostgreSQL à part : 127.0.0.1:{pg.port} ({pg.bin})", flush=True)
        t0 = time.perf_counter()
        await db_module.migrate(url)
        key = audit_key.create_key(base / "audit.key").path
        os.environ[audit_key.ENV_VAR] = str(key)
        people, nirs = await load(url, options.sessions + 1, options.iterations, options.holders)
        holders_text = f"{options.holders:,}".replace(",", "\u202f")
        print(f"Données : {holders_text} titulaires, {options.sessions + 1} organismes et gestionnaires, "
              f"{(options.sessions + 1) * options.iterations} dossiers à traiter "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        movements_before = await movement_count(url)

        for n in range(options.front_ends):
            folder = base / f"frontal-{n + 1}"
            (folder / "data").mkdir(parents=True)
            shutil.copy2(key, folder / "data" / "audit.key")  # every front end signs with the same key
            servers.append(SshServer(folder, url, extra_args=(
                "--max-sessions", str(options.sessions + 5), "--max-per-user", str(options.sessions + 5),
                "--max-per-connection", "1")))
        for server in servers:
            await asyncio.to_thread(server.start)
        print(f"{len(servers)} frontaux ssh-serve : ports {', '.join(str(s.port) for s in servers)}", flush=True)
        deadline = time.monotonic() + options.max_seconds

        alone = Figures()
        await act(servers[0], people[-1], nirs, alone, options.think, 0, deadline)

        figures = Figures()
        meet = Rendezvous(len(people) - 1)
        cpu_start: dict[int, float] = {}
        cpu_used: list[float] = []
        samples: list[int] = []
        per_front_end: list[int] = []

        async def measure() -> None:
            await meet.all_logged.wait()
            for server in servers:
                apps = server.apps()
                per_front_end.append(len(apps))
                for pid in apps:
                    samples.append(pss_kib(pid))
                    cpu_start[pid] = cpu_seconds(pid)
            await meet.all_finished.wait()
            cpu_used.extend(cpu_seconds(pid) - start for pid, start in cpu_start.items() if cpu_seconds(pid))
            meet.may_close.set()

        client_cpu = time.process_time()
        started = time.perf_counter()
        tasks = [act(servers[n % len(servers)], person, nirs, figures, options.think, n + 1, deadline, meet)
                 for n, person in enumerate(people[:-1])]
        measuring = asyncio.create_task(measure())
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
        await measuring
        client_cpu = time.process_time() - client_cpu
        load_average = os.getloadavg()

        for server in servers:
            await asyncio.to_thread(server.stop)
        check = cli(url, key, "check")
        verify = cli(url, key, "audit", "verify")
        movements = await movement_count(url) - movements_before
        done_alone = alone.validations + alone.closures

        print(f"\n{options.sessions} sessions sur {len(servers)} frontaux, {options.iterations} dossier(s) chacune, "
              f"réflexion ≈ {options.think:.1f} s ; durée {wall:.0f} s ; charge moyenne "
              f"{load_average[0]:.2f} / {load_average[1]:.2f} / {load_average[2]:.2f} ({os.cpu_count()} cœurs)")
        print(f"{'étape (touche → écran, ms)':28} {'n':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'seul p95':>8} "
              f"{'ratio':>6} {'erreurs':>7} {'objectif':>9}")
        failed = 0
        for name in STEPS:
            values, solo = figures.times[name], alone.times[name]
            ratio = percentile(values, 0.95) / percentile(solo, 0.95) if values and solo else float("nan")
            goal = GOALS_MS.get(name)
            verdict = ""
            if goal is not None and values:
                ok = percentile(values, 0.95) * 1000 <= goal
                verdict = f"{'OK' if ok else 'NON'} ≤{goal}"
                failed += not ok
            errors = len(figures.errors[name])
            failed += errors > 0
            print(f"{name:28} {len(values):4d} {ms(percentile(values, .5))} {ms(percentile(values, .95))} "
                  f"{ms(percentile(values, .99))} {ms(percentile(solo, .95)):>8} {ratio:6.2f} {errors:7d} {verdict:>9}")
        for name in STEPS:
            for error in figures.errors[name][:3]:
                print(f"  erreur {name} : {error}")
        print(f"Sessions par frontal (pendant la charge) : {per_front_end}")
        if samples:
            pss_mb = [s / 1024 for s in samples]
            print(f"PSS par session : médiane {statistics.median(pss_mb):.1f} Mo, max {max(pss_mb):.1f} Mo "
                  f"({'OK' if max(pss_mb) <= 30 else 'NON'} ≤ 30 Mo)")
        if cpu_used:
            print(f"CPU par session, toutes connectées → toutes finies : médiane {statistics.median(cpu_used):.2f} s,"
                  f" max {max(cpu_used):.2f} s (sur ≈ {wall:.0f} s)")
        refused = pg.log.read_text(errors="replace").count("too many clients")
        print(f"Connexions PostgreSQL refusées (too many clients) : {refused} ; max_connections "
              f"{pg.settings['max_connections']}, {options.pool} connexion(s) au plus par session (?maxsize=)")
        print(f"Client de mesure (asyncssh + émulateur de terminal, mêmes cœurs) : {client_cpu:.1f} s de CPU")
        print(f"cpf-tui check : {'OK' if check.returncode == 0 else 'ÉCHEC'} — {check.stdout.strip()[:100]}")
        print(f"cpf-tui audit verify : {'OK' if verify.returncode == 0 else 'ÉCHEC'} — "
              f"{verify.stdout.strip().splitlines()[0][:100] if verify.stdout.strip() else verify.stderr[:100]}")
        expected = figures.validations + figures.closures + done_alone
        print(f"Mouvements du compte d'heures écrits : {movements} ; validations + clôtures réussies : "
              f"{expected} ({'égal' if movements == expected else 'DIFFÉRENT'})")
        failed += check.returncode != 0 or verify.returncode != 0 or movements != expected
        return 0 if failed == 0 else 1
    finally:
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                await asyncio.to_thread(server.stop)
        pg.remove()
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=24, help="sessions at once (plus one alone before)")
    parser.add_argument("--front-ends", type=int, default=3)
    parser.add_argument("--holders", type=int, default=20000, help="holders to search among")
    parser.add_argument("--iterations", type=int, default=2, help="files each session validates and closes")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between steps (s)")
    parser.add_argument("--pool", type=int, default=2, help="connections per session process (URL ?maxsize=)")
    parser.add_argument("--max-seconds", type=float, default=480, help="no new iteration after this")
    options = parser.parse_args()
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
