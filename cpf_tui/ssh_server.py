"""`cpf-tui ssh-serve`: a built-in SSH server that runs one app process per terminal session.

Each SSH session that asks for a terminal gets its own `cpf-tui` process in a new pseudo-terminal,
sized like the client's, whose controlling terminal is that pty (so resizes reach the app as
SIGWINCH). Bytes are copied both ways with SSH flow control. When the client goes away the app gets
SIGHUP (then SIGKILL after 5 s) and is always reaped. SSH only opens the door: the person still
logs in to the app. The SSH identity (user, key fingerprint, address) is handed to the app in its
environment (see `cpf_tui.ssh_env`) for the session record and the audit journal.

The same server offers SFTP, confined to one drop folder per SSH user (`cpf_tui.ssh_drop`).
"""

from __future__ import annotations

import asyncio
import calendar
import errno
import itertools
import json
import re
import resource
import socket
import subprocess
import sys
import fcntl
import logging
import os
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from asyncssh.stream import SSHServerStreamSession

from cpf_tui.errors import ConfigError
from cpf_tui.ssh_drop import DropQuota, DropSFTPServer, HandleBudget, ensure_user_folder, valid_ssh_user
from cpf_tui.ssh_env import session_environment
from cpf_tui.text import display

log = logging.getLogger("cpf_tui.ssh")

TERM_RESET = (
    b"\x1b[?1049l"  # leave the alternate screen
    b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l"  # mouse reporting off
    b"\x1b[?1004l\x1b[?2004l\x1b[?2048l"  # focus events, bracketed paste, in-band resize off
    b"\x1b[<u"  # pop the kitty keyboard mode
    b"\x1b[0m\x1b[?25h\r\n"  # plain colours, visible cursor
)
"""Written to the client when the app ends abnormally, so its terminal is usable again."""

NEEDS_TERMINAL = (
    "cpf-tui a besoin d'un terminal : connectez-vous avec « ssh -t … » "
    "(les commandes et les sessions sans terminal sont refusées).\r\n"
)
HANGUP_GRACE_SECONDS = 5.0
INPUT_HIGH_WATER = 64 * 1024
INPUT_LOW_WATER = 16 * 1024
READ_CHUNK = 65536
MERGING_STATES = {"on": "active", "off": "inactive (voir docs/deploy.md)", "absent": "absente de ce noyau"}
"""The launcher's report of the kernel's same-page merging, as the log says it (cpf_tui/ssh_zygote.py)."""


def immortal_state(count: int) -> str:
    """The launcher's report of its immortal objects, as the log says it (cpf_tui/ssh_zygote.py)."""
    if count:
        return f"objets du lanceur rendus immortels : {count}"
    version = ".".join(str(part) for part in sys.version_info[:2])
    return (f"objets du lanceur non immortels (Python {version} ; chaque session en copie davantage de pages :"
            " Python 3.12 ou 3.13 conseillé, voir docs/deploy.md)")


@dataclass
class ServeOptions:
    """Everything `ssh-serve` needs, resolved from the command line and the settings."""

    host_key: Path
    authorized_keys: Path
    drop_root: Path
    app_command: list[str]
    host: str = "127.0.0.1"
    port: int = 2222
    drop_quota_bytes: int = 100 * 1024 * 1024
    drop_max_entries: int = 10_000
    max_sessions: int = 50
    max_per_connection: int = 3
    max_per_user: int = 10
    sftp_handles_per_session: int = 64
    sftp_handles_per_user: int = 256
    limit_memory_bytes: int = 2048 * 1024 * 1024
    """RLIMIT_AS of each app process (0: no limit)."""
    limit_open_files: int = 256
    """RLIMIT_NOFILE of each app process (0: no limit)."""
    limit_processes: int = 4096
    """RLIMIT_NPROC of each app process: processes and threads of the server's Unix account (0: no limit)."""
    server_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    preload_args: list[str] | None = None
    """Arguments of `cpf_tui.cli.main` run by the pre-loaded launcher; None: `app_command` is executed."""
    login_timeout: float = 30.0
    keepalive_interval: float = 30.0


# -- keys --------------------------------------------------------------------------------------
def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """The server's private host key: generated (Ed25519, mode 0600) at first start, then kept."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(
                f"La clé d'hôte {path} est accessible à d'autres comptes (droits {mode:o}) : "
                f"faites « chmod 600 {path} »."
            )
        try:
            return asyncssh.read_private_key(path)
        except (OSError, asyncssh.KeyImportError) as exc:
            raise ConfigError(f"Clé d'hôte illisible : {path} ({exc}).") from None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="cpf-tui ssh-serve")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key())
    key.write_public_key(f"{path}.pub")
    log.info("Clé d'hôte créée : %s (%s)", path, key.get_fingerprint("sha256"))
    return key


SUPPORTED_KEY_OPTIONS = frozenset({
    "from", "expiry-time", "no-pty", "restrict", "pty",
    "no-port-forwarding", "no-agent-forwarding", "no-x11-forwarding", "no-user-rc",
})
"""authorized_keys options this server honours (forwarding is always off here, so those are no-ops).
Any other option (`command=`, `environment=`, `permitopen=`, `cert-authority`…) refuses the key."""

_EXPIRY = re.compile(r"(\d{8})(\d{4})?(\d{2})?(Z?)", re.IGNORECASE)


def parse_expiry(value: str) -> float | None:
    """`expiry-time="YYYYMMDD[HHMM[SS]][Z]"` as a Unix time (local time unless Z, like OpenSSH)."""
    match = _EXPIRY.fullmatch(value.strip())
    if match is None:
        return None
    day, hour_minute, seconds, utc = match.groups()
    try:
        moment = time.strptime(day + (hour_minute or "0000") + (seconds or "00"), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return float(calendar.timegm(moment)) if utc else time.mktime(moment)


@dataclass(frozen=True)
class KeyEntry:
    """One usable line of an authorized_keys file: the key and its options."""

    keys: asyncssh.SSHAuthorizedKeys
    options: Mapping[str, object]
    expires_at: float | None
    where: str

    @property
    def no_pty(self) -> bool:
        return "no-pty" in self.options or ("restrict" in self.options and "pty" not in self.options)


class AllowedKeys:
    """The keys one SSH user may log in with, once the file passed the checks."""

    def __init__(self, entries: list[KeyEntry], ssh_user: str) -> None:
        self.entries = entries
        self.ssh_user = ssh_user

    def match(self, key: asyncssh.SSHKey, client_host: str, client_addr: str) -> KeyEntry | None:
        """The entry that lets `key` in from this address now (`from=` and `expiry-time` honoured)."""
        for entry in self.entries:
            if entry.keys.validate(key, client_host, client_addr) is None:
                continue
            if entry.expires_at is not None and time.time() >= entry.expires_at:
                log.warning("Clé refusée pour %s : expirée (expiry-time) — %s", self.ssh_user, entry.where)
                continue
            return entry
        return None

    def validate(self, key: asyncssh.SSHKey, client_host: str, client_addr: str) -> Mapping[str, object] | None:
        entry = self.match(key, client_host, client_addr)
        return None if entry is None else entry.options


class AuthorizedKeys:
    """OpenSSH authorized_keys: one file valid for every SSH user, or a folder with one file per user.

    Files are re-read and checked at each login, so adding or removing a key needs no restart; a file
    (or folder) writable by the group or others, or not owned by root or this server's account, is
    refused then (like sshd's StrictModes), with the reason in the log.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def check(self) -> None:
        """Refuse to start on a missing or world-writable file (like sshd's StrictModes)."""
        if not self.path.exists():
            raise ConfigError(
                f"Fichier des clés autorisées introuvable : {self.path} (format OpenSSH authorized_keys, "
                "ou un dossier contenant un fichier par utilisateur SSH)."
            )
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o022:
            raise ConfigError(
                f"{self.path} est modifiable par d'autres comptes (droits {mode:o}) : faites « chmod go-w {self.path} »."
            )

    @staticmethod
    def unsafe(path: Path) -> str:
        """Why `path` must not be trusted (writable by others, foreign owner), or ""."""
        info = path.stat()
        if info.st_mode & 0o022:
            return f"{path} est modifiable par d'autres comptes (droits {info.st_mode & 0o777:o})"
        if info.st_uid not in (0, os.geteuid()):
            return f"{path} appartient à un autre compte (uid {info.st_uid})"
        return ""

    def for_user(self, ssh_user: str) -> AllowedKeys | None:
        if not valid_ssh_user(ssh_user):
            return None
        file = self.path / ssh_user if self.path.is_dir() else self.path
        try:
            for checked in ((self.path, file) if file != self.path else (file,)):
                reason = self.unsafe(checked)
                if reason:
                    log.warning("Connexion refusée pour %s : %s.", ssh_user, reason)
                    return None
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{file}:{number}"
            try:
                keys = asyncssh.import_authorized_keys(line)
            except (ValueError, asyncssh.KeyImportError) as exc:
                log.warning("Ligne ignorée (%s) : clé illisible (%s).", where, exc)
                continue
            options = self._options(keys)
            unknown = sorted(name for name in options if name.lower() not in SUPPORTED_KEY_OPTIONS)
            if unknown:
                log.warning("Clé refusée (%s) : option non prise en charge : %s.", where, ", ".join(unknown))
                continue
            expires_at = None
            if "expiry-time" in options:
                values = options["expiry-time"]
                value = str(values[0] if isinstance(values, list) and values else values)
                expires_at = parse_expiry(value)
                if expires_at is None:
                    log.warning("Clé refusée (%s) : expiry-time illisible (%s).", where, value)
                    continue
            entries.append(KeyEntry(keys, options, expires_at, where))
        return AllowedKeys(entries, ssh_user)

    @staticmethod
    def _options(keys: asyncssh.SSHAuthorizedKeys) -> Mapping[str, object]:
        """The options of the single entry of a one-line authorized keys list."""
        entries = [*keys._user_entries, *keys._ca_entries, *keys._x509_entries]  # noqa: SLF001
        options: dict[str, object] = {}
        for entry in entries:
            options.update(entry.options)
        if keys._ca_entries or keys._x509_entries:  # noqa: SLF001 - certificates are not supported
            options.setdefault("cert-authority", True)
        return options


# -- spawning the app in a pty -----------------------------------------------------------------
_CHILD_DEFAULT_SIGNALS = [
    signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ,
    signal.SIGCHLD, signal.SIGWINCH, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU,
]


def set_window_size(fd: int, columns: int, rows: int, pixel_width: int = 0, pixel_height: int = 0) -> None:
    """TIOCSWINSZ on a pty: the kernel then sends SIGWINCH to the app's foreground group."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, pixel_width, pixel_height))


Limits = Sequence[tuple[int, int, int]]
"""(resource, soft, hard) for `resource.setrlimit` in each app process."""


def session_limits(options: ServeOptions) -> list[tuple[int, int, int]]:
    """RLIMIT_AS, RLIMIT_NOFILE and RLIMIT_NPROC of an app process, never above the server's own hard limits."""
    limits = []
    for which, value in ((resource.RLIMIT_AS, options.limit_memory_bytes),
                         (resource.RLIMIT_NOFILE, options.limit_open_files),
                         (resource.RLIMIT_NPROC, options.limit_processes)):
        if value <= 0:
            continue
        _soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        limits.append((which, value, value))
    return limits


def apply_limits(limits: Limits) -> None:
    """In a new app process, before it runs anything."""
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


def spawn_in_pty(argv: Sequence[str], env: Mapping[str, str], columns: int, rows: int,
                 pixel_width: int = 0, pixel_height: int = 0, limits: Limits = ()) -> tuple[int, int]:
    """Start `argv` in a new session whose controlling terminal is a new pty; returns (pid, master fd).

    The child calls `os.login_tty` (setsid, TIOCSCTTY, the slave on stdin/stdout/stderr) and
    `execve` at once. Signals are blocked across the fork so no Python handler of the server runs
    in the child, and the child starts with default dispositions and an empty mask.
    """
    program = os.fsencode(argv[0])
    args = [os.fsencode(a) for a in argv]
    envb = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    master, slave = os.openpty()
    try:
        set_window_size(slave, columns, rows, pixel_width, pixel_height)
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child only lives until execve
                try:
                    os.close(master)
                    os.login_tty(slave)
                    apply_limits(limits)
                    for signum in _CHILD_DEFAULT_SIGNALS:
                        signal.signal(signum, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_SETMASK, [])
                    os.execve(program, args, envb)
                except BaseException:
                    os.write(2, b"cpf-tui ssh-serve : impossible de lancer l'application.\r\n")
                finally:
                    os._exit(127)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return pid, master


# -- the pre-loaded launcher ------------------------------------------------------------------------
class Zygote:
    """Client side of `cpf_tui.ssh_zygote`: the application imported once, one fork per session.

    The launcher is the parent of the apps: it reaps them and reports their exit codes here.
    """

    def __init__(self, args: list[str], env: Mapping[str, str]) -> None:
        self.args = args
        self.env = dict(env)
        self.sock: socket.socket | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[int]] = {}
        self.sessions: dict[int, SessionHandler] = {}
        self.early_exits: dict[int, int] = {}
        self.alive = False

    async def start(self, timeout: float = 120.0) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**self.env, "PYTHONUTF8": "1"}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cpf_tui.ssh_zygote", str(theirs.fileno())], pass_fds=[theirs.fileno()],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )
        theirs.close()
        ours.setblocking(False)
        self.sock = ours
        try:
            ready = json.loads(await asyncio.wait_for(loop.sock_recv(ours, 65536), timeout))
        except (TimeoutError, ValueError, OSError) as exc:
            self.close()
            raise ConfigError(f"Le lanceur préchargé n'a pas démarré ({exc or 'délai dépassé'}).") from None
        if ready.get("missing"):
            log.warning("Modules non préchargés : %s", ", ".join(ready["missing"]))
        loop.add_reader(ours, self._on_message)
        self.alive = True
        log.info("Lanceur préchargé prêt (pid %s) ; fusion des pages identiques du noyau (KSM) : %s ; %s.",
                 self.process.pid, MERGING_STATES.get(ready.get("merging", ""), "inconnue"),
                 immortal_state(ready.get("immortal", 0)))

    def spawn(self, env: Mapping[str, str], slave: int, limits: Limits = ()) -> asyncio.Future[int]:
        """Ask for one app on `slave`; the future gives its pid (the slave can be closed on return)."""
        assert self.sock is not None
        request_id = next(self.ids)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        message = json.dumps({"id": request_id, "args": self.args, "env": dict(env), "cwd": os.getcwd(),
                              "limits": [list(limit) for limit in limits]})
        socket.send_fds(self.sock, [message.encode()], [slave])
        self.pending[request_id] = future
        return future

    def watch(self, pid: int, session: SessionHandler) -> None:
        """Tell `session` when `pid` ends (at once if it already has)."""
        if pid in self.early_exits:
            session.app_finished(self.early_exits.pop(pid))
        else:
            self.sessions[pid] = session

    def _on_message(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        message = json.loads(data)
        if "exit" in message:
            session = self.sessions.pop(message["exit"], None)
            if session is None:
                self.early_exits[message["exit"]] = message["code"]
            else:
                session.app_finished(message["code"])
            return
        future = self.pending.pop(message["id"], None)
        if future is not None and not future.done():
            if "error" in message:
                future.set_exception(OSError(message["error"]))
            else:
                future.set_result(message["pid"])

    def _lost(self) -> None:
        """The launcher died: new sessions start the app directly; running ones are ended."""
        log.error("Le lanceur préchargé s'est arrêté : les nouvelles sessions lancent l'application directement.")
        self.close()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(OSError("lanceur arrêté"))
        self.pending.clear()
        orphans = [session.pid for session in self.sessions.values() if session.pid]
        for pid, session in list(self.sessions.items()):
            session.hang_up(signal.SIGHUP)
            session.app_finished(-signal.SIGHUP)
        self.sessions.clear()
        # The launcher's children now belong to this server (child subreaper): reap them, no zombies.
        asyncio.get_running_loop().create_task(reap_orphans(orphans))

    def close(self) -> None:
        self.alive = False
        if self.sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.sock)
            except RuntimeError:
                pass
            self.sock.close()
            self.sock = None
        if self.process is not None:
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- server state --------------------------------------------------------------------------------
class Registry:
    """State shared by every connection: counters, running apps, quotas, the options."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.authorized = AuthorizedKeys(options.authorized_keys)
        self.open_sessions = 0
        self.apps: set[SessionHandler] = set()
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.quotas: dict[str, DropQuota] = {}
        self.budgets: dict[str, HandleBudget] = {}
        self.user_sessions: dict[str, int] = {}
        self.limits = session_limits(options)
        self.zygote: Zygote | None = None
        self.all_apps_gone = asyncio.Event()
        self.all_apps_gone.set()

    def quota_for(self, ssh_user: str, folder: Path) -> DropQuota:
        quota = self.quotas.get(ssh_user)
        if quota is None:
            quota = self.quotas[ssh_user] = DropQuota(folder, self.options.drop_quota_bytes,
                                                      self.options.drop_max_entries)
        return quota

    def budget_for(self, ssh_user: str) -> HandleBudget:
        """Open SFTP handles of one SSH user, shared by all of that user's sessions."""
        budget = self.budgets.get(ssh_user)
        if budget is None:
            budget = self.budgets[ssh_user] = HandleBudget(self.options.sftp_handles_per_user)
        return budget

    def app_started(self, session: SessionHandler) -> None:
        self.apps.add(session)
        self.all_apps_gone.clear()

    def app_ended(self, session: SessionHandler) -> None:
        self.apps.discard(session)
        if not self.apps:
            self.all_apps_gone.set()


class CpfSSHServer(asyncssh.SSHServer):
    """One SSH connection: public-key authentication against the authorized keys, session caps."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = ""
        self.peer_host = ""
        self.ssh_user = ""
        self.key_fingerprint = ""
        self.key_entry = None
        self.authenticated = False
        self.sessions = 0

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.registry.connections.add(conn)
        peer = conn.get_extra_info("peername") or ("", 0)
        self.peer_host = str(peer[0])
        self.peer = f"{peer[0]}:{peer[1]}"

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.registry.connections.discard(self.conn)
        if not self.authenticated:
            log.info("Connexion refusée : utilisateur=%s adresse=%s (authentification non aboutie)",
                     self.ssh_user or "-", self.peer)

    def begin_auth(self, username: str) -> bool:
        # A name that cannot be an SSH user is kept written out: it reaches the log inert, and never
        # matches a key file or a drop folder (a backslash is not allowed in either).
        self.ssh_user = username if valid_ssh_user(username) else display(username)[:64]
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Accept a key listed for this user; remember its fingerprint (the last one checked signs)."""
        keys = self.registry.authorized.for_user(username)
        entry = None if keys is None else keys.match(key, self.peer_host, self.peer_host)
        if entry is None:
            return False
        self.key_fingerprint = key.get_fingerprint("sha256")
        self.key_entry = entry
        return True

    def auth_completed(self) -> None:
        self.authenticated = True

    def session_requested(self) -> SessionHandler:
        options = self.registry.options
        if self.sessions >= options.max_per_connection:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f"Trop de sessions sur cette connexion ({options.max_per_connection} au plus).",
            )
        if self.registry.open_sessions >= options.max_sessions:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f"Trop de sessions ouvertes sur ce serveur ({options.max_sessions} au plus) : réessayez plus tard.",
            )
        mine = self.registry.user_sessions.get(self.ssh_user, 0)
        if mine >= options.max_per_user:
            log.warning("Session refusée : utilisateur=%s adresse=%s (%s sessions ouvertes au plus par utilisateur)",
                        self.ssh_user, self.peer, options.max_per_user)
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f"Trop de sessions ouvertes pour cet utilisateur ({options.max_per_user} au plus).",
            )
        self.sessions += 1
        self.registry.open_sessions += 1
        self.registry.user_sessions[self.ssh_user] = mine + 1
        return SessionHandler(self)

    def session_closed(self) -> None:
        self.sessions -= 1
        self.registry.open_sessions -= 1
        left = self.registry.user_sessions.get(self.ssh_user, 1) - 1
        if left > 0:
            self.registry.user_sessions[self.ssh_user] = left
        else:
            self.registry.user_sessions.pop(self.ssh_user, None)


class SessionHandler(SSHServerStreamSession):
    """One session channel: the app in a pty (shell or exec request with a terminal) or SFTP."""

    def __init__(self, server: CpfSSHServer) -> None:
        super().__init__(None, self._make_sftp_server, 3, False)
        self.server = server
        self.registry = server.registry
        self.loop = asyncio.get_running_loop()
        self.kind = ""
        self.term = ""
        self.size = (80, 24, 0, 0)
        self.has_pty = False
        self.started_at = time.monotonic()
        self.channel_open = True
        self.closed_logged = False
        self.outcome = ""
        self.drop_folder: Path | None = None
        # the app process
        self.pid = 0
        self.master: int | None = None
        self.pidfd: int | None = None
        self.reading = False
        self.exited = False
        self.kill_timer: asyncio.TimerHandle | None = None
        self.input = bytearray()
        self.writer_added = False
        self.channel_reading_paused = False

    # -- requests -------------------------------------------------------------------------
    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes) -> bool:
        columns, rows, pixel_width, pixel_height = term_size
        entry = self.server.key_entry
        if entry is not None and entry.no_pty:
            log.warning("Terminal refusé : utilisateur=%s (clé limitée par no-pty ou restrict) — %s",
                        self.server.ssh_user, entry.where)
            return False
        self.has_pty = True
        self.term = term_type
        self.size = (columns or 80, rows or 24, pixel_width, pixel_height)
        return True

    def shell_requested(self) -> bool:
        self.kind = "app"
        return True

    def exec_requested(self, command: str) -> bool:
        # Like OpenSSH's ForceCommand: the command asked for is ignored, the app is run.
        self.kind = "app"
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem == "sftp":
            self.kind = "sftp"
            return True
        return False

    def _user_folder(self) -> Path:
        if self.drop_folder is None:
            self.drop_folder = ensure_user_folder(self.registry.options.drop_root, self.server.ssh_user)
        return self.drop_folder

    def _make_sftp_server(self, chan) -> DropSFTPServer:
        folder = self._user_folder()
        options = self.registry.options
        return DropSFTPServer(chan, folder, self.registry.quota_for(self.server.ssh_user, folder),
                              self.registry.budget_for(self.server.ssh_user), options.sftp_handles_per_session)

    def session_started(self) -> None:
        if self.kind == "sftp":
            super().session_started()
            return
        if not self.has_pty:
            self.outcome = "refusée (pas de terminal)"
            self._chan.write_stderr(NEEDS_TERMINAL.encode("utf-8"))
            self._chan.exit(2)
            return
        try:
            self._start_app()
        except OSError as exc:
            log.error("Impossible de lancer l'application pour %s : %s", self.server.ssh_user, exc)
            self.outcome = "échec du lancement"
            self._chan.write_stderr("Impossible de lancer l'application : réessayez plus tard.\r\n".encode())
            self._chan.exit(1)

    def _start_app(self) -> None:
        options = self.registry.options
        folder = self._user_folder()
        env = session_environment(
            term=self.term,
            server_env=options.server_env,
            client_env=self._chan.get_environment(),
            ssh_user=self.server.ssh_user,
            key_fingerprint=self.server.key_fingerprint,
            peer=self.server.peer,
            drop_dir=str(folder),
        )
        columns, rows, pixel_width, pixel_height = self.size
        zygote = self.registry.zygote
        if zygote is not None and zygote.alive:
            master, slave = os.openpty()
            try:
                set_window_size(slave, columns, rows, pixel_width, pixel_height)
                future = zygote.spawn(env, slave, self.registry.limits)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            self.master = master
            self._start_reading()
            self.registry.app_started(self)
            self.loop.create_task(self._wait_for_pid(zygote, future))
            return
        self.pid, self.master = spawn_in_pty(options.app_command, env, columns, rows, pixel_width, pixel_height,
                                             self.registry.limits)
        self.pidfd = os.pidfd_open(self.pid)
        self.loop.add_reader(self.pidfd, self._on_app_exit)
        self._start_reading()
        self.registry.app_started(self)

    async def _wait_for_pid(self, zygote: Zygote, future: asyncio.Future[int]) -> None:
        try:
            self.pid = await future
        except OSError as exc:
            log.error("Impossible de lancer l'application pour %s : %s", self.server.ssh_user, exc)
            self.app_finished(1)
            return
        zygote.watch(self.pid, self)
        if not self.channel_open and not self.exited:
            self.hang_up(signal.SIGHUP)  # the client left while the app was starting

    # -- app output -> client -----------------------------------------------------------------
    def _start_reading(self) -> None:
        if self.master is not None and not self.reading:
            self.loop.add_reader(self.master, self._on_output)
            self.reading = True

    def _stop_reading(self) -> None:
        if self.master is not None and self.reading:
            self.loop.remove_reader(self.master)
            self.reading = False

    def _read_master(self) -> bytes | None:
        """Bytes waiting on the master; b"" when none now; None when every slave end is closed."""
        assert self.master is not None
        try:
            data = os.read(self.master, READ_CHUNK)
        except BlockingIOError:
            return b""
        except OSError:  # EIO: the app and all its children closed the terminal
            return None
        return data or None

    def _send(self, data: bytes) -> None:
        if self.channel_open:
            try:
                self._chan.write(data)
            except (BrokenPipeError, OSError):
                self.channel_open = False

    def _on_output(self) -> None:
        data = self._read_master()
        if data is None:
            self._stop_reading()
        elif data:
            self._send(data)

    def pause_writing(self) -> None:
        if self.kind != "app":
            super().pause_writing()
            return
        # The client is slow: stop reading the pty, the app's writes then block on a full terminal.
        self._stop_reading()

    def resume_writing(self) -> None:
        if self.kind != "app":
            super().resume_writing()
            return
        self._start_reading()

    # -- client input -> app ----------------------------------------------------------------
    def data_received(self, data: bytes, datatype) -> None:
        if self.kind != "app":
            super().data_received(data, datatype)
            return
        if self.master is None:
            return
        self.input += data
        self._flush_input()

    def _flush_input(self) -> None:
        while self.input and self.master is not None:
            try:
                written = os.write(self.master, self.input)
            except BlockingIOError:
                break
            except OSError:
                self.input.clear()
                break
            del self.input[:written]
        if self.master is None:
            return
        if self.input and not self.writer_added:
            self.loop.add_writer(self.master, self._flush_input)
            self.writer_added = True
        elif not self.input and self.writer_added:
            self.loop.remove_writer(self.master)
            self.writer_added = False
        if len(self.input) > INPUT_HIGH_WATER and not self.channel_reading_paused:
            self._chan.pause_reading()
            self.channel_reading_paused = True
        elif len(self.input) < INPUT_LOW_WATER and self.channel_reading_paused:
            self._chan.resume_reading()
            self.channel_reading_paused = False

    def eof_received(self) -> bool:
        if self.kind != "app":
            return super().eof_received()
        return True  # the terminal stays: the app ends by itself or when the client leaves

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self.kind == "app" and self.master is not None:
            self.size = (width or 80, height or 24, pixwidth, pixheight)
            set_window_size(self.master, *self.size)
        elif self.kind == "sftp":
            super().terminal_size_changed(width, height, pixwidth, pixheight)

    def break_received(self, msec: int) -> bool:
        return False if self.kind == "app" else super().break_received(msec)

    def signal_received(self, signal_name: str) -> None:
        if self.kind != "app":
            super().signal_received(signal_name)

    # -- end of the app ---------------------------------------------------------------------
    def hang_up(self, signum: int = signal.SIGHUP) -> None:
        """Ask the app's process group to end; SIGKILL follows after the grace delay."""
        if not self.pid or self.exited:
            return
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            return
        if self.kill_timer is None:
            self.kill_timer = self.loop.call_later(HANGUP_GRACE_SECONDS, self._kill)

    def _kill(self) -> None:
        if self.pid and not self.exited:
            log.warning("L'application de %s (pid %s) ne s'est pas arrêtée : SIGKILL.", self.server.ssh_user, self.pid)
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _on_app_exit(self) -> None:
        """The pidfd of a direct child became readable: reap it."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == 0:
            return
        assert self.pidfd is not None
        self.loop.remove_reader(self.pidfd)
        os.close(self.pidfd)
        self.pidfd = None
        self.app_finished(os.waitstatus_to_exitcode(status))

    def app_finished(self, code: int) -> None:
        """The app ended with `code` (negative: killed by that signal): forward its last output and status."""
        if self.exited:
            return
        self.exited = True
        if self.kill_timer is not None:
            self.kill_timer.cancel()
        # Whatever the app wrote last is still in the pty: forward it before the exit status.
        if self.master is not None:
            self._stop_reading()
            while (data := self._read_master()):
                self._send(data)
            if self.writer_added:
                self.loop.remove_writer(self.master)
            os.close(self.master)
            self.master = None
        self.registry.app_ended(self)
        if code >= 0:
            self.outcome = f"statut {code}"
        else:
            self.outcome = f"signal {signal.Signals(-code).name}"
        if self.channel_open:
            if code != 0:
                self._send(TERM_RESET)
            try:
                if code >= 0:
                    self._chan.exit(code)
                else:
                    name = signal.Signals(-code).name.removeprefix("SIG")
                    self._chan.exit_with_signal(name, False, f"L'application s'est arrêtée (signal {name}).\r\n")
            except OSError:
                pass
        self._log_end()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.channel_open = False
        self.server.session_closed()
        if self.kind == "app" and self.master is not None and not self.exited:
            # The client went away: keep draining the pty so the app never blocks, and hang it up.
            self._start_reading()
            self.hang_up(signal.SIGHUP)
            return
        if not self.outcome:
            self.outcome = "fin du transfert" if self.kind == "sftp" else "fermée"
        self._log_end()

    def _log_end(self) -> None:
        if self.closed_logged:
            return
        self.closed_logged = True
        kind = {"app": "application", "sftp": "sftp"}.get(self.kind, "aucun")
        log.info(
            "Session : utilisateur=%s empreinte=%s adresse=%s type=%s durée=%.1fs fin=%s",
            self.server.ssh_user, self.server.key_fingerprint or "-", self.server.peer, kind,
            time.monotonic() - self.started_at, self.outcome or "-",
        )


# -- running -----------------------------------------------------------------------------------
def become_child_subreaper() -> bool:
    """Adopt the orphans of our children (apps of a dead launcher), so this server can reap them."""
    import ctypes

    pr_set_child_subreaper = 36
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


async def reap_orphans(pids: list[int], grace: float = HANGUP_GRACE_SECONDS) -> None:
    """Collect adopted processes that got SIGHUP: SIGKILL after `grace` seconds, then reap them."""
    loop = asyncio.get_running_loop()
    remaining = set(pids)
    killed = False
    deadline = loop.time() + grace
    while remaining:
        for pid in list(remaining):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                remaining.discard(pid)  # not ours (no subreaper) or already collected
                continue
            if done:
                remaining.discard(pid)
        if not remaining:
            return
        if loop.time() >= deadline:
            if killed:
                return
            for pid in remaining:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed = True
            deadline = loop.time() + 2.0
        await asyncio.sleep(0.1)


async def serve(options: ServeOptions, *, stop: asyncio.Event | None = None) -> int:
    """Listen until SIGTERM/SIGINT (or `stop`), then end every app cleanly and return 0."""
    AuthorizedKeys(options.authorized_keys).check()
    host_key = load_or_create_host_key(options.host_key)
    options.drop_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    registry = Registry(options)
    become_child_subreaper()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        acceptor = await asyncssh.listen(
            options.host,
            options.port,
            server_factory=lambda: CpfSSHServer(registry),
            server_host_keys=[host_key],
            encoding=None,
            line_editor=False,
            password_auth=False,
            kbdint_auth=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            login_timeout=options.login_timeout,
            keepalive_interval=options.keepalive_interval,
            keepalive_count_max=3,
        )
    except OSError as exc:
        reasons = {
            errno.EADDRINUSE: "le port est déjà utilisé",
            errno.EACCES: "permission refusée (port inférieur à 1024 ?)",
            errno.EADDRNOTAVAIL: "cette adresse n'appartient pas à la machine",
        }
        reason = reasons.get(exc.errno or 0, str(exc))
        raise ConfigError(f"Impossible d'écouter sur {options.host}:{options.port} : {reason}.") from None
    if options.preload_args is not None:
        zygote = Zygote(options.preload_args, options.server_env)
        try:
            await zygote.start()
        except ConfigError:
            acceptor.close()
            raise
        registry.zygote = zygote
    log.info("Serveur SSH cpf-tui en écoute sur %s:%s (clé d'hôte %s, au plus %s sessions)",
             options.host, acceptor.get_port(), host_key.get_fingerprint("sha256"), options.max_sessions)
    try:
        await stop.wait()
    finally:
        log.info("Arrêt du serveur SSH : fin des %s sessions en cours.", len(registry.apps))
        acceptor.close()
        for session in list(registry.apps):
            session.hang_up(signal.SIGTERM)
        try:
            await asyncio.wait_for(registry.all_apps_gone.wait(), HANGUP_GRACE_SECONDS + 2)
        except TimeoutError:
            log.error("Des applications n'ont pas pu être arrêtées : %s", [s.pid for s in registry.apps])
        for conn in list(registry.connections):
            conn.close()
        await acceptor.wait_closed()
        if registry.zygote is not None:
            registry.zygote.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("Serveur SSH arrêté.")
    return 0


def configure_logging(log_file: str | None) -> None:
    """Session lines go to `log_file` (appended) or to stderr; asyncssh's own chatter is kept quiet."""
    handler: logging.Handler
    handler = logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
