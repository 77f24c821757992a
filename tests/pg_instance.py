"""A PostgreSQL server of its own (initdb + pg_ctl in a temporary folder, on a free loopback port), for
the fault tests that stop it and for `bench/load.py`. Never the machine's main server.

Run as root, the server runs as the `postgres` system user (initdb refuses root). `stop()` in a
`finally` always ends it; `remove()` deletes its folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def server_binaries() -> Path:
    """The newest `/usr/lib/postgresql/*/bin` holding initdb and pg_ctl."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise FileNotFoundError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgInstance:
    """One PostgreSQL cluster in `base` (a new temporary folder by default), trust auth on 127.0.0.1."""

    def __init__(self, base: Path | None = None, *, settings: dict[str, str] | None = None) -> None:
        self.base = Path(base or tempfile.mkdtemp(prefix="cpf-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port = free_port()
        self.bin = server_binaries()
        self.settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.base),
                         "fsync": "on", "max_connections": "200", **(settings or {})}
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=timeout,
                              cwd=self.base, stdin=subprocess.DEVNULL)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> PgInstance:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            for key, value in self.settings.items():
                conf.write(f"{key} = '{value}'\n")
        return self

    def start(self, timeout: float = 60) -> PgInstance:
        self._run("pg_ctl", "start", "-w", "-t", str(int(timeout)), "-D", str(self.data), "-l", str(self.log),
                  "-o", f"-p {self.port}", timeout=timeout + 10)
        return self

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m MODE` (immediate: like a crash, recovery at the next start); nothing if not running."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-w", "-D", str(self.data), "-m", mode, check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def psql(self, database: str, sql: str) -> str:
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                         "-At", "-c", sql).stdout.strip()

    def remove(self) -> None:
        """Stop (immediate) and delete the folder."""
        try:
            self.stop("immediate")
        finally:
            deadline = time.monotonic() + 10
            while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            shutil.rmtree(self.base, ignore_errors=True)
