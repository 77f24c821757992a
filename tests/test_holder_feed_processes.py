"""The feeds as real processes: a fresh `cpf-tui init` installation fed by the CLI and used by a gestionnaire,
and `kill -9` in the middle of an import leaving the data as it was."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from cpf_tui import db as db_module
from cpf_tui.services import dossiers, holder_feed, holders
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from models import DossierStatus, Holder, HoursMovement, Profile, Role
from tests.conftest import PG_URL, _pg_admin_url, _pg_execute
from tests.factories import make_account, make_organisation, make_siren, make_siret
from tests.feed_helpers import HOLDER_HEADER, audit_events, feed_state, holder_line

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_HOLDERS = ROOT / "cpf_tui" / "data" / "titulaires-exemple.csv"
SAMPLE_HOURS = ROOT / "cpf_tui" / "data" / "heures-2025-exemple.csv"
WAIT_SECONDS = 60.0
"""Longest wait for a child process to reach the point where the test acts."""


def cli_env(db_url: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CPF_TUI_CONFIG"}
    env.update(CPF_TUI_DATABASE__URL=db_url, CPF_TUI_DATA_DIR=str(data_dir), CPF_TUI_DROP_DIR="")
    return env


def spawn(children: list[subprocess.Popen], env: dict[str, str], *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "cpf_tui", *args], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    children.append(process)
    return process


def run_cli(children: list[subprocess.Popen], env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = spawn(children, env, *args)
    out, err = process.communicate(timeout=120)
    return process.returncode, out.decode(), err.decode()


def wait_for_stderr(process: subprocess.Popen, text: str) -> str:
    """Read the child's stderr until `text` shows up (bounded); what was read."""
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + WAIT_SECONDS
    while text.encode() not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"« {text} » never printed; stderr so far: {seen.decode(errors='replace')}"
        ready, _, _ = select.select([process.stderr], [], [], min(remaining, 1.0))
        if ready:
            chunk = os.read(process.stderr.fileno(), 65536)
            assert chunk or text.encode() in seen, f"child ended early: {seen.decode(errors='replace')}"
            seen += chunk
        assert process.poll() is None or text.encode() in seen, f"child ended: {seen.decode(errors='replace')}"
    return seen.decode(errors="replace")


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    """An empty database (never migrated), as a new installation starts with."""
    if PG_URL:
        name = f"cpf_fresh_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_execute(PG_URL, f'CREATE DATABASE "{name}"'))
        try:
            yield _pg_admin_url(PG_URL, name)
        finally:
            asyncio.run(_pg_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    yield f"sqlite://{tmp_path / 'installation.sqlite3'}"


@pytest.mark.slow  # many processes: started first in the suite (tests/conftest.py)
def test_a_fresh_installation_is_fed_by_the_cdc_then_a_gestionnaire_works_on_a_holder(
    fresh_url, tmp_path, children
):
    env = cli_env(fresh_url, tmp_path / "donnees")
    code, out, _err = run_cli(children, env, "init")
    assert code == 0 and "Base prête" in out

    code, out, err = run_cli(children, env, "titulaires", "import", str(SAMPLE_HOLDERS), "--rapport", str(tmp_path))
    assert code == 0, err
    assert "200 titulaire(s) créé(s)" in out and "Lecture : 100 % (200 lignes)" in err
    code, out, err = run_cli(children, env, "heures", "alimenter", str(SAMPLE_HOURS), "--annee", "2025",
                             "--rapport", str(tmp_path))
    assert code == 0 and "heures CPF 2025 créditées à 200 titulaire(s)" in out, err
    code, out, _err = run_cli(children, env, "heures", "alimenter", str(SAMPLE_HOURS), "--annee", "2025",
                              "--rapport", str(tmp_path))
    assert code == 1 and "refusé : 200 erreur(s)" in out and "déjà créditées" in out
    code, out, _err = run_cli(children, env, "titulaires", "import", str(SAMPLE_HOLDERS))
    assert code == 0 and "aucun changement" in out

    async def gestionnaire_works() -> None:
        await db_module.open_database(fresh_url)
        try:
            organisation = await make_organisation("Organisme installé")
            agent = await make_account(Role.GESTIONNAIRE, Profile.VALIDATION, organisation=organisation)
            ctx = RequestContext(account_id=agent.id)
            first_line = SAMPLE_HOLDERS.read_text(encoding="utf-8").splitlines()[1].split(";")
            nir, surname, born = first_line[0], first_line[1], first_line[4]
            found = await holders.search(ctx, name=surname[:4], birth_date=dossiers.parse_date_fr(born, "né"))
            assert nir in [row.nir for row in found]
            (row,) = await holders.search(ctx, nir=nir)
            page = await holders.holder_page(ctx, row.id)
            assert page.balances.cpf_available == 24 * 60
            assert [line.author for line in page.movements] == ["Caisse des dépôts"]
            draft = await dossiers.create_draft(ctx, DossierInput(
                holder_nir=nir, training_title="Bureautique", provider_name="Formations & Co",
                provider_siret=make_siret(make_siren(902), 12), start_date=date(2027, 3, 1),
                end_date=date(2027, 4, 30), duration_minutes=20 * 60, requested_minutes=20 * 60,
            ))
            validated = await dossiers.validate(ctx, draft.id, expected_version=draft.version)
            assert validated.status == DossierStatus.VALIDATED
            assert (await Holder.get(nir=nir)).cpf_reserved_minutes == 20 * 60
        finally:
            await db_module.close_database()

    asyncio.run(gestionnaire_works())
    code, out, _err = run_cli(children, env, "check")
    assert code == 0 and "cohérents" in out


async def test_kill_9_while_the_file_is_being_read_leaves_the_data_as_before(db, tmp_path, children):
    await holder_feed.import_holders(SAMPLE_HOLDERS, ctx=RequestContext(terminal="cli"), report_dir=tmp_path,
                                     as_system=True)
    before = await feed_state()
    events = len(await audit_events("holder.feed"))
    fifo = tmp_path / "flux.csv"
    os.mkfifo(fifo)
    process = spawn(children, cli_env(db, tmp_path), "titulaires", "import", str(fifo))
    writer = _open_writer(fifo, process)
    try:
        # Updates of every sample holder, then new ones: more than two batches are read and staged.
        lines = [holder_line(i, usage="Tuée") for i in range(1, 12_001)]
        os.write(writer, ("\n".join([HOLDER_HEADER, *lines]) + "\n").encode())
        await asyncio.to_thread(wait_for_stderr, process, "(10\u202f000 lignes)")
        workers = _children_of(process.pid)
        assert len(workers) == 1, workers  # the checking process, started for a file of several batches
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
        _wait_ended(workers[0])  # its input closed with its parent: it ends by itself
    finally:
        os.close(writer)
    assert await feed_state() == before
    assert len(await audit_events("holder.feed")) == events
    again = await holder_feed.import_holders(SAMPLE_HOLDERS, ctx=RequestContext(terminal="cli"),
                                             report_dir=tmp_path, as_system=True)
    assert again.applied and again.unchanged == 200  # the database is usable, nothing half-applied


def _open_writer(fifo: Path, process: subprocess.Popen) -> int:
    """The writing end of `fifo`, once the child opened it for reading (bounded wait)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the child never opened the file"
            time.sleep(0.05)
            continue
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return fd


async def test_kill_9_at_the_apply_step_leaves_the_data_as_before(db, tmp_path, children):
    await holder_feed.import_holders(SAMPLE_HOLDERS, ctx=RequestContext(terminal="cli"), report_dir=tmp_path,
                                     as_system=True)
    await holder_feed.credit_hours(SAMPLE_HOURS, year=2025, ctx=RequestContext(terminal="cli"),
                                   report_dir=tmp_path, as_system=True)
    before = await feed_state()
    events = len(await audit_events("holder.feed"))
    path = tmp_path / "titulaires.csv"
    path.write_text("\n".join([HOLDER_HEADER, *(holder_line(i, usage="Tuée") for i in range(1, 3001))]) + "\n",
                    encoding="utf-8")
    # The apply step waits for the holders table: the process is killed there, in its transaction.
    async with _holders_held(db) as step:
        process = spawn(children, cli_env(db, tmp_path), "titulaires", "import", str(path))
        await asyncio.to_thread(wait_for_stderr, process, step)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    assert await feed_state() == before
    assert len(await audit_events("holder.feed")) == events
    assert await HoursMovement.all().count() == 200


class _holders_held:
    """Hold the holders table from another connection; yields the progress stage the feed waits at.

    PostgreSQL: an EXCLUSIVE table lock (reads pass, the feed's UPDATE waits inside its transaction).
    SQLite: the writer lock (the feed stages its file, then waits to begin its apply transaction).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.release = None

    async def __aenter__(self) -> str:
        if self.url.startswith("sqlite://"):
            conn = sqlite3.connect(self.url[len("sqlite://"):], isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            self.release = conn
            return "Contrôle"
        import asyncpg

        conn = await asyncpg.connect(self.url)
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE holder IN EXCLUSIVE MODE")
        self.release = (conn, transaction)
        return "Application"

    async def __aexit__(self, *exc: object) -> None:
        if isinstance(self.release, sqlite3.Connection):
            self.release.rollback()
            self.release.close()
        elif self.release is not None:
            conn, transaction = self.release
            await transaction.rollback()
            await conn.close()


def _children_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def _ended(pid: int) -> bool:
    """Whether a process is gone or only a zombie waiting for its reaper (it ran no more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def _wait_ended(pid: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not _ended(pid):
        assert time.monotonic() < deadline, f"process {pid} still running"
        time.sleep(0.05)


def _holder_file(path: Path, count: int, bad: dict[int, str]) -> Path:
    lines = [bad.get(index, holder_line(index)) for index in range(count)]
    path.write_text("\n".join([HOLDER_HEADER, *lines]) + "\n", encoding="utf-8")
    return path


BAD_LINES = {3: holder_line(3, phone="01 23 45 67 89"), 17: holder_line(17, email="pas-une-adresse"),
             40: "x;y", 55: holder_line(1)}
REPORTED = [["3", "NIR"], ["5", "téléphone"], ["19", "courriel"], ["42", ""], ["57", "NIR"]]
"""(line, column) of the report of that file: lines 3 and 57 hold the same NIR."""


@pytest.fixture
def workers(monkeypatch):
    """Batches of 4 lines (so a small file has several), and the pid of every checking process started."""
    started: list[int] = []
    start = holder_feed.CheckWorker.start.__func__

    async def recording(cls, *args):
        worker = await start(cls, *args)
        if worker is not None:
            started.append(worker.process.pid)
        return worker

    monkeypatch.setattr(holder_feed, "BATCH_LINES", 4)
    monkeypatch.setattr(holder_feed.CheckWorker, "start", classmethod(recording))
    return started


async def _report(path: Path, tmp_path: Path, **options) -> tuple[holder_feed.FeedResult, list[str]]:
    result = await holder_feed.import_holders(path, ctx=RequestContext(terminal="cli"), report_dir=tmp_path,
                                              as_system=True, **options)
    report = result.report_path.read_text(encoding="utf-8").splitlines() if result.report_path else []
    return result, report


async def test_a_checking_process_gives_the_report_and_rows_of_the_checks_in_this_process(db, tmp_path, workers,
                                                                                           monkeypatch):
    path = _holder_file(tmp_path / "t.csv", 70, BAD_LINES)
    by_worker, report = await _report(path, tmp_path, ignore_errors=True)
    assert len(workers) == 1 and all(_ended(pid) for pid in workers)  # started, then reaped
    state = await feed_state()
    await Holder.all().delete()
    monkeypatch.setattr(holder_feed.CheckWorker, "start", classmethod(lambda cls, *args: asyncio.sleep(0)))
    here, report_here = await _report(path, tmp_path, ignore_errors=True)
    assert (by_worker.lines, by_worker.error_count, by_worker.created) == (70, 5, 65)
    assert (here.lines, here.error_count, here.created) == (70, 5, 65)
    assert report == report_here and await feed_state() == state
    assert [line.split(";")[:2] for line in report[1:]] == REPORTED


async def test_a_checking_process_that_dies_is_replaced_by_the_checks_in_this_process(db, tmp_path, workers,
                                                                                      monkeypatch):
    receive = holder_feed.CheckWorker.receive
    answers = []

    async def dies_after_two(self):
        if len(answers) == 2:
            self.process.kill()
        answers.append(await receive(self))
        return answers[-1]

    monkeypatch.setattr(holder_feed.CheckWorker, "receive", dies_after_two)
    result, report = await _report(_holder_file(tmp_path / "t.csv", 70, BAD_LINES), tmp_path, ignore_errors=True)
    # Killed after its second answer: the answers it had already written may still come, then none.
    assert None not in answers[:2] and None in answers[2:5]
    assert workers and all(_ended(pid) for pid in workers)
    assert (result.lines, result.error_count, result.created) == (70, 5, 65)
    assert [line.split(";")[:2] for line in report[1:]] == REPORTED


async def test_a_file_of_one_batch_starts_no_process(db, tmp_path, workers):
    result, _report_lines = await _report(_holder_file(tmp_path / "t.csv", 3, {}), tmp_path)
    assert result.created == 3 and workers == []
