"""`cpf-tui ssh-serve` end to end with an asyncssh client: one app per terminal session, over loopback."""

from __future__ import annotations

import asyncio
import os
import signal

import asyncssh
import pytest

from cpf_tui import db as db_module
from tests.factories import DEFAULT_PASSWORD
from tests.ssh_harness import SshServer, Terminal, children_of, eventually, seed_accounts

pytestmark = pytest.mark.slow

REPAINT_AT_ROW_30 = b"\x1b[30;1H"
"""Textual moves the cursor to the start of each line it paints: row 30 exists only after the resize."""


@pytest.fixture
def identifier(db_url: str) -> str:
    return seed_accounts(db_url, nom="Martin", prenom="Claire")[0]


@pytest.fixture
def server(tmp_path, db_url, identifier):
    srv = SshServer(tmp_path, db_url).start()
    yield srv
    processes = srv.descendants()
    assert srv.stop() == 0
    assert [pid for pid in processes if os.path.exists(f"/proc/{pid}")] == []  # launcher and apps gone


async def login_events(db_url: str):
    from models import AuditEvent

    await db_module.open_database(db_url)
    try:
        return await AuditEvent.filter(action__in=["login", "session.hangup"]).order_by("seq")
    finally:
        await db_module.close_database()


async def test_login_over_ssh_resize_and_quit(server, identifier, db_url):
    conn = await server.connect("alice")
    term = await Terminal.open(conn, 80, 24)
    await term.wait_for("Connexion à l'espace de gestion CPF")
    assert len(server.apps()) == 1

    await term.log_in(identifier, DEFAULT_PASSWORD)  # typing reaches the form: it waits for the echo
    await term.wait_for("Se déconnecter")
    assert "Claire Martin" in term.screen.text()

    assert REPAINT_AT_ROW_30 not in term.output
    before_resize = len(term.output)
    term.resize(100, 30)
    await term.wait_for(REPAINT_AT_ROW_30, start=before_resize)

    term.write("\x11")  # ctrl+q
    await term.wait_for("Quitter l'application", start=before_resize)
    term.write("o")
    await term.read_to_end()
    conn.close()

    assert term.process.exit_status == 0
    assert b"\x1b[?1049l" in term.output  # the app left the alternate screen itself
    assert await eventually(lambda: server.apps() == [], 5)

    # The SSH identity reached the app: the login is journalled with the user and key of the session.
    events = await login_events(db_url)
    login = [e for e in events if e.action == "login"][-1]
    assert login.outcome == "success"
    assert login.ssh_user == "alice"
    assert login.ssh_key_fingerprint == server.client_keys["alice"].get_fingerprint("sha256")
    assert await eventually(lambda: "type=application" in server.log(), 5), server.log()  # logged at the close
    line = [ln for ln in server.log().splitlines() if "type=application" in ln][-1]
    assert "utilisateur=alice" in line and login.ssh_key_fingerprint in line
    assert "adresse=127.0.0.1:" in line and "fin=statut 0" in line


async def test_dropped_client_leaves_no_app_and_the_app_ends_cleanly(server, identifier, db_url):
    conn = await server.connect("alice")
    term = await Terminal.open(conn)
    await term.log_in(identifier, DEFAULT_PASSWORD)
    await term.wait_for("Se déconnecter")
    [app_pid] = server.apps()

    conn.abort()

    assert await eventually(lambda: server.apps() == [], 5), f"processus restants : {server.apps()}"
    assert not os.path.exists(f"/proc/{app_pid}")
    # SIGHUP went through the app's handler: clean exit (status 0) and a journalled hang-up.
    assert await eventually(lambda: "fin=statut 0" in server.log(), 5), server.log()
    events = await login_events(db_url)
    hangup = [e for e in events if e.action == "session.hangup"]
    assert len(hangup) == 1
    assert hangup[0].after == {"signal": "SIGHUP"} and hangup[0].ssh_user == "alice"


def proc_environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        pairs = [item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode() for k, v in pairs}


async def test_app_runs_in_its_own_terminal_session_and_a_killed_app_resets_the_terminal(server):
    conn = await server.connect("alice")
    term = await Terminal.open(conn)
    await term.wait_for("Connexion à l'espace de gestion CPF")
    [app_pid] = server.apps()
    with open(f"/proc/{app_pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    session_id, tty_nr, foreground_group = int(fields[3]), int(fields[4]), int(fields[5])
    assert session_id == app_pid  # setsid: the app leads its own session...
    assert tty_nr != 0 and foreground_group == app_pid  # ...whose controlling terminal is the pty

    os.kill(app_pid, signal.SIGKILL)
    await term.read_to_end()
    conn.close()
    assert term.process.exit_signal is not None and term.process.exit_signal[0] == "KILL"
    assert term.output.endswith(b"\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l"
                                b"\x1b[?1004l\x1b[?2004l\x1b[?2048l\x1b[<u\x1b[0m\x1b[?25h\r\n")


async def test_session_without_terminal_is_refused(server):
    async with await server.connect("alice") as conn:
        result = await conn.run("cpf-tui", encoding="utf-8")
        assert result.exit_status == 2
        assert "besoin d'un terminal" in result.stderr
        assert result.stdout == ""
    assert server.apps() == []
    # The outcome is logged when the connection is closed, after the client has seen the exit.
    assert await eventually(lambda: "refusée (pas de terminal)" in server.log(), 5), server.log()


async def test_unknown_key_or_user_is_refused(server):
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await server.connect("alice", stranger)
    with pytest.raises(asyncssh.PermissionDenied):
        await server.connect("mallory", server.client_keys["alice"])
    with pytest.raises(asyncssh.PermissionDenied):
        await server.connect("../alice", server.client_keys["alice"])
    assert await eventually(lambda: server.log().count("authentification non aboutie") == 3, 5), server.log()
    assert server.apps() == []


async def test_sessions_are_capped_per_connection_and_in_total(tmp_path):
    srv = SshServer(tmp_path, users=("alice", "bob"),
                    extra_args=("--max-per-connection", "1", "--max-sessions", "2")).start()
    try:
        first = await srv.connect("alice")
        await first.start_sftp_client()  # an SFTP session holds a slot without starting an app
        with pytest.raises(asyncssh.ChannelOpenError, match="Trop de sessions sur cette connexion"):
            await first.create_process(term_type="xterm", term_size=(80, 24))
        second = await srv.connect("bob")
        await second.start_sftp_client()
        third = await srv.connect("bob")
        with pytest.raises(asyncssh.ChannelOpenError, match="Trop de sessions ouvertes sur ce serveur"):
            await third.start_sftp_client()
        first.close()
        await first.wait_closed()
        # A freed slot can be used again.
        fourth = await srv.connect("alice")
        for _ in range(50):
            try:
                await fourth.start_sftp_client()
                break
            except asyncssh.ChannelOpenError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("la place libérée n'a pas été rendue")
        for conn in (second, third, fourth):
            conn.close()
    finally:
        assert srv.stop() == 0


async def test_server_stop_ends_running_apps(tmp_path, db_url):
    srv = SshServer(tmp_path, db_url).start()
    conn = await srv.connect("alice")
    term = await Terminal.open(conn)
    await term.wait_for("Connexion à l'espace de gestion CPF")
    [app_pid] = srv.apps()
    code = await asyncio.get_running_loop().run_in_executor(None, srv.stop)
    assert code == 0
    assert not os.path.exists(f"/proc/{app_pid}")
    await term.read_to_end()
    assert term.process.exit_status == 0  # SIGTERM went through the app's handler
    assert b"\x1b[?1049l" in term.output
    assert "Serveur SSH arrêté." in srv.log()


async def test_without_preload_each_session_is_a_direct_child(tmp_path, db_url):
    srv = SshServer(tmp_path, db_url, extra_args=("--no-preload",)).start()
    try:
        conn = await srv.connect("alice")
        term = await Terminal.open(conn, term="tmux-256color",
                                   env={"COLORTERM": "truecolor", "COLUMNS": "200", "CPF_TUI_SSH_USER": "root"})
        await term.wait_for("Connexion à l'espace de gestion CPF")
        [app_pid] = srv.apps()
        assert children_of(srv.pid) == [app_pid]  # no launcher in between
        # An executed app's initial environment is visible in /proc: built from the whitelists.
        env = proc_environ(app_pid)
        assert env["TERM"] == "tmux-256color" and env["COLORTERM"] == "truecolor" and env["PYTHONUTF8"] == "1"
        assert "COLUMNS" not in env and "LINES" not in env
        assert env["CPF_TUI_SSH_USER"] == "alice"
        assert env["CPF_TUI_DROP_DIR"] == str(srv.drop_root.resolve() / "alice")
        term.write("\x11")
        await term.wait_for("Quitter l'application")
        term.write("o")
        await term.read_to_end()
        assert term.process.exit_status == 0
        second = await srv.connect("alice")
        term = await Terminal.open(second)
        await term.wait_for("Connexion à l'espace de gestion CPF")
        [app_pid] = srv.apps()
        second.abort()
        assert await eventually(lambda: srv.apps() == [], 5)
        assert not os.path.exists(f"/proc/{app_pid}")
        conn.close()
    finally:
        assert srv.stop() == 0


async def test_a_dead_launcher_ends_its_sessions_and_new_ones_start_directly(tmp_path, db_url):
    from tests.ssh_harness import is_launcher

    srv = SshServer(tmp_path, db_url).start()
    try:
        conn = await srv.connect("alice")
        term = await Terminal.open(conn)
        await term.wait_for("Connexion à l'espace de gestion CPF")
        [launcher] = [pid for pid in children_of(srv.pid) if is_launcher(pid)]
        [app_pid] = srv.apps()
        os.kill(launcher, signal.SIGKILL)
        await term.read_to_end()
        assert term.process.exit_signal is not None and term.process.exit_signal[0] == "HUP"
        assert term.output.endswith(b"\x1b[?25h\r\n")  # the terminal reset was sent
        # Adopted by the server (child subreaper) and reaped: no zombie left to PID 1.
        assert await eventually(lambda: not os.path.exists(f"/proc/{app_pid}"), 10)
        assert "Le lanceur préchargé s'est arrêté" in srv.log()

        later = await srv.connect("alice")
        term = await Terminal.open(later)
        await term.wait_for("Connexion à l'espace de gestion CPF")
        [direct] = srv.apps()
        assert direct in children_of(srv.pid)
        later.close()
        conn.close()
    finally:
        assert srv.stop() == 0
