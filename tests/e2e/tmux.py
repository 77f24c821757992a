"""Drive the real `cpf-tui` in a tmux session (80x24) like a person would: keys in, screen text out."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")

requires_tmux = pytest.mark.skipif(TMUX is None, reason="tmux n'est pas installé : tests en terminal réel ignorés")


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

    def alternate_on(self) -> bool:
        out = self._tmux("display-message", "-p", "-t", self.session, "#{alternate_on}").stdout.strip()
        return out == "1"

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
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
        self._tmux("kill-server", check=False)


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment for the app under test (no inherited CPF_TUI_* settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPF_TUI_")}
    env.update({"TERM": "xterm-256color", "CPF_TUI_DATA_DIR": str(tmp_path / "data"), "LANG": "C.UTF-8"})
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(extra)
    return env
