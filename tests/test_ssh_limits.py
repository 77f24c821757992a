"""`ssh-serve` under attack with real processes: SFTP handle and session caps, folders and entries in the
quota, resource limits of every session process, and the authorized_keys policy."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
import time

import asyncssh
import pytest

from tests.ssh_harness import SshServer, Terminal

pytestmark = pytest.mark.slow

HANDLES_PER_SESSION = 8
HANDLES_PER_USER = 12
SESSIONS_PER_USER = 3
MAX_ENTRIES = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = SshServer(tmp_path_factory.mktemp("limits"), users=("alice", "bob", "carol"), extra_args=(
        "--drop-quota", "1", "--sftp-handles", str(HANDLES_PER_SESSION),
        "--sftp-handles-per-user", str(HANDLES_PER_USER), "--max-per-user", str(SESSIONS_PER_USER),
        "--drop-max-files", str(MAX_ENTRIES),
    )).start()
    try:
        yield srv
    finally:
        assert srv.stop() == 0


@pytest.fixture
def emptied(server):
    """Each test starts and ends with empty drop folders."""
    def empty() -> None:
        for user in server.users:
            folder = server.drop_root / user
            if not folder.exists():
                continue
            for root, dirs, files in os.walk(folder, topdown=False):
                for name in files:
                    os.unlink(os.path.join(root, name))
                for name in dirs:
                    os.rmdir(os.path.join(root, name))

    empty()
    yield
    empty()


async def test_open_handles_are_capped_per_session_and_per_user(server, emptied):
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        await sftp.mkdir("lot")
        files = [await sftp.open(f"/f{i}.txt", "w") for i in range(HANDLES_PER_SESSION - 1)]
        folder = await sftp._handler.opendir(b"/lot")  # a folder handle counts too (raw SFTP request)
        with pytest.raises(asyncssh.SFTPFailure, match="Trop de fichiers ouverts dans cette session"):
            await sftp.open("/de-trop.txt", "w")
        await files.pop().close()
        files.append(await sftp.open("/remplace.txt", "w"))  # a closed handle is given back
        await sftp._handler.close(folder)
        files.append(await sftp.open("/apres-dossier.txt", "w"))

        async with await server.connect("alice") as second, second.start_sftp_client() as sftp2:
            others = [await sftp2.open(f"/g{i}.txt", "w") for i in range(HANDLES_PER_USER - HANDLES_PER_SESSION)]
            with pytest.raises(asyncssh.SFTPFailure, match="Trop de fichiers ouverts pour ce compte SSH"):
                await sftp2.open("/h.txt", "w")
            # Another user is not affected.
            async with await server.connect("bob") as bob, bob.start_sftp_client() as bob_sftp:
                handle = await bob_sftp.open("/b.txt", "w")
                await handle.close()
            for handle in others:
                await handle.close()
        for handle in files:
            await handle.close()
    # Sessions that ended gave every handle back (folder handles included).
    async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
        handles = [await sftp.open(f"/k{i}.txt", "w") for i in range(HANDLES_PER_SESSION)]
        for handle in handles:
            await handle.close()


async def test_sessions_are_capped_per_ssh_user(server, emptied):
    conns = [await server.connect("alice") for _ in range(SESSIONS_PER_USER)]
    try:
        clients = [await conn.start_sftp_client() for conn in conns]
        extra = await server.connect("alice")
        try:
            with pytest.raises(asyncssh.ChannelOpenError, match="Trop de sessions ouvertes pour cet utilisateur"):
                await extra.start_sftp_client()
            async with await server.connect("bob") as bob, bob.start_sftp_client() as bob_sftp:
                assert await bob_sftp.listdir("/") == [".", ".."]
            clients.pop().exit()
            again = None
            deadline = time.monotonic() + 10  # the server counts the session closed once its channel is
            while again is None:
                try:
                    again = await extra.start_sftp_client()
                except asyncssh.ChannelOpenError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
            again.exit()
        finally:
            extra.close()
        for client in clients:
            client.exit()
    finally:
        for conn in conns:
            conn.close()
    assert "Session refusée : utilisateur=alice" in server.log()


async def test_folders_and_entries_count_in_the_quota(server, emptied):
    async with await server.connect("carol") as conn, conn.start_sftp_client() as sftp:
        made = 0
        with pytest.raises(asyncssh.SFTPFailure, match="Trop de fichiers et dossiers"):
            for i in range(MAX_ENTRIES + 5):
                await sftp.mkdir(f"/d{i}")
                made += 1
        assert made == MAX_ENTRIES
        for i in range(MAX_ENTRIES):
            await sftp.rmdir(f"/d{i}")
        # Files count as entries too.
        made = 0
        with pytest.raises(asyncssh.SFTPFailure, match="Trop de fichiers et dossiers"):
            for i in range(MAX_ENTRIES + 5):
                handle = await sftp.open(f"/f{i}", "w")
                await handle.close()
                made += 1
        assert made == MAX_ENTRIES
    assert len(os.listdir(server.drop_root / "carol")) == MAX_ENTRIES


async def test_each_folder_costs_a_block_of_the_byte_quota(tmp_path):
    server = SshServer(tmp_path, extra_args=("--drop-quota", "1")).start()
    try:
        async with await server.connect("alice") as conn, conn.start_sftp_client() as sftp:
            made = 0
            with pytest.raises(asyncssh.SFTPFailure, match="Quota du dossier de dépôt dépassé"):
                for i in range(400):
                    await sftp.mkdir(f"/d{i}")
                    made += 1
        assert made == 1024 * 1024 // 4096  # 3,000 folders no longer fit under 1 Mo
    finally:
        assert server.stop() == 0


def limits_of(pid: int) -> dict[str, str]:
    names = {"Max address space": "as", "Max open files": "nofile", "Max processes": "nproc"}
    found = {}
    with open(f"/proc/{pid}/limits") as handle:
        for line in handle:
            for label, key in names.items():
                if line.startswith(label):
                    found[key] = line[len(label):].split()[0]
    return found


@pytest.mark.parametrize("preload", [True, False], ids=["lanceur", "processus-direct"])
async def test_every_session_process_gets_the_resource_limits(tmp_path, db_url, preload):
    extra = ("--limit-memory", "1500", "--limit-files", "100", "--limit-processes", "3000")
    if not preload:
        extra += ("--no-preload",)
    server = SshServer(tmp_path, db_url, extra_args=extra).start()
    try:
        async with await server.connect("alice") as conn:
            term = await Terminal.open(conn, 80, 24)
            await term.wait_for("Connexion à l'espace de gestion CPF")
            apps = server.apps()
            assert len(apps) == 1
            assert limits_of(apps[0]) == {"as": str(1500 * 1024 * 1024), "nofile": "100", "nproc": "3000"}
            assert limits_of(server.pid)["nofile"] != "100"  # the server itself is not limited
            term.write("\x11")
            await term.wait_for("Quitter l'application")
            term.write("o")
            await term.read_to_end()
    finally:
        assert server.stop() == 0


async def test_limits_are_enforced_on_the_session_process(tmp_path):
    """The session command sees its limits (a shell reports them) and really cannot go beyond them."""
    script = (
        "echo LIMITES $(ulimit -n) $(ulimit -v) $(ulimit -u); "
        + shlex.quote(sys.executable)
        + " -c 'import os\ntry:\n    [os.open(\"/dev/null\", 0) for _ in range(200)]\nexcept OSError as e: print(\"REFUS\", e.errno)'"
    )
    server = SshServer(tmp_path, extra_args=(
        "--app-command", f"bash -c {shlex.quote(script)}", "--limit-memory", "900", "--limit-files", "64",
        "--limit-processes", "2000",
    )).start()
    try:
        async with await server.connect("alice") as conn:
            term = await Terminal.open(conn, 80, 24)
            await term.read_to_end()
        text = term.output.decode()
        assert re.search(r"LIMITES 64 921600 2000", text), text
        assert "REFUS 24" in text  # EMFILE
    finally:
        assert server.stop() == 0


# -- authorized_keys policy ---------------------------------------------------------------------
async def _can_log_in(server: SshServer, user: str) -> bool:
    try:
        conn = await server.connect(user)
    except asyncssh.PermissionDenied:
        return False
    conn.close()
    return True


async def test_key_files_writable_by_others_are_refused_at_each_login(tmp_path):
    server = SshServer(tmp_path, users=("alice", "bob")).start()
    try:
        assert await _can_log_in(server, "alice")
        (server.authorized / "alice").chmod(0o666)  # after the start: checked at each login
        assert not await _can_log_in(server, "alice")
        assert await _can_log_in(server, "bob")
        assert "est modifiable par d'autres comptes (droits 666)" in server.log()
        (server.authorized / "alice").chmod(0o600)
        assert await _can_log_in(server, "alice")
        server.authorized.chmod(0o777)  # the folder of key files too
        assert not await _can_log_in(server, "bob")
        server.authorized.chmod(0o700)
    finally:
        assert server.stop() == 0


async def test_key_options_expiry_from_no_pty_and_unknown(tmp_path):
    server = SshServer(tmp_path, users=("alice", "bob", "carol", "dave")).start()
    try:
        def with_options(user: str, options: str) -> None:
            line = server.client_keys[user].export_public_key().decode()
            (server.authorized / user).write_text(f"{options} {line}")

        with_options("alice", 'expiry-time="20200101"')
        with_options("bob", 'from="192.0.2.1"')
        with_options("carol", 'command="/bin/sh"')
        with_options("dave", "no-pty")
        assert not await _can_log_in(server, "alice")
        assert not await _can_log_in(server, "bob")
        assert not await _can_log_in(server, "carol")
        log = server.log()
        assert "Clé refusée pour alice : expirée (expiry-time)" in log
        assert "option non prise en charge : command" in log

        with_options("alice", 'expiry-time="29991231"')
        with_options("bob", 'from="127.0.0.1"')
        assert await _can_log_in(server, "alice") and await _can_log_in(server, "bob")

        # no-pty: the file drop works, the application (which needs a terminal) is refused.
        async with await server.connect("dave") as conn:
            async with conn.start_sftp_client() as sftp:
                assert await sftp.listdir("/") == [".", ".."]
            with pytest.raises(asyncssh.ChannelOpenError, match="PTY request failed"):
                await conn.create_process(term_type="xterm-256color", term_size=(80, 24), encoding=None)
            # Without a pty (what OpenSSH's client falls back to) the server explains and ends the session.
            process = await conn.create_process(encoding=None)
            output = await process.stderr.read()
            await process.wait_closed()
            assert process.exit_status == 2
            assert "a besoin d'un terminal" in output.decode()
        assert "Terminal refusé : utilisateur=dave" in server.log()
        assert server.apps() == []
    finally:
        assert server.stop() == 0
