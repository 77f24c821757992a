"""The tmux helper leaves no process behind, even one that ignores the hangup (as a stuck app would)."""

from __future__ import annotations

import sys
import time

from tests.e2e.tmux import TmuxTerminal, _alive, app_env, requires_tmux

STUBBORN = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "print('PRET', flush=True)\n"
    "while True:\n"
    "    time.sleep(0.1)\n"
)


@requires_tmux
def test_close_ends_a_program_that_ignores_the_hangup(tmp_path):
    pid_file = tmp_path / "pid"
    term = TmuxTerminal([sys.executable, "-c", STUBBORN, str(pid_file)], env=app_env(tmp_path), cwd=tmp_path)
    term.start()
    try:
        term.wait_for("PRET")
        pid = int(pid_file.read_text())
        assert _alive(pid)
    finally:
        started = time.monotonic()
        term.close()
    assert not _alive(pid), f"le processus {pid} a survécu à close()"
    assert time.monotonic() - started < 15
