"""PostgreSQL stopped (`pg_ctl stop -m immediate`, like a crash) and restarted while a writer process
works: it gets the French « base indisponible, nouvel essai… » message, reconnects by itself when the
server is back, no committed write is lost and none is half there (`check`, `audit verify`).

The server is the test's own (initdb + pg_ctl in a temporary folder on a free loopback port), never
the machine's main one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cpf_tui import db as db_module
from tests.pg_instance import PgInstance, server_binaries

ROOT = Path(__file__).resolve().parent.parent
WRITES = 300

try:
    server_binaries()
    HAVE_POSTGRES = True
except FileNotFoundError:
    HAVE_POSTGRES = False

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_POSTGRES, reason="PostgreSQL server binaries missing")]


@pytest.fixture
def own_postgres():
    """A PostgreSQL server for this test only; stopped and removed whatever happens."""
    pg = PgInstance()
    try:
        yield pg.init().start()
    finally:
        pg.remove()


def _environment(url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CPF_TUI_CONFIG"}
    env["CPF_TUI_DB_URL"] = url
    return env


class Lines:
    """The output lines of a process, read by a thread, waited for with a bounded timeout."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, accept, timeout: float = 60) -> str:
        with self.changed:
            if not self.changed.wait_for(lambda: any(accept(line) for line in self.lines), timeout):
                raise AssertionError(f"pas de ligne attendue ; sortie : {self.lines[-5:]}")
            return next(line for line in self.lines if accept(line))


async def _counts(url: str) -> tuple[int, int]:
    from models import AuditEvent, HoursMovement

    await db_module.open_database(url)
    try:
        return (await HoursMovement.all().count(),
                await AuditEvent.filter(action="holder.cpf_acquisition").count())
    finally:
        await db_module.close_database()


def test_writes_survive_an_immediate_stop_and_restart(own_postgres, children, tmp_path):
    url = own_postgres.create_database("cpf")
    asyncio.run(db_module.migrate(url))
    with open(tmp_path / "writer.err", "w") as errors:
        writer = subprocess.Popen([sys.executable, "-m", "tests.writer_process", url, str(WRITES)], cwd=ROOT,
                                  env=_environment(url), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=errors, text=True)
    children.append(writer)
    output = Lines(writer)
    output.wait_for(lambda line: line.isdigit() and int(line) >= 50)

    own_postgres.stop("immediate")  # a crash: no checkpoint, recovery from the WAL at the next start
    unavailable = output.wait_for(lambda line: line.startswith("indisponible: "))
    assert "Base de données indisponible, nouvel essai…" in unavailable
    committed_before_restart = max(int(line) for line in output.lines if line.isdigit())
    own_postgres.start()

    writer.wait(timeout=120)
    output.thread.join(timeout=30)
    assert writer.returncode == 0, (tmp_path / "writer.err").read_text()
    assert output.lines[-1] == str(WRITES)  # it reconnected by itself and finished
    assert committed_before_restart < WRITES
    # Every acknowledged write is there, once, whole (its movement with its journal event).
    assert asyncio.run(_counts(url)) == (WRITES, WRITES)
    for command in (["check"], ["audit", "verify"]):
        done = subprocess.run([sys.executable, "-m", "cpf_tui", *command], cwd=ROOT, env=_environment(url),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def served(own_postgres, tmp_path):
    """A migrated database on the test's own PostgreSQL, one account and one holder, one `ssh-serve`."""
    from tests.ssh_harness import SshServer, seed_accounts

    url = own_postgres.create_database("cpf")
    asyncio.run(db_module.migrate(url))
    [identifier] = seed_accounts(url)
    nir = asyncio.run(_holder(url))
    server = SshServer(tmp_path, url)
    try:
        yield server.start(), identifier, nir
    finally:
        if server.process is not None:
            server.stop()


async def _holder(url: str) -> str:
    from tests.factories import make_holder

    await db_module.open_database(url)
    try:
        return (await make_holder()).nir
    finally:
        await db_module.close_database()


async def test_an_open_session_says_the_database_is_unavailable_then_goes_on_by_itself(served, own_postgres):
    from tests.factories import DEFAULT_PASSWORD
    from tests.ssh_harness import Terminal

    server, identifier, nir = served
    conn = await server.connect("alice")
    term = await Terminal.open(conn, 80, 24)
    await term.log_in(identifier, DEFAULT_PASSWORD)
    await term.wait_for("x Se déconnecter")
    term.write("1")
    await term.wait_for("NIR ou nom")

    await asyncio.to_thread(own_postgres.stop, "immediate")
    term.write(nir + "\r")  # a read: tried again for a few seconds, then the French message
    await term.wait_for("Base de données indisponible, nouvel essai", timeout=60)
    assert "titulaire(s) trouvé(s)" not in term.screen.text()

    await asyncio.to_thread(own_postgres.start)
    term.write("\r")  # the same search again: the session reconnected by itself
    await term.wait_for("1 titulaire(s) trouvé(s)", timeout=60)
    assert server.process.poll() is None and len(server.apps()) == 1
    assert b"Traceback" not in term.output and b"connection floor" not in term.output  # no log on the screen
    conn.close()
