"""Flow control of one `ssh-serve` session, in-process: a slow client stops the reading of the pty."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from cpf_tui.ssh_server import CpfSSHServer, Registry, ServeOptions, SessionHandler
from tests.ssh_harness import eventually

YES = shutil.which("yes")


class FakeChannel:
    """The part of asyncssh's channel a session handler uses, recording what it is given."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.exit_status: int | None = None
        self.exit_signal: str | None = None
        self.reading_paused = False

    def write(self, data: bytes) -> None:
        self.data += data

    def write_stderr(self, data: bytes) -> None:
        self.data += data

    def get_environment(self) -> dict[str, str]:
        return {}

    def exit(self, status: int) -> None:
        self.exit_status = status

    def exit_with_signal(self, name: str, core_dumped: bool = False, msg: str = "", lang: str = "") -> None:
        self.exit_signal = name

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        return handle.read().rsplit(b")", 1)[1].split()[0].decode()


@pytest.fixture
async def session(tmp_path: Path):
    options = ServeOptions(host_key=tmp_path / "hk", authorized_keys=tmp_path / "keys", drop_root=tmp_path / "depot",
                           app_command=[YES or "yes", "une ligne de sortie"], server_env={"PATH": os.defpath})
    server = CpfSSHServer(Registry(options))
    server.ssh_user, server.peer, server.sessions = "alice", "127.0.0.1:4242", 1
    server.registry.open_sessions = 1
    handler = SessionHandler(server)
    channel = FakeChannel()
    handler._chan = channel  # what asyncssh's connection_made does
    handler.pty_requested("xterm", (80, 24, 0, 0), {})
    handler.shell_requested()
    handler.session_started()
    yield handler, channel
    if not handler.exited:
        handler.connection_lost(None)


@pytest.mark.skipif(YES is None, reason="la commande yes est absente")
async def test_pause_writing_stops_reading_and_the_program_blocks(session):
    handler, channel = session
    assert await eventually(lambda: len(channel.data) > 200_000, 10)

    handler.pause_writing()
    stopped_at = len(channel.data)
    # With nobody reading the pty, the program fills it and sleeps in write().
    assert await eventually(lambda: process_state(handler.pid) == "S", 10)
    await asyncio.sleep(0)  # let the loop run: no reader may fire any more
    assert len(channel.data) == stopped_at
    assert not handler.reading

    handler.resume_writing()
    assert await eventually(lambda: len(channel.data) > stopped_at + 200_000, 10)

    # The client goes away: SIGHUP to the process group, then the program is reaped.
    handler.connection_lost(None)
    assert await eventually(lambda: handler.exited, 10)
    assert not os.path.exists(f"/proc/{handler.pid}") or process_state(handler.pid) != "Z"
    assert handler.master is None and handler.outcome == "signal SIGHUP"
    assert channel.exit_status is None and channel.exit_signal is None  # nobody left to tell


@pytest.mark.skipif(YES is None, reason="la commande yes est absente")
async def test_program_ending_sends_its_status_after_its_last_output(tmp_path):
    options = ServeOptions(host_key=tmp_path / "hk", authorized_keys=tmp_path / "keys", drop_root=tmp_path / "depot",
                           app_command=["/bin/sh", "-c", "printf 'au revoir'; exit 3"], server_env={})
    server = CpfSSHServer(Registry(options))
    server.ssh_user, server.sessions = "alice", 1
    handler = SessionHandler(server)
    channel = FakeChannel()
    handler._chan = channel
    handler.pty_requested("xterm", (80, 24, 0, 0), {})
    handler.exec_requested("ignored")
    handler.session_started()
    assert await eventually(lambda: handler.exited, 10)
    assert channel.exit_status == 3
    text = bytes(channel.data)
    assert text.startswith(b"au revoir")
    assert text.endswith(b"\x1b[?25h\r\n")  # abnormal end: the terminal reset follows the output


async def test_an_app_that_ignores_sighup_is_killed_after_the_grace_delay(tmp_path):
    options = ServeOptions(host_key=tmp_path / "hk", authorized_keys=tmp_path / "keys", drop_root=tmp_path / "depot",
                           app_command=["/bin/sh", "-c", "trap '' HUP; printf prêt; sleep 60 & wait"],
                           server_env={"PATH": os.defpath})
    server = CpfSSHServer(Registry(options))
    server.ssh_user, server.sessions = "alice", 1
    handler = SessionHandler(server)
    channel = FakeChannel()
    handler._chan = channel
    handler.pty_requested("xterm", (80, 24, 0, 0), {})
    handler.shell_requested()
    handler.session_started()
    assert await eventually(lambda: "prêt".encode() in channel.data, 10)
    group = handler.pid
    started = asyncio.get_running_loop().time()
    handler.connection_lost(None)  # SIGHUP, ignored by the program
    assert await eventually(lambda: handler.exited, 15)
    waited = asyncio.get_running_loop().time() - started
    assert waited >= 4.5  # it took the SIGKILL after the grace delay
    assert handler.outcome == "signal SIGKILL"

    def group_members() -> list[str]:
        members = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    if int(handle.read().rsplit(b")", 1)[1].split()[2]) == group:
                        members.append(entry)
            except (OSError, ValueError, IndexError):
                continue
        return members

    assert await eventually(lambda: group_members() == [], 5)  # the background sleep went too
