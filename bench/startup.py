"""Start-up time: process start → login screen drawn, against a minimal Textual app measured the same way.

Both programs run in a pseudo-terminal of 80x24 (`pty.fork`), alternately, several times. Each writes
the wall-clock time into a marker file from `call_after_refresh` once its first screen is drawn
(cpf-tui: `CPF_TUI_READY_FILE`, see screens/login.py). The figure is marker time − time just before
the fork. Prints the medians and their ratio (goal: ≤ 1.3).

Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

GOAL = 1.3
TIMEOUT_SECONDS = 30.0

MINIMAL_APP = r"""
import os, sys, time
from textual.app import App
from textual.widgets import Footer, Header, Input


class Minimal(App):
    def compose(self):
        yield Header()
        yield Input(placeholder="Identifiant")
        yield Input(password=True)
        yield Footer()

    def on_mount(self):
        self.call_after_refresh(self.ready)

    def ready(self):
        with open(os.environ["CPF_TUI_READY_FILE"], "w") as marker:
            marker.write(repr(time.time()))


Minimal().run()
"""


def measure(argv: list[str], env: dict[str, str], marker: Path) -> float:
    """Seconds from just before the fork to the marker written by the child's first frame."""
    marker.unlink(missing_ok=True)
    env = {**env, "CPF_TUI_READY_FILE": str(marker)}
    start = time.time()
    pid, fd = pty.fork()
    if pid == 0:  # child: becomes the program, in the pseudo-terminal
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        deadline = start + TIMEOUT_SECONDS
        while time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.005)
            if ready:
                try:
                    os.read(fd, 65536)  # keep the terminal flowing
                except OSError:
                    break
            if marker.exists() and marker.stat().st_size:
                return float(marker.read_text()) - start
        raise RuntimeError(f"no first frame within {TIMEOUT_SECONDS:.0f} s: {' '.join(argv)}")
    finally:
        os.kill(pid, signal.SIGTERM)
        end_by = time.time() + 5
        while time.time() < end_by:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:
                if select.select([fd], [], [], 0.01)[0]:
                    os.read(fd, 65536)
            except OSError:
                time.sleep(0.01)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser(description="Start-up time of cpf-tui against a minimal Textual app.")
    parser.add_argument("--runs", type=int, default=7, help="runs per program (default 7)")
    args = parser.parse_args()

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="cpf-bench-") as folder:
        work = Path(folder)
        env = {key: value for key, value in os.environ.items() if not key.startswith("CPF_TUI_")}
        env.update({"TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24", "CPF_TUI_DATA_DIR": str(work)})
        # A real, migrated database, as an installed system has.
        subprocess.run([python, "-m", "cpf_tui", "init"], env=env, check=True, capture_output=True)
        minimal_script = work / "minimal_app.py"
        minimal_script.write_text(MINIMAL_APP, encoding="utf-8")
        programs = {
            "cpf-tui": [python, "-m", "cpf_tui"],
            "minimal": [python, str(minimal_script)],
        }
        # One warm-up each so that both start with the same file-system cache.
        for argv in programs.values():
            measure(argv, env, work / "ready")
        timings: dict[str, list[float]] = {name: [] for name in programs}
        for _ in range(args.runs):
            for name, argv in programs.items():
                timings[name].append(measure(argv, env, work / "ready"))

    medians = {name: statistics.median(values) for name, values in timings.items()}
    ratio = medians["cpf-tui"] / medians["minimal"]
    for name, values in timings.items():
        shown = " ".join(f"{v * 1000:.0f}" for v in values)
        print(f"{name:8s} median {medians[name] * 1000:6.0f} ms   runs (ms): {shown}")
    verdict = "OK" if ratio <= GOAL else "AU-DESSUS DE L'OBJECTIF"
    print(f"ratio cpf-tui / minimal: {ratio:.2f} (objectif ≤ {GOAL}) — {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
