"""Drive the real `cpf-tui` in a tmux session (80x24) like a person would: keys in, screen text out."""

from __future__ import annotations

import fcntl
import os
import select
import shlex
import signal
import struct
import shutil
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.vt import VirtualScreen

TMUX = shutil.which("tmux")

requires_tmux = pytest.mark.skipif(TMUX is None, reason="tmux n'est pas installé : tests en terminal réel ignorés")


EXIT_SETTLE_SECONDS = 1.0
"""How long the screen is looked at again once the program has ended (its last output may still come)."""


class TmuxTerminal:
    """One private tmux server (own socket) running one command in an 80x24 window."""

    def __init__(self, command: list[str], *, env: dict[str, str], cwd: Path, width: int = 80, height: int = 24):
        self.socket = f"cpf-e2e-{uuid.uuid4().hex[:10]}"
        self.session = "e2e"
        self.command = command
        self.env = env
        self.cwd = cwd
        self.width = width
        self.height = height
        self.exit_file = cwd / f"exit-{self.socket}.txt"

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TMUX or "tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=check, env=self.env, cwd=self.cwd)

    def start(self) -> None:
        # The shell wrapper records the exit code once the app ends; the pane stays for inspection.
        inner = " ".join(shlex.quote(part) for part in self.command)
        script = f"{inner}; echo $? > {shlex.quote(str(self.exit_file))}; sleep 600"
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", str(self.width),
                   "-y", str(self.height), "bash", "-c", script)
        self._tmux("set-option", "-g", "status", "off", check=False)

    def send(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", self.session, key)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session).stdout

    def screen_with_escapes(self) -> str:
        """The visible screen with its colour and attribute escape sequences (`capture-pane -e`)."""
        return self._tmux("capture-pane", "-e", "-p", "-t", self.session).stdout

    def cursor(self) -> tuple[int, int]:
        """Column and row of the terminal cursor (Textual puts it in the focused input)."""
        out = self._tmux("display-message", "-p", "-t", self.session, "#{cursor_x},#{cursor_y}").stdout.strip()
        column, _, row = out.partition(",")
        return int(column), int(row)

    def exited(self) -> bool:
        return self.exit_file.exists() and bool(self.exit_file.read_text().strip())

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Poll `predicate` until it holds; fail with the screen when the time is up or the app ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.exited():
                if self._holds_after_exit(predicate):
                    return
                raise AssertionError(f"L'application s'est terminée avant : {what}. Écran :\n{self.screen()}")
            time.sleep(0.1)
        raise AssertionError(f"Délai dépassé : {what}. Écran :\n{self.screen()}")

    def _holds_after_exit(self, predicate: Callable[[], bool]) -> bool:
        """Whether `predicate` holds once the pane has shown everything the ended program wrote.

        A program may write its last lines and end between two looks at the screen, and tmux may draw
        those lines after the exit file appears: look again for EXIT_SETTLE_SECONDS before failing.
        """
        end = time.monotonic() + EXIT_SETTLE_SECONDS
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.1)
        return predicate()

    def wait_gone(self, text: str, timeout: float = 20.0) -> str:
        self.wait_until(lambda: text not in self.screen(), f"« {text} » devait disparaître", timeout)
        return self.screen()

    def row_of(self, text: str) -> int:
        """First screen row containing `text` (-1 when absent)."""
        for row, line in enumerate(self.screen().splitlines()):
            if text in line:
                return row
        return -1

    def wait_cursor_below(self, label: str, *, within: int = 2, timeout: float = 20.0) -> None:
        """Wait until the cursor (the focused input) sits 1..`within` rows below `label`, twice in a row.

        Textual moves the cursor while it draws, hence the second look.
        """
        self._wait_cursor(label, 1, within, timeout)

    def wait_cursor_on(self, label: str, *, timeout: float = 20.0) -> None:
        """Wait until the cursor is on the row of `label` (a compact input right of its label)."""
        self._wait_cursor(label, 0, 0, timeout)

    def _wait_cursor(self, label: str, first: int, last: int, timeout: float) -> None:
        def there() -> bool:
            row = self.row_of(label)
            if row < 0:
                return False
            for _ in range(2):
                if not row + first <= self.cursor()[1] <= row + last:
                    return False
                time.sleep(0.05)
            return True

        self.wait_until(there, f"le curseur devait passer dans le champ « {label} »", timeout)

    def alternate_on(self) -> bool:
        out = self._tmux("display-message", "-p", "-t", self.session, "#{alternate_on}").stdout.strip()
        return out == "1"

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """Poll the screen until `text` shows; fail at once (with the screen) if the app ended."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            if self.exited():
                if self._holds_after_exit(lambda: text in self.screen()):
                    return self.screen()
                screen = self.screen()
                break
            time.sleep(0.1)
        raise AssertionError(f"« {text} » n'est pas apparu à l'écran. Écran :\n{screen}")

    def wait_exit(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text().strip())
            time.sleep(0.1)
        raise AssertionError(f"L'application ne s'est pas terminée. Écran :\n{self.screen()}")

    def close(self) -> None:
        """End the tmux server and every process of its pane, even an app that ignores the hangup.

        The app is not our child (tmux's), so it is waited for, then killed after a grace delay.
        """
        pane = self._tmux("display-message", "-p", "-t", self.session, "#{pane_pid}", check=False).stdout.strip()
        processes = descendants(int(pane)) + [int(pane)] if pane.isdigit() else []
        self._tmux("kill-server", check=False)
        deadline = time.monotonic() + 5.0
        while any(_alive(pid) for pid in processes) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in processes:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5.0
        while any(_alive(pid) for pid in processes) and time.monotonic() < deadline:
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:].split()[0] != b"Z"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        parents.setdefault(int(stat[stat.rindex(b")") + 2:].split()[1]), []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found.extend(children)
        queue.extend(children)
    return found


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment for the app under test (no inherited CPF_TUI_* settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPF_TUI_")}
    env.update({"TERM": "xterm-256color", "CPF_TUI_DATA_DIR": str(tmp_path / "data"), "LANG": "C.UTF-8"})
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(extra)
    return env


def cpf_tui_command() -> str:
    """The `cpf-tui` script of the running interpreter's environment."""
    script = Path(sys.executable).with_name("cpf-tui")
    return str(script) if script.exists() else (shutil.which("cpf-tui") or "cpf-tui")


_BUILD_FROZEN = """
import asyncio, sys
from datetime import datetime
from pathlib import Path

if sys.argv[2]:
    import tortoise.timezone
    from cpf_tui import clock

    frozen = datetime.fromisoformat(sys.argv[2])
    tortoise.timezone.now = lambda: frozen  # auto_now_add columns (history dates shown on screen)
    clock.set_now(lambda: frozen)
from cpf_tui.services.sandbox import build_sandbox

url = "sqlite://" + sys.argv[1]
asyncio.run(build_sandbox(url))
if sys.argv[3]:
    from cpf_tui.services.exercises import prepare_sample_bulk_file

    asyncio.run(prepare_sample_bulk_file(url, Path(sys.argv[3])))
"""


def build_sandbox_file(path: Path, *, frozen_at: str = "", sample_bulk_dir: Path | None = None) -> Path:
    """Build the training sandbox at `path` in a separate process (no Tortoise state left in pytest).

    `frozen_at` (ISO date-time with offset) fixes "now" while building, so that every date shown is the
    same from one build to the next; `sample_bulk_dir` also receives the sample bulk workbook.
    """
    subprocess.run([sys.executable, "-c", _BUILD_FROZEN, str(path), frozen_at,
                    str(sample_bulk_dir) if sample_bulk_dir else ""],
                   check=True, capture_output=True, timeout=600)
    return path


def copy_sandbox(source: Path, target_dir: Path) -> Path:
    """A private copy of a built sandbox for one test (the app writes to it)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "sandbox.sqlite3"
    shutil.copyfile(source, target)
    return target


class PtySession:
    """One program in a pseudo-terminal (default 80x24): every byte it writes is kept in `output`."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path, width: int = 80, height: int = 24):
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.width = width
        self.height = height
        self.output = bytearray()
        self.screen = VirtualScreen(width, height)
        self.pid = 0
        self.fd = -1
        self.exit_code: int | None = None

    def start(self) -> None:
        import pty

        pid, fd = pty.fork()
        if pid == 0:  # child: size the terminal, then become the program
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", self.height, self.width, 0, 0))
                os.chdir(self.cwd)
                os.execve(self.argv[0], self.argv, self.env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd

    def pump(self, timeout: float = 0.05) -> bool:
        """Read what is available (waiting at most `timeout`); False once the program closed its side."""
        if self.fd < 0:
            return False
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the program ended and the terminal is closed
            chunk = b""
        if not chunk:
            os.close(self.fd)
            self.fd = -1
            return False
        self.output += chunk
        self.screen.feed(chunk)
        return True

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait_for(self, needle: bytes, timeout: float = 30.0, *, start: int = 0) -> int:
        """Read until `needle` appears in the output after offset `start`; its position."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.output.find(needle, start)
            if found >= 0:
                return found
            if not self.pump(0.05):
                break
        tail = bytes(self.output[-2000:]).decode("utf-8", "replace")
        raise AssertionError(f"{needle!r} absent de la sortie du terminal. Fin de la sortie :\n{tail}")

    def wait_for_text(self, text: str, timeout: float = 30.0) -> None:
        """Read until `text` shows on the (emulated) screen; the app writes only the cells that change,
        so a text on screen is not always written in one piece."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.screen.text():
                return
            if not self.pump(0.05):
                break
        raise AssertionError(f"« {text} » absent de l'écran. Écran :\n{self.screen.text()}")

    def wait_quiet(self, quiet: float = 0.5, timeout: float = 30.0) -> None:
        """Read until the program has written nothing for `quiet` seconds (the screen is settled)."""
        deadline = time.monotonic() + timeout
        last_size, last_change = len(self.output), time.monotonic()
        while time.monotonic() < deadline:
            if not self.pump(0.05):
                return
            if len(self.output) != last_size:
                last_size, last_change = len(self.output), time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                return
        raise AssertionError("Le programme n'a pas cessé d'écrire dans le terminal.")

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Read to the end of the output and reap the program; its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.05)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                while self.pump(0.05):
                    pass
                self.exit_code = os.waitstatus_to_exitcode(status)
                self.pid = 0
                return self.exit_code
        raise AssertionError("Le programme ne s'est pas terminé.")

    def close(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = 0
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
