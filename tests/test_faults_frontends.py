"""Several `ssh-serve` front ends on one database: one is killed with SIGKILL while sessions are open.

Its sessions end (each application gets SIGHUP from its dead terminal and closes its session cleanly),
the other front end's sessions go on and can still write, and no lock stays held: SQLite's file locks
and PostgreSQL's row and advisory locks belong to processes that are gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sqlite3
from pathlib import Path

import asyncssh
import pytest

from cpf_tui import db as db_module
from tests.conftest import PG_URL
from tests.factories import DEFAULT_PASSWORD
from tests.ssh_harness import SshServer, Terminal, eventually, seed_accounts

pytestmark = pytest.mark.slow

PR_SET_CHILD_SUBREAPER = 36


def _gone(pid: int) -> bool:
    """The process has ended and was reaped (by this test process, which adopts orphans here)."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not os.path.exists(f"/proc/{pid}")
    return bool(done) or not os.path.exists(f"/proc/{pid}")


@pytest.fixture
def adopt_orphans():
    """While the test runs, this process adopts the orphans of the server it kills (and reaps them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def identifiers(db_url: str) -> list[str]:
    return seed_accounts(db_url, 2)


@pytest.fixture
def front_ends(tmp_path: Path, db_url: str, identifiers, adopt_orphans):
    """Two `ssh-serve` on the same database; whatever is left of them is killed and reaped."""
    servers = [SshServer(tmp_path / name, db_url) for name in ("avant-1", "avant-2")]
    for server in servers:
        server.base.mkdir()
    try:
        yield [server.start() for server in servers]
    finally:
        for server in servers:
            if server.process is None:
                continue
            left = server.descendants()
            if server.process.poll() is None:
                server.stop()
            for pid in left:
                if not _gone(pid):
                    os.kill(pid, signal.SIGKILL)
                    for _ in range(100):
                        if _gone(pid):
                            break
                        os.sched_yield()


async def _events(db_url: str, action: str) -> list:
    from models import AuditEvent

    await db_module.open_database(db_url)
    try:
        return await AuditEvent.filter(action=action).order_by("seq")
    finally:
        await db_module.close_database()


async def test_a_front_end_killed_with_sigkill_leaves_the_others_working_and_no_lock_held(
        front_ends, identifiers, db_url):
    first, second = front_ends
    victim_id, survivor_id = identifiers
    terminals = []
    for server, identifier in ((first, victim_id), (second, survivor_id)):
        term = await Terminal.open(await server.connect("alice"))
        await term.log_in(identifier, DEFAULT_PASSWORD)
        await term.wait_for("Se déconnecter")
        terminals.append(term)
    victim_term, survivor_term = terminals
    victim_processes = first.descendants()
    victim_apps = first.apps()
    assert victim_apps

    os.kill(first.pid, signal.SIGKILL)
    first.process.wait(timeout=30)

    # Its sessions end: the client sees the connection go, each app ends and is reaped.
    with pytest.raises(asyncssh.ConnectionLost):
        await victim_term.read_to_end()
    assert await eventually(lambda: all(_gone(pid) for pid in victim_processes), 20), [
        pid for pid in victim_processes if not _gone(pid)]
    # The app noticed the hang-up and closed its session (written to the shared journal).
    hangups = await _events(db_url, "session.hangup")
    assert [event.actor_identifier for event in hangups] == [victim_id]
    assert victim_id in [event.actor_identifier for event in await _events(db_url, "session.end")]

    # The other front end's session goes on and writes.
    survivor_term.write("x")
    await survivor_term.wait_until(lambda: any(text in survivor_term.screen.text() for text in (
        "Se déconnecter (o)", "Connexion à l'espace de gestion CPF")), "confirmation ou écran de connexion")
    if "Se déconnecter (o)" in survivor_term.screen.text():  # logging out asks for a confirmation
        survivor_term.write("o")
    await survivor_term.wait_for("Connexion à l'espace de gestion CPF")
    ended = await _events(db_url, "session.end")
    assert (survivor_id, "logout") in [(event.actor_identifier, event.after["reason"]) for event in ended]
    assert second.process.poll() is None

    # No lock left behind by the killed processes.
    if PG_URL:
        from urllib.parse import urlsplit

        database = urlsplit(db_url).path.lstrip("/")
        rows = await _pg_rows(db_url, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                              f" WHERE d.datname = '{database}' AND l.pid <> pg_backend_pid()")
        assert rows == [(0,)]
    else:
        conn = sqlite3.connect(db_url[len("sqlite://"):], timeout=0)
        try:
            conn.execute("BEGIN EXCLUSIVE")  # fails at once if any process still held a lock
            conn.rollback()
        finally:
            conn.close()


async def _pg_rows(url: str, sql: str) -> list[tuple]:
    import asyncpg
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = await asyncpg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
                                 password=parts.password, database=parts.path.lstrip("/"))
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()
