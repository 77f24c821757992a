"""Several `ssh-serve` front ends on one PostgreSQL, under load: key → screen drawn, memory, CPU, integrity.

What it does, bounded in count and time, on loopback only, and stopping by itself:
1. starts its own PostgreSQL (initdb + pg_ctl in a temporary folder, free loopback port; never the
   machine's server), migrates it and loads the national data set (`bench/load_data.py`, PostgreSQL
   COPY, about 40 s): ORGANISATIONS organisations (100), GESTIONNAIRES gestionnaires (5,000), HOLDERS
   holders (1,000,000), FILES training files (200,000: drafts, validated and closed ones with their
   reservation and consumption movements, every balance the sum of its movements); then the people of
   the bench, through the factories and services: each gestionnaire (profile Clôture) in an
   organisation of its own among those, with ITERATIONS draft files on funded holders (the newest of its
   list), each administrator the principal administrator of another one;
2. starts FRONT_ENDS `cpf-tui ssh-serve` on loopback ports, all on that database and the same audit key;
3. runs each scenario once alone (the baselines: a gestionnaire and an administrator, side by side on
   two front ends),
   then SESSIONS sessions (ADMINS of them administrators) spread over the front ends, each one an asyncssh
   client with a pty 80x24, arriving one by one over RAMP seconds:
   - a gestionnaire logs in; then ITERATIONS times: searches a holder by NIR, opens the holder's page,
     back home, opens the files list, opens a draft, validates it, closes it, back home;
   - an administrator logs in; then ITERATIONS times: opens the user tree, chooses the establishment,
     fills the new-account form (a gestionnaire), saves, closes the identifier dialog, deactivates the
     account just created (confirmed), back home.
   Each step is timed from the key sent to the screen drawn (the text that step shows, read from the
   terminal output with tests/vt.py's VirtualScreen).
   **The person's pace** (see docs/benchmarks.md): before each key that follows a new screen, the person
   reads it for a time drawn uniformly in THINK (default 3–10 s); a confirmation dialog is only glanced
   at (0.5–1.5 s); text (identifier, password, NIR, names, e-mail) is typed one key at a time at TYPING
   keys per second (default 5, with ±50 % jitter); only the key that asks for the screen is timed.
   The two baselines read for BASELINE_THINK (default 1–2 s) instead: the work behind each key is the
   same, and a shorter idle time can only make the baseline faster (the ratio stricter).
4. prints, per step, p50/p95/p99 and errors under load, p95 alone and the ratio; sessions per front
   end; PSS and private memory (from /proc/PID/smaps_rollup: the pre-loaded launcher shares its pages)
   of every session process once all are logged in and again at the end of their walk; CPU per session
   process; the load average; the p95 of the goal steps during the arrivals and after; the whole
   machine's busy processor time during the load phase, PostgreSQL's and the front ends' own share;
   how late the measuring client's event loop runs (what it adds to the times); with --statements N,
   the N statements that took PostgreSQL most time (pg_stat_statements);
5. after the run: `cpf-tui check`, `cpf-tui audit verify`; every write each session saw succeed
   (validation, closure, account created, account deactivated) counted per actor in the audit chain,
   summed per front end; the ledger movements written against the validations and closures seen (one
   reservation movement per validation, one consumption movement per closure on these CPF-only files).

The kernel's same-page merging (KSM, docs/deploy.md § 4): the launchers offer their memory to it, and
`--ksm on` (the default, as deploy.md recommends for front ends) turns it on for the run when the script
may (root), `--ksm off` turns it off, `--ksm keep` leaves the machine as it is; the machine's settings
come back at the end. The figures say which it was, ksmd's processor time and the pages it merged.

Goals (issue 16): 60 sessions over 3 front ends; p95 ≤ 300 ms for search and open, ≤ 1 s for validate;
0 errors; PSS ≤ 30 MB per session; check and audit verify clean; every write in the chain;
movements = validations + closures.

Usage: .venv/bin/python bench/load.py [--sessions 60] [--admins 6] [--front-ends 3] [--organisations 100]
       [--gestionnaires 5000] [--holders 1000000] [--files 200000] [--iterations 2] [--think 3-10] [--baseline-think 1-2] [--typing 5] [--ramp 60] [--pool 2] [--max-seconds 300] [--profile DIR] [--statements N] [--ksm on|off|keep] [--ksm-pages 1000]
The defaults fit a 2-core machine in under 10 minutes (about 7 min with the national data set on 4 December,
load average 2-4 at the end; 7 min 47 s with the earlier small data set at load average 16; the client runs on the same cores).
`--think 1-1 --typing 0 --ramp 0` gives the earlier machine-gun pace (every key at once).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpf_tui import db as db_module  # noqa: E402
from cpf_tui.ssh_zygote import PROFILE_ENV  # noqa: E402
from tests.factories import DEFAULT_PASSWORD  # noqa: E402

from holders import nir_for  # noqa: E402  (bench/, the script's folder)
from load_data import NationalData, load_national  # noqa: E402
from tests.pg_instance import PgInstance  # noqa: E402
from tests.ssh_harness import (  # noqa: E402
    LAUNCHER_READY, SshServer, Terminal, children_of, is_launcher, rss_kib,
)
from tests.vt import cursor_in_field_below  # noqa: E402

H = 60
STEPS = ("connexion", "recherche", "fiche titulaire", "liste dossiers", "ouverture dossier", "validation",
         "clôture", "utilisateurs", "création compte", "désactivation")
GOALS_MS = {"recherche": 300, "fiche titulaire": 300, "ouverture dossier": 300, "validation": 1000}
F5, F6, CTRL_S, ESCAPE, DOWN, TAB = "\x1b[15~", "\x1b[17~", "\x13", "\x1b", "\x1b[B", "\t"
WRITES = ("dossier.validate", "dossier.close", "account.create", "account.deactivate")
"""Audit actions of the writes the harness counts per actor (each must be in the chain once per success)."""
SESSION_EVENTS = ("login", "session.end", "session.hangup")
"""Audit actions of a session's start and end, counted for the whole run."""
FIRST_NAMES = ("Camille", "Inès", "Noé", "Louise", "Hugo", "Jeanne", "Malik", "Léa", "Yanis", "Chloé")
LAST_NAMES = ("Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Fournier", "Girard", "Bonnet")
STEP_TIMEOUT = 90.0
"""A step not drawn after this is an error (the load of a shared 2-core machine can stall a screen for tens of seconds)."""


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


async def loop_lag(lags: list[float], period: float = 0.02) -> None:
    """How late the client's event loop wakes up (every `period`): a key or a screen seen late by the
    client adds this much to the time measured for a step."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(max(0.0, time.perf_counter() - start - period))


def machine_cpu() -> tuple[float, float]:
    """(busy, total) processor seconds of the whole machine since boot, every core (/proc/stat)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    ticks = os.sysconf("SC_CLK_TCK")
    return (total - idle) / ticks, total / ticks


def own_cpu(pid: int, *, reaped_children: bool = False) -> float:
    """Processor seconds of a process itself (threads included), plus those of its children it has
    reaped when `reaped_children` (fields cutime, cstime); 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped_children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu(pg: PgInstance) -> float:
    """Processor seconds of the PostgreSQL server: the postmaster, its live backends and those that ended."""
    try:
        postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return own_cpu(postmaster, reaped_children=True) + sum(own_cpu(pid) for pid in children_of(postmaster))


def front_end_cpu(servers: list[SshServer]) -> float:
    """Processor seconds of the front ends' own processes (SSH server and launcher), sessions excluded."""
    total = 0.0
    for server in servers:
        total += own_cpu(server.pid)
        total += sum(own_cpu(pid) for pid in children_of(server.pid) if is_launcher(pid))
    return total


class Merging:
    """The kernel's same-page merging (KSM) during the run, then the machine's own settings again."""

    FOLDER = Path("/sys/kernel/mm/ksm")
    SETTINGS = ("run", "pages_to_scan", "sleep_millisecs")

    def __init__(self, mode: str, pages: int) -> None:
        self.mode, self.pages = mode, pages
        self.saved: dict[str, str] = {}

    def _write(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            (self.FOLDER / name).write_text(value)

    def apply(self) -> str:
        """Set KSM as asked; says what it is for the run."""
        try:
            self.saved = {name: (self.FOLDER / name).read_text().strip() for name in self.SETTINGS}
        except OSError:
            return "absente de ce noyau"
        wanted = {"on": {"pages_to_scan": str(self.pages), "sleep_millisecs": "20", "run": "1"},
                  "off": {"run": "2"}}.get(self.mode, {})  # 2: pages merged before are split again, then off
        try:
            self._write(wanted)
        except OSError:
            self.saved = {}
            return f"{self.describe()} (laissée telle quelle : il faut être root pour la changer)"
        return self.describe()

    def describe(self) -> str:
        try:
            values = {name: (self.FOLDER / name).read_text().strip() for name in self.SETTINGS}
        except OSError:
            return "absente de ce noyau"
        if values["run"] != "1":
            return "inactive"
        return f"active, {values['pages_to_scan']} pages toutes les {values['sleep_millisecs']} ms"

    def restore(self) -> None:
        if self.saved:
            if self.saved["run"] != "1":
                self._write({"run": "2"})  # split what the run merged before stopping
            self._write(self.saved)

    @staticmethod
    def cpu() -> float:
        """Processor seconds of the kernel's merging thread (ksmd) since boot; 0 without one."""
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and (entry / "comm").read_text().strip() == "ksmd":
                    return own_cpu(int(entry.name))
            except OSError:
                continue
        return 0.0

    def sharing(self) -> int:
        """Pages of the machine that are merged copies (each one a page not held twice)."""
        try:
            return int((self.FOLDER / "pages_sharing").read_text())
        except (OSError, ValueError):
            return 0


@dataclass
class Person:
    identifier: str
    files: int
    admin: bool = False


@dataclass
class Pace:
    """How fast a person goes: reading a screen, glancing at a confirmation, typing."""

    think: tuple[float, float]
    typing: float
    """Keys per second when typing text; 0: the text is sent at once."""

    async def read(self, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(*self.think))

    async def glance(self, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0.5, 1.5) if self.think[1] >= 1.5 else self.think[0])

    async def type(self, rng: random.Random, term: Terminal, text: str) -> None:
        if self.typing <= 0:
            term.write(text)
            return
        for char in text:
            term.write(char)
            await asyncio.sleep(rng.uniform(0.5, 1.5) / self.typing)


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
            await asyncio.wait_for(self.may_close.wait(), 600)  # the last arrivals may finish minutes later
        except asyncio.TimeoutError:
            pass


@dataclass
class Figures:
    times: dict[str, list[float]] = field(default_factory=lambda: {step: [] for step in STEPS})
    moments: dict[str, list[float]] = field(default_factory=lambda: {step: [] for step in STEPS})
    """perf_counter() at the start of each timed step (same order as `times`)."""
    errors: dict[str, list[str]] = field(default_factory=lambda: {step: [] for step in STEPS})
    validations: int = 0
    closures: int = 0
    writes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(actor identifier, audit action) → successes the harness saw."""
    front_end_of: dict[str, int] = field(default_factory=dict)

    def wrote(self, person: Person, action: str) -> None:
        self.writes[(person.identifier, action)] += 1


# -- data set ---------------------------------------------------------------------------------------
async def load(url: str, people: int, admins: int, files_each: int, options: argparse.Namespace,
               ) -> tuple[list[Person], list[str], NationalData]:
    """The national data set (`bench/load_data.py`), then the people who act: each gestionnaire in an
    organisation of its own among those loaded, with `files_each` draft files on funded holders (the newest
    files of its list), each administrator the principal administrator of another one."""
    from cpf_tui.services import dossiers
    from cpf_tui.services.context import RequestContext
    from cpf_tui.services.dossiers import DossierInput
    from models import Organisation, Profile, Role
    from tests.factories import make_account, make_siren, make_siret
    from tests.holder_helpers import funded_holder

    await db_module.open_database(url)
    try:
        data = await load_national(url, organisations=max(options.organisations, people + admins),
                                   gestionnaires=options.gestionnaires, holders=options.holders, files=options.files)
        found: list[Person] = []
        siret = make_siret(make_siren(904), 21)
        for n in range(people):
            org = await Organisation.get(id=data.organisation_ids[n])
            account = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
            ctx = RequestContext(account_id=account.id)
            for _ in range(files_each):
                holder = await funded_holder(100 * H, nir=nir_for(options.holders + n * files_each + _))
                await dossiers.create_draft(ctx, DossierInput(
                    holder_nir=holder.nir, training_title="Comptabilité", provider_name="Compta Formation",
                    provider_siret=siret, start_date=date(2026, 3, 2), end_date=date(2026, 3, 27),
                    duration_minutes=35 * H, requested_minutes=35 * H))
            found.append(Person(account.identifier, files_each))
        for n in range(admins):
            org = await Organisation.get(id=data.organisation_ids[people + n])
            account = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
            found.append(Person(account.identifier, files_each, admin=True))
        return found, data.nirs, data
    finally:
        await db_module.close_database()


async def movement_count(url: str) -> int:
    from models import HoursMovement

    await db_module.open_database(url)
    try:
        return await HoursMovement.all().count()
    finally:
        await db_module.close_database()


async def session_roles(url: str) -> dict[int, str]:
    """Process id of each session of the run → its account's role (the session rows keep the pid)."""
    from models import AppSession

    await db_module.open_database(url)
    try:
        rows = await AppSession.filter(pid__isnull=False).values_list("pid", "account__role")
    finally:
        await db_module.close_database()
    return {int(pid): str(getattr(role, "value", role)) for pid, role in rows}


async def journal_counts(url: str) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    """From the audit chain, read once: (actor identifier, action) → events of the counted writes; and
    the log-ins, log-outs and hang-ups (terminal closed) journaled."""
    from models import AuditEvent

    await db_module.open_database(url)
    try:
        rows = await AuditEvent.filter(action__in=(*WRITES, *SESSION_EVENTS)).values_list(
            "actor_identifier", "action", "outcome")
    finally:
        await db_module.close_database()
    writes = Counter((str(actor), str(action)) for actor, action, outcome in rows
                     if action in WRITES and outcome == "ok")
    sessions = Counter(str(action) for _actor, action, outcome in rows
                       if action in SESSION_EVENTS and (action != "login" or outcome == "success"))
    return writes, sessions


# -- one person ---------------------------------------------------------------------------------------
class StepFailed(Exception):
    """A timed step did not draw its screen (already recorded as that step's error)."""


async def step(figures: Figures, name: str, term: Terminal, keys: str, *markers: str) -> None:
    """Send `keys`, time until every one of `markers` shows on the screen; record the time or the error."""
    start = time.perf_counter()
    term.write(keys)
    try:
        await term.wait_until(lambda: all(marker in term.screen.text() for marker in markers),
                              " + ".join(markers), timeout=STEP_TIMEOUT)
    except (AssertionError, OSError, asyncio.TimeoutError) as exc:
        lines = str(exc).splitlines()
        figures.errors[name].append(" | ".join(line.strip() for line in lines[:4] if line.strip())[:240])
        raise StepFailed(name) from None
    figures.times[name].append(time.perf_counter() - start)
    figures.moments[name].append(start)


async def move(term: Terminal, keys: str, marker: str) -> None:
    """An untimed key (navigation, opening a confirmation), waiting for what it shows."""
    term.write(keys)
    await term.wait_for(marker, timeout=STEP_TIMEOUT)


async def log_in(term: Terminal, person: Person, pace: Pace, rng: random.Random, figures: Figures) -> None:
    """The login form typed at the person's pace; Enter → home is the timed step."""
    await term.wait_for("Connexion à l'espace de gestion CPF", timeout=120)
    await pace.read(rng)
    await pace.type(rng, term, person.identifier)
    await term.wait_for(person.identifier, timeout=120)
    label = term.screen.row_of("Mot de passe")
    term.write(TAB)
    await term.wait_until(lambda: cursor_in_field_below(term.screen, label), "curseur dans le mot de passe", 120)
    await pace.type(rng, term, DEFAULT_PASSWORD)
    await step(figures, "connexion", term, "\r", "x Se déconnecter")


async def handle_files(term: Terminal, person: Person, nirs: list[str], pace: Pace, rng: random.Random,
                       figures: Figures, deadline: float) -> None:
    """A gestionnaire: look a holder up, then validate and close one of the organisation's drafts."""
    for index in range(person.files):
        if time.monotonic() > deadline:
            return
        await pace.read(rng)
        await move(term, "1", "NIR ou nom")
        await pace.read(rng)
        await pace.type(rng, term, rng.choice(nirs))
        await step(figures, "recherche", term, "\r", "titulaire(s) trouvé(s)")
        await pace.read(rng)
        await step(figures, "fiche titulaire", term, "\r", "CPF disponible")
        await pace.read(rng)
        await move(term, ESCAPE, "NIR ou nom")
        await move(term, ESCAPE, "x Se déconnecter")
        await pace.glance(rng)
        await step(figures, "liste dossiers", term, "2", "t Trier", "DF-20")  # rows loaded
        await pace.read(rng)
        for _ in range(index):
            term.write(DOWN)
        await step(figures, "ouverture dossier", term, "\r", "f5 Valider")
        await pace.read(rng)
        await move(term, F5, "Valider (o)")
        await pace.glance(rng)
        await step(figures, "validation", term, "o", "heures réservées.")
        figures.validations += 1
        figures.wrote(person, "dossier.validate")
        await pace.read(rng)
        await move(term, F6, "Ctrl+S clore")
        await pace.glance(rng)
        await move(term, CTRL_S, "Clore (o)")  # the closure is confirmed first
        await pace.glance(rng)
        await step(figures, "clôture", term, "o", "Dossier clos.")
        figures.closures += 1
        figures.wrote(person, "dossier.close")
        await pace.read(rng)
        await move(term, ESCAPE, "t Trier")
        await move(term, ESCAPE, "x Se déconnecter")


async def manage_accounts(term: Terminal, person: Person, number: int, pace: Pace, rng: random.Random,
                          figures: Figures, deadline: float) -> None:
    """An administrator: create a gestionnaire in the head office, then deactivate that account."""
    for index in range(person.files):
        if time.monotonic() > deadline:
            return
        await pace.read(rng)
        await step(figures, "utilisateurs", term, "1", "· Administrateur principal")  # the tree's accounts drawn
        await pace.read(rng)
        await move(term, DOWN, "n : nouveau compte ici")  # the head office chosen
        await pace.glance(rng)
        await move(term, "n", "Service (facultatif)")
        await pace.read(rng)
        last, first = rng.choice(LAST_NAMES), rng.choice(FIRST_NAMES)
        term.write(TAB + TAB)  # role and profile kept: Gestionnaire, Consultation
        await pace.type(rng, term, last)
        term.write(TAB)
        await pace.type(rng, term, first)
        term.write(TAB)
        await pace.type(rng, term, f"banc{number}.{index}@exemple.fr")
        await pace.glance(rng)
        await step(figures, "création compte", term, CTRL_S, "Compte créé")
        figures.wrote(person, "account.create")
        await pace.read(rng)  # the identifier is noted
        await move(term, ESCAPE, "Statut : Actif")  # the tree shows the new account's fiche
        await pace.read(rng)
        await move(term, "d", "Désactiver (o)")
        await pace.glance(rng)
        await step(figures, "désactivation", term, "o", "désactivé.", "Statut : Désactivé")
        figures.wrote(person, "account.deactivate")
        await pace.read(rng)
        await move(term, ESCAPE, "x Se déconnecter")


async def act(server: SshServer, front_end: int, person: Person, number: int, nirs: list[str], figures: Figures,
              pace: Pace, seed: int, deadline: float, meet: Rendezvous | None = None, arrival: float = 0.0) -> None:
    """One person on `server`: arrives after `arrival` seconds, logs in, works, and waits for the measures."""
    rng = random.Random(seed)
    await asyncio.sleep(arrival)
    figures.front_end_of[person.identifier] = front_end
    logged = False
    conn = None
    try:
        conn = await server.connect("alice")
        term = await Terminal.open(conn, 80, 24)
        await log_in(term, person, pace, rng, figures)
        if meet is not None:
            meet.log_in()
            logged = True
        if person.admin:
            await manage_accounts(term, person, number, pace, rng, figures, deadline)
        else:
            await handle_files(term, person, nirs, pace, rng, figures, deadline)
    except StepFailed:
        pass
    except (AssertionError, OSError, asyncio.TimeoutError, asyncssh_error()) as exc:
        figures.errors["liste dossiers" if not person.admin else "utilisateurs"].append(
            f"navigation : {str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__}")
    finally:
        if meet is not None:
            if not logged:
                meet.log_in()
            await meet.finish()
        if conn is not None:
            conn.close()
            await conn.wait_closed()


def asyncssh_error() -> type[Exception]:
    import asyncssh

    return asyncssh.Error


# -- the run -------------------------------------------------------------------------------------------
def cli(url: str, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPF_TUI_")}
    env.update({"CPF_TUI_DB_URL": url, "CPF_TUI_AUDIT__KEY_FILE": str(key)})
    return subprocess.run([sys.executable, "-m", "cpf_tui", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f}"


def memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, private) of a process in KiB, from /proc/PID/smaps_rollup; (0, 0) if it is gone."""
    found = {"Pss:": 0, "Private_Clean:": 0, "Private_Dirty:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                name, _, rest = line.partition(" ")
                if name in found:
                    found[name] = int(rest.split()[0])
    except OSError:
        pass
    return found["Pss:"], found["Private_Clean:"] + found["Private_Dirty:"]


def private_split_kib(pid: int) -> tuple[int, int]:
    """(private KiB in the mappings the session inherited from its launcher, private KiB elsewhere) of a
    session process: the launcher's pages it still holds a copy of, and its own memory (new arenas,
    thread stacks, libraries' data). The inherited mappings are those the launcher offered to KSM
    (`mg` in VmFlags: its heap and anonymous mappings, cpf_tui/ssh_zygote.py)."""
    inherited = own = 0
    private = 0
    try:
        with open(f"/proc/{pid}/smaps") as handle:
            for line in handle:
                name, _, rest = line.partition(" ")
                if name in ("Private_Clean:", "Private_Dirty:"):
                    private += int(rest.split()[0])
                elif name == "VmFlags:":
                    if "mg" in rest.split():
                        inherited += private
                    else:
                        own += private
                    private = 0
    except OSError:
        pass
    return inherited, own


def memory_line(label: str, samples: list[tuple[int, int]]) -> str:
    pss = [p / 1024 for p, _ in samples if p]
    private = [q / 1024 for p, q in samples if p]
    if not pss:
        return f"Mémoire par session, {label} : pas de mesure"
    return (f"Mémoire par session, {label} ({len(pss)} processus) : PSS médiane {statistics.median(pss):.1f} Mo, "
            f"max {max(pss):.1f} Mo ({'OK' if max(pss) <= 30 else 'NON'} ≤ 30 Mo) ; privée médiane "
            f"{statistics.median(private):.1f} Mo")


async def run(options: argparse.Namespace) -> int:
    from cpf_tui.services import audit_key

    # Stopped by SIGTERM (a time limit, `kill`): the run is cancelled where it waits, so that the cleanup
    # below still stops the front ends and PostgreSQL and restores KSM (the default action left all three).
    this_run = asyncio.current_task()
    assert this_run is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this_run.cancel)
    base = Path(tempfile.mkdtemp(prefix="cpf-bench-load-"))
    # Every session process has its own pool: `maxsize` connections at most (Tortoise's default is 5).
    settings = {"max_connections": str(50 + (options.pool + 1) * (options.sessions + 2))}
    if options.statements:
        settings.update({"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all"})
    pg = PgInstance(settings=settings)
    merging = Merging(options.ksm, options.ksm_pages)
    servers: list[SshServer] = []
    pace = Pace(options.think, options.typing)
    admins = min(options.admins, options.sessions)
    try:
        pg.init().start()
        url = pg.create_database("cpf") + f"?maxsize={options.pool}"
        print(f"PostgreSQL à part : 127.0.0.1:{pg.port} ({pg.bin})", flush=True)
        print(f"Fusion des pages identiques du noyau (KSM) : {merging.apply()}", flush=True)
        t0 = time.perf_counter()
        await db_module.migrate(url)
        key = audit_key.create_key(base / "audit.key").path
        os.environ[audit_key.ENV_VAR] = str(key)
        # Sessions' gestionnaires, then one alone; sessions' administrators, then one alone.
        people, nirs, data = await load(url, options.sessions - admins + 1, admins + 1, options.iterations, options)
        gestionnaires = [p for p in people if not p.admin]
        administrators = [p for p in people if p.admin]
        alone_people = [gestionnaires.pop(), administrators.pop()]
        crowd = administrators + gestionnaires
        rng = random.Random(0)
        rng.shuffle(crowd)
        counts = {name: f"{count:,}".replace(",", "\u202f") for name, count in data.counts.items()}
        print(f"Données : {counts['organisations']} organismes, {counts['gestionnaires']} gestionnaires, "
              f"{counts['holders']} titulaires, {counts['files']} dossiers, {counts['movements']} mouvements "
              f"(COPY, {data.seconds:.0f} s) ; pour le banc : {len(gestionnaires) + 1} gestionnaires "
              f"({(len(gestionnaires) + 1) * options.iterations} brouillons à traiter) et {len(administrators) + 1} "
              f"administrateurs, chacun dans un de ces organismes ({time.perf_counter() - t0:.0f} s en tout)", flush=True)
        movements_before = await movement_count(url)

        for n in range(options.front_ends):
            folder = base / f"frontal-{n + 1}"
            (folder / "data").mkdir(parents=True)
            shutil.copy2(key, folder / "data" / "audit.key")  # every front end signs with the same key
            server = SshServer(folder, url, extra_args=(
                "--max-sessions", str(options.sessions + 5), "--max-per-user", str(options.sessions + 5),
                "--max-per-connection", "1"))
            if options.profile:
                options.profile.mkdir(parents=True, exist_ok=True)
                environment = server.environment
                server.environment = lambda environment=environment: {  # type: ignore[method-assign]
                    **environment(), PROFILE_ENV: str(options.profile.resolve())}
            servers.append(server)
        for server in servers:
            await asyncio.to_thread(server.start)
        print(f"{len(servers)} frontaux ssh-serve : ports {', '.join(str(s.port) for s in servers)}", flush=True)
        launchers = Counter(match.group(1) if (match := LAUNCHER_READY.search(server.log())) else
                            "pas de lanceur préchargé" for server in servers)
        print(f"Python {sys.version.split()[0]} ; lanceurs : "
              + " / ".join(f"{state} (×{count})" for state, count in launchers.items()), flush=True)
        deadline = time.monotonic() + options.max_seconds

        # The baselines: the gestionnaire and the administrator, each alone on its own front end, side by
        # side (each waits for its person > 90 % of the time; one after the other would not fit 10 minutes).
        alone = Figures()
        baseline_pace = Pace(options.baseline_think, options.typing)
        await asyncio.gather(*(act(servers[n % len(servers)], n % len(servers), person, 1000 + n, nirs, alone,
                                   baseline_pace, n, deadline) for n, person in enumerate(alone_people)))
        print(f"Seuls : faits ({time.perf_counter() - t0:.0f} s)", flush=True)
        deadline = time.monotonic() + options.max_seconds
        if options.statements:
            pg.psql("cpf", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()")

        figures = Figures()
        meet = Rendezvous(len(crowd))
        cpu_start: dict[int, float] = {}
        cpu_used: list[float] = []
        memory_logged: list[tuple[int, int]] = []
        memory_end: list[tuple[int, int]] = []
        pss_by_pid: dict[int, tuple[int, int]] = {}
        """pid → (PSS KiB all logged in, PSS KiB at the end of the walk)."""
        split_end: list[tuple[int, int]] = []
        launchers: list[tuple[int, int, int]] = []
        per_front_end: list[int] = []
        merged: list[int] = []

        async def measure() -> None:
            await meet.all_logged.wait()
            for server in servers:
                apps = server.apps()
                per_front_end.append(len(apps))
                for pid in apps:
                    memory_logged.append(memory_kib(pid))
                    pss_by_pid[pid] = (memory_logged[-1][0], 0)
                    cpu_start[pid] = own_cpu(pid)
            await meet.all_finished.wait()
            for server in servers:
                for pid in server.apps():
                    memory_end.append(memory_kib(pid))
                    pss_by_pid[pid] = (pss_by_pid.get(pid, (0, 0))[0], memory_end[-1][0])
                split_end.extend(private_split_kib(pid) for pid in server.apps())
                launchers.extend((rss_kib(pid), *memory_kib(pid)) for pid in children_of(server.pid) if is_launcher(pid))
            cpu_used.extend(own_cpu(pid) - start for pid, start in cpu_start.items() if own_cpu(pid))
            merged.append(merging.sharing())
            meet.may_close.set()

        client_cpu = time.process_time()
        machine_start = machine_cpu()
        postgres_start, front_start, merging_start = postgres_cpu(pg), front_end_cpu(servers), merging.cpu()
        started = time.perf_counter()
        tasks = [act(servers[n % len(servers)], n % len(servers), person, n, nirs, figures, pace, n + 1, deadline,
                     meet, arrival=options.ramp * n / max(1, len(crowd)))
                 for n, person in enumerate(crowd)]
        measuring = asyncio.create_task(measure())
        lags: list[float] = []
        lag_meter = asyncio.create_task(loop_lag(lags))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
        await measuring
        lag_meter.cancel()
        client_cpu = time.process_time() - client_cpu
        machine_busy, machine_total = (end - start for end, start in zip(machine_cpu(), machine_start))
        postgres_used, front_used = postgres_cpu(pg) - postgres_start, front_end_cpu(servers) - front_start
        merging_used = merging.cpu() - merging_start
        load_average = os.getloadavg()

        for server in servers:
            await asyncio.to_thread(server.stop)
        check = cli(url, key, "check")
        verify = cli(url, key, "audit", "verify")
        movements = await movement_count(url) - movements_before
        in_chain, journaled = await journal_counts(url)
        roles = await session_roles(url)
        done_alone = alone.validations + alone.closures

        think = f"{options.think[0]:g}–{options.think[1]:g} s"
        print(f"\n{len(crowd)} sessions ({admins} administrateurs) sur {len(servers)} frontaux, arrivées sur "
              f"{options.ramp:g} s, {options.iterations} tour(s) chacune, lecture {think}, frappe "
              f"{options.typing:g} touches/s ; durée {wall:.0f} s ; charge moyenne "
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
            errors = len(figures.errors[name]) + len(alone.errors[name])
            failed += errors > 0
            print(f"{name:28} {len(values):4d} {ms(percentile(values, .5))} {ms(percentile(values, .95))} "
                  f"{ms(percentile(values, .99))} {ms(percentile(solo, .95)):>8} {ratio:6.2f} {errors:7d} {verdict:>9}")
        ramp_end = started + options.ramp
        print(f"p95 pendant les arrivées (les {options.ramp:g} premières secondes, connexions en cours) / après : "
              + " ; ".join(
                  f"{name} {ms(percentile([t for t, m in zip(figures.times[name], figures.moments[name]) if m < ramp_end], .95)).strip()}"
                  f" / {ms(percentile([t for t, m in zip(figures.times[name], figures.moments[name]) if m >= ramp_end], .95)).strip()} ms"
                  for name in GOALS_MS))
        for name in STEPS:
            for error in (alone.errors[name] + figures.errors[name])[:3]:
                print(f"  erreur {name} : {error}")
        print(f"Sessions par frontal (toutes connectées) : {per_front_end}")
        print(memory_line("toutes connectées", memory_logged))
        print(memory_line("en fin de parcours", memory_end))
        by_role: dict[str, list[tuple[int, int]]] = {}
        for pid, pair in pss_by_pid.items():
            by_role.setdefault(roles.get(pid, "?"), []).append(pair)
        print("PSS par rôle, toutes connectées / en fin de parcours, médiane (max) : " + " ; ".join(
            f"{role} ×{len(pairs)} {statistics.median(a for a, _ in pairs) / 1024:.1f} "
            f"({max(a for a, _ in pairs) / 1024:.1f}) / {statistics.median(b for _, b in pairs) / 1024:.1f} "
            f"({max(b for _, b in pairs) / 1024:.1f}) Mo" for role, pairs in sorted(by_role.items())))
        if split_end:
            print(f"Mémoire privée d'une session en fin de parcours, médianes : pages du lanceur encore copiées "
                  f"{statistics.median(i for i, _ in split_end) / 1024:.1f} Mo, mémoire propre (nouvelles zones, "
                  f"piles, données des bibliothèques) {statistics.median(o for _, o in split_end) / 1024:.1f} Mo")
        failed += any(p > 30 * 1024 for p, _ in memory_logged + memory_end)
        if launchers:
            # A launcher's private pages are those every one of its sessions has copied (written to).
            print("Lanceurs préchargés, en fin de parcours : " + " ; ".join(
                f"RSS {rss / 1024:.1f} Mo dont {private / 1024:.1f} Mo copiés par toutes ses sessions"
                for rss, _pss, private in launchers))
        pages = f"{merged[0] if merged else 0:,}".replace(",", "\u202f")
        print(f"Fusion des pages (KSM) : {merging.describe()} ; ksmd {merging_used:.0f} s de CPU pendant la phase "
              f"de charge ; {pages} pages fusionnées en fin de parcours")
        if cpu_used:
            print(f"CPU par session, toutes connectées → toutes finies : médiane {statistics.median(cpu_used):.2f} s,"
                  f" max {max(cpu_used):.2f} s, total {sum(cpu_used):.0f} s (sur ≈ {wall:.0f} s)")
        refused = pg.log.read_text(errors="replace").count("too many clients")
        print(f"Connexions PostgreSQL refusées (too many clients) : {refused} ; max_connections "
              f"{pg.settings['max_connections']}, {options.pool} connexion(s) au plus par session (?maxsize=)")
        print(f"Client de mesure (asyncssh + émulateur de terminal, mêmes cœurs) : {client_cpu:.1f} s de CPU ; "
              f"retard de sa boucle (ce qu'il ajoute aux temps mesurés) : p50 {ms(percentile(lags, .5)).strip()} ms, "
              f"p95 {ms(percentile(lags, .95)).strip()} ms, max {ms(max(lags, default=0)).strip()} ms")
        print(f"Machine entière pendant la phase de charge : {machine_busy:.0f} s de CPU occupé sur "
              f"{machine_total:.0f} s ({100 * machine_busy / max(machine_total, 1):.0f} % des {os.cpu_count()} cœurs : "
              "sessions, frontaux, PostgreSQL, client de mesure, et tout autre travail de la machine) ; dont "
              f"PostgreSQL {postgres_used:.0f} s, frontaux (serveurs SSH et lanceurs, sans les sessions) {front_used:.0f} s")
        print(f"cpf-tui check : {'OK' if check.returncode == 0 else 'ÉCHEC'} — {check.stdout.strip()[:100]}")
        print(f"cpf-tui audit verify : {'OK' if verify.returncode == 0 else 'ÉCHEC'} — "
              f"{verify.stdout.strip().splitlines()[0][:100] if verify.stdout.strip() else verify.stderr[:100]}")
        seen = figures.writes + alone.writes
        front_end_of = {**figures.front_end_of, **alone.front_end_of}
        per_server_seen, per_server_found = [0] * len(servers), [0] * len(servers)
        for (actor, action), count in seen.items():
            per_server_seen[front_end_of[actor]] += count
            per_server_found[front_end_of[actor]] += min(count, in_chain[(actor, action)])
        exact = +in_chain == +seen
        print(f"Écritures réussies vues par frontal (validations, clôtures, comptes créés, désactivés) : "
              f"{per_server_seen} ; dans la chaîne d'audit, par acteur : {per_server_found} "
              f"({'toutes, ni plus ni moins' if exact else 'DIFFÉRENT'})")
        print(f"Journal des sessions : {journaled['login']} connexions, {journaled['session.end']} déconnexions, "
              f"{journaled['session.hangup']} terminaux fermés (une session dont le terminal se ferme a 1,5 s pour "
              "le noter avant de finir)")
        expected = figures.validations + figures.closures + done_alone
        print(f"Mouvements du compte d'heures écrits : {movements} ; validations + clôtures réussies : "
              f"{expected} ({'égal' if movements == expected else 'DIFFÉRENT'})")
        failed += check.returncode != 0 or verify.returncode != 0 or movements != expected or not exact
        if options.statements:
            print_statements(pg, options.statements)
        return 0 if failed == 0 else 1
    finally:
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                await asyncio.to_thread(server.stop)
        pg.remove()
        merging.restore()
        shutil.rmtree(base, ignore_errors=True)


def print_statements(pg: PgInstance, count: int) -> None:
    """The statements of the load phase that took the server most time (pg_stat_statements), then the
    checks run after it (`check`, `audit verify` are counted too: they come last)."""
    rows = pg.psql("cpf", (
        "SELECT round(total_exec_time)::int, calls, round((total_exec_time / calls)::numeric, 2),"
        " regexp_replace(left(query, 150), '\\s+', ' ', 'g') FROM pg_stat_statements"
        f" ORDER BY total_exec_time DESC LIMIT {int(count)}"))
    total = pg.psql("cpf", "SELECT round(sum(total_exec_time))::int, sum(calls) FROM pg_stat_statements")
    print(f"\nRequêtes (pg_stat_statements, phase de charge puis check et audit verify) : {total.replace('|', ' ms, ')} appels")
    print("   total ms |  appels | moy. ms | requête")
    for row in rows.splitlines():
        spent, calls, mean, query = row.split("|", 3)
        print(f"{int(spent):11d} | {int(calls):7d} | {float(mean):7.2f} | {query}")


def think_range(text: str) -> tuple[float, float]:
    """`3-10` (seconds, uniform between) or `2` (always 2 s)."""
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"durée attendue comme MIN-MAX en secondes : {text!r}") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"il faut 0 ≤ MIN ≤ MAX : {text!r}")
    return bounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60, help="sessions at once (plus two alone before)")
    parser.add_argument("--admins", type=int, default=6, help="how many of the sessions are administrators")
    parser.add_argument("--front-ends", type=int, default=3)
    parser.add_argument("--organisations", type=int, default=100,
                        help="organisations loaded (at least one per person of the bench)")
    parser.add_argument("--gestionnaires", type=int, default=5000, help="gestionnaires loaded, besides the bench's")
    parser.add_argument("--holders", type=int, default=1_000_000, help="holders loaded (the sessions search them)")
    parser.add_argument("--files", type=int, default=200_000, help="training files loaded, besides the bench's drafts")
    parser.add_argument("--iterations", type=int, default=2, help="files each session validates and closes")
    parser.add_argument("--think", type=think_range, default=(3.0, 10.0),
                        help="MIN-MAX: seconds a person reads a screen before the next key (uniform)")
    parser.add_argument("--baseline-think", type=think_range, default=(1.0, 2.0),
                        help="MIN-MAX reading time of the two sessions alone (the work per key is the same)")
    parser.add_argument("--typing", type=float, default=5.0, help="keys per second when typing text (0: at once)")
    parser.add_argument("--ramp", type=float, default=60.0, help="sessions arrive one by one over this many seconds")
    parser.add_argument("--pool", type=int, default=2, help="connections per session process (URL ?maxsize=)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="folder: every session runs under cProfile and leaves session-PID.prof there")
    parser.add_argument("--statements", type=int, default=0,
                        help="print the N statements that took PostgreSQL most time (pg_stat_statements)")
    parser.add_argument("--ksm", choices=("on", "off", "keep"), default="on",
                        help="the kernel's same-page merging during the run (root only; restored at the end)")
    parser.add_argument("--ksm-pages", type=int, default=1000,
                        help="pages ksmd scans every 20 ms when --ksm on")
    parser.add_argument("--max-seconds", type=float, default=300, help="no new iteration after this many seconds of each phase")
    options = parser.parse_args()
    try:
        return asyncio.run(run(options))
    except asyncio.CancelledError:
        print("Arrêté (SIGTERM) : frontaux et PostgreSQL arrêtés, réglages KSM rendus.", file=sys.stderr)
        return 143


if __name__ == "__main__":
    sys.exit(main())
