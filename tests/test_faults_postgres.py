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


def test_a_transaction_whose_begin_fails_leaves_no_transaction_current(own_postgres, monkeypatch):
    """The server gone between two transactions: `BEGIN` fails. The next transaction of the same task is
    a transaction of its own, not a savepoint of the dead one (« connection has been released back to
    the pool », seen in CI), its connection went back to the pool, and the database closes cleanly."""
    url = own_postgres.create_database("cpf")
    asyncio.run(db_module.migrate(url))
    asyncio.run(_begin_fails_once(url, monkeypatch))


async def _begin_fails_once(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncpg
    from tortoise.connection import get_connections
    from tortoise.transactions import in_transaction

    from cpf_tui.pg_client import ResilientTransactionWrapper

    original = ResilientTransactionWrapper.begin
    begun: list[bool] = []

    async def begin(self) -> None:  # noqa: ANN001 - a ResilientTransactionWrapper
        begun.append(True)
        if len(begun) == 1:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        await original(self)

    monkeypatch.setattr(ResilientTransactionWrapper, "begin", begin)
    await db_module.open_database(url)
    try:
        client = get_connections().get("default")
        with pytest.raises(asyncpg.ConnectionDoesNotExistError):
            async with in_transaction():
                pass
        assert get_connections().get("default") is client  # no dead transaction left current
        pool = client._pool  # noqa: SLF001
        assert pool.get_idle_size() == pool.get_size()  # its connection went back
        async with in_transaction() as conn:
            assert await conn.execute_query_dict("SELECT txid_current_if_assigned() IS NULL AS fresh")
        assert len(begun) == 2  # a BEGIN of its own, no savepoint
    finally:
        await db_module.close_database()
