"""Harness for the `ssh-serve` tests and `bench/sessions.py`: the server as a subprocess, keys, terminals.

No tests live here; the test modules and the benchmark import it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncssh

from cpf_tui import db as db_module
from tests.vt import VirtualScreen, cursor_in_field_below

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"en écoute sur 127\.0\.0\.1:(\d+)")
LAUNCHER_READY = re.compile(r"Lanceur préchargé prêt \(pid \d+\) ; [^;]* ; (.*)\.$", re.MULTILINE)
"""The server's log line on its launcher: what it says of the launcher's objects (immortal or not)."""


def seed_accounts(db_url: str, count: int = 1, **fields) -> list[str]:
    """Create `count` gestionnaire accounts (factories' default password); returns their identifiers."""
    from tests.factories import make_account

    async def go() -> list[str]:
        await db_module.open_database(db_url)
        try:
            return [(await make_account(**fields)).identifier for _ in range(count)]
        finally:
            await db_module.close_database()

    return asyncio.run(go())


def children_of(pid: int) -> list[int]:
    """Pids whose parent is `pid` (from /proc), zombies included."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def is_launcher(pid: int) -> bool:
    """The pre-loaded launcher of ssh-serve (its forked apps keep its command line, not its name)."""
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip() == "cpf-tui-lanceur"
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (VmRSS), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


async def eventually(predicate, timeout: float, interval: float = 0.05) -> bool:
    """`wait_until` for async tests: the event loop keeps running (an aborted client really closes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


class SshServer:
    """`cpf-tui ssh-serve` on a free loopback port, keys and drop folders in `base`."""

    def __init__(self, base: Path, db_url: str = "", *, users: tuple[str, ...] = ("alice",),
                 extra_args: tuple[str, ...] = (), per_user_keys: bool = True) -> None:
        self.base = base
        self.db_url = db_url
        self.users = users
        self.extra_args = extra_args
        self.per_user_keys = per_user_keys
        self.host_key = base / "ssh" / "host_ed25519_key"
        self.authorized = base / "ssh" / ("authorized_keys.d" if per_user_keys else "authorized_keys")
        self.drop_root = base / "depot"
        self.log_file = base / "ssh-serve.log"
        self.client_keys: dict[str, asyncssh.SSHKey] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------
    def write_keys(self) -> None:
        self.authorized.parent.mkdir(parents=True, exist_ok=True)
        lines = {}
        for user in self.users:
            key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{user}@test")
            self.client_keys[user] = key
            lines[user] = key.export_public_key().decode()
        if self.per_user_keys:
            self.authorized.mkdir(mode=0o700, exist_ok=True)
            for user, line in lines.items():
                (self.authorized / user).write_text(line)
                (self.authorized / user).chmod(0o600)
        else:
            self.authorized.write_text("".join(lines.values()))
            self.authorized.chmod(0o600)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CPF_TUI_")}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        env["CPF_TUI_DATA_DIR"] = str(self.base / "data")
        if self.db_url:
            env["CPF_TUI_DB_URL"] = self.db_url
        return env

    def start(self, timeout: float = 60.0) -> SshServer:
        if not self.client_keys:
            self.write_keys()
        self.log_file.write_text("")
        command = [
            sys.executable, "-m", "cpf_tui", "ssh-serve", "--port", "0",
            "--host-key", str(self.host_key), "--authorized-keys", str(self.authorized),
            "--drop-root", str(self.drop_root), "--log-file", str(self.log_file), *self.extra_args,
        ]
        self.process = subprocess.Popen(command, env=self.environment(), cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=open(self.base / "ssh-serve.stderr", "wb"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_file.read_text(encoding="utf-8"))
            if match:
                self.port = int(match.group(1))
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"ssh-serve s'est arrêté : {(self.base / 'ssh-serve.stderr').read_text()}")
            time.sleep(0.05)
        raise AssertionError("ssh-serve n'a pas démarré à temps")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait; returns the exit code (the server ends every app first)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("ssh-serve ne s'est pas arrêté après SIGTERM") from None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def apps(self) -> list[int]:
        """App processes of the server: its children, or the children of its pre-loaded launcher."""
        found = []
        for child in children_of(self.pid):
            found.extend(children_of(child) if is_launcher(child) else [child])
        return found

    def descendants(self) -> list[int]:
        found, queue = [], [self.pid]
        while queue:
            children = children_of(queue.pop())
            found.extend(children)
            queue.extend(children)
        return found

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8")

    def host_public_key(self) -> str:
        return Path(f"{self.host_key}.pub").read_text().strip()

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_public_key()}\n"

    # -- clients --------------------------------------------------------------------------
    async def connect(self, user: str = "alice", key: asyncssh.SSHKey | None = None,
                      **options) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            "127.0.0.1", self.port, username=user, client_keys=[key or self.client_keys[user]],
            known_hosts=asyncssh.import_known_hosts(self.known_hosts_line()), agent_path=None,
            preferred_auth="publickey", **options,
        )


class Terminal:
    """An SSH session with a pty, read as raw bytes (enough to find text and escape sequences)."""

    def __init__(self, process: asyncssh.SSHClientProcess, columns: int = 80, rows: int = 24) -> None:
        self.process = process
        self.output = bytearray()
        self.screen = VirtualScreen(columns, rows)
        self.eof = False

    @classmethod
    async def open(cls, conn: asyncssh.SSHClientConnection, columns: int = 80, rows: int = 24,
                   term: str = "xterm-256color", **options) -> Terminal:
        process = await conn.create_process(term_type=term, term_size=(columns, rows), encoding=None, **options)
        return cls(process, columns, rows)

    async def _read(self, timeout: float) -> None:
        data = await asyncio.wait_for(self.process.stdout.read(65536), timeout)
        if not data:
            self.eof = True
        self.output += data
        self.screen.feed(data)

    def resize(self, columns: int, rows: int) -> None:
        """The client's window changes size (the server forwards it to the app)."""
        self.screen.resize(columns, rows)
        self.process.change_terminal_size(columns, rows)

    async def wait_until(self, predicate, what: str, timeout: float = 30.0) -> None:
        """Read until `predicate()` holds (it looks at `self.screen`)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.eof:
                raise AssertionError(f"{what} : délai dépassé. Écran :\n{self.screen.text()}")
            try:
                await self._read(min(remaining, 0.2))
            except TimeoutError:
                continue

    async def wait_for(self, marker: bytes | str, timeout: float = 30.0, start: int = 0) -> int:
        """Text (str): read until it shows on the screen. Bytes: until they appear in the raw output
        after offset `start`. Returns the output offset reached."""
        if isinstance(marker, str):
            await self.wait_until(lambda: marker in self.screen.text(), f"« {marker} » attendu", timeout)
            return len(self.output)
        deadline = time.monotonic() + timeout
        while (found := self.output.find(marker, start)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.eof:
                tail = bytes(self.output[-2000:])
                raise AssertionError(f"{marker!r} n'est pas arrivé ; fin du flux : {tail!r}")
            try:
                await self._read(remaining)
            except TimeoutError:
                continue
        return found + len(marker)

    async def log_in(self, identifier: str, password: str, timeout: float = 30.0) -> None:
        """Fill the login form like a person who waits for the cursor to move to the password field.

        Textual moves the focus after the keys already queued, so typing ahead would send the
        password into the identifier field. Textual leaves the terminal cursor in the focused field.
        """
        await self.wait_for("Connexion à l'espace de gestion CPF", timeout)
        self.write(identifier)
        await self.wait_for(identifier, timeout)
        label = self.screen.row_of("Mot de passe")
        self.write("\t")
        await self.wait_until(lambda: cursor_in_field_below(self.screen, label), "curseur dans le mot de passe",
                              timeout)
        self.write(password + "\r")

    async def read_to_end(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"la session ne s'est pas terminée ; fin : {bytes(self.output[-1000:])!r}")
            try:
                await self._read(remaining)
            except TimeoutError:
                continue
        await asyncio.wait_for(self.process.wait_closed(), timeout)

    def write(self, data: bytes | str) -> None:
        self.process.stdin.write(data.encode("utf-8") if isinstance(data, str) else data)
