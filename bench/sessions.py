"""Many people on one `ssh-serve`: memory per session and time to the login screen under load.

One server, one SQLite database, sessions opened one after the other through asyncssh (80x24), each
one logged in to its own account and left on its home screen. At each step (10, 25, 50 open
sessions by default) the script measures:
- the resident memory (VmRSS, and PSS from smaps_rollup) of every app process: median and max;
- the server's own resident memory;
- the time from "open a session" to the login screen for a new session while the others stay open
  (several probes, each closed afterwards).
Goals: ≤ 100 MB per session, login screen ≤ 1 s with 50 sessions open. Prints figures and ratios.

The "sans SSH" figure is the same app started straight in a pty under the same load (the baseline).

Usage: .venv/bin/python bench/sessions.py [--steps 10,25,50] [--probes 3] [--no-preload]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpf_tui import db as db_module  # noqa: E402
from tests.factories import DEFAULT_PASSWORD  # noqa: E402
from tests.ssh_harness import SshServer, Terminal, children_of, is_launcher, rss_kib, seed_accounts  # noqa: E402

GOAL_MB_PER_SESSION = 100.0
GOAL_LOGIN_SCREEN_S = 1.0
LOGIN_TITLE = "Connexion à l'espace de gestion CPF"


def pss_kib(pid: int) -> int:
    """Proportional set size (shared pages divided among the processes that map them), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def open_logged_in(server: SshServer, identifier: str) -> tuple[object, Terminal, float]:
    """A new session logged in and on its home screen; returns (connection, terminal, s to login screen)."""
    start = time.perf_counter()
    conn = await server.connect("alice")
    term = await Terminal.open(conn, 80, 24)
    await term.wait_for(LOGIN_TITLE, timeout=120)
    to_login = time.perf_counter() - start
    await term.log_in(identifier, DEFAULT_PASSWORD, timeout=120)
    await term.wait_for("Se déconnecter", timeout=120)
    return conn, term, to_login


async def probe_login_screen(server: SshServer, probes: int, open_sessions: int) -> list[float]:
    """Time to the login screen of new sessions while the others are open (each probe closed after)."""
    times = []
    for _ in range(probes):
        start = time.perf_counter()
        conn = await server.connect("alice")
        term = await Terminal.open(conn, 80, 24)
        await term.wait_for(LOGIN_TITLE, timeout=120)
        times.append(time.perf_counter() - start)
        conn.close()
        await conn.wait_closed()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(server.apps()) > open_sessions:
            await asyncio.sleep(0.05)
    return times


async def probe_direct(probes: int, url: str, base: Path) -> list[float]:
    """The same app started straight in a pty (no SSH), under the same load: the baseline."""
    import os
    import signal

    from cpf_tui.ssh_server import spawn_in_pty

    env = {k: v for k, v in os.environ.items() if not k.startswith("CPF_TUI_") and k not in ("COLUMNS", "LINES")}
    env.update({"TERM": "xterm-256color", "PYTHONUTF8": "1", "CPF_TUI_DB_URL": url,
                "CPF_TUI_DATA_DIR": str(base / "data")})
    marker = LOGIN_TITLE.encode()
    times = []
    for _ in range(probes):
        start = time.perf_counter()
        pid, master = spawn_in_pty([sys.executable, "-m", "cpf_tui"], env, 80, 24)
        output = bytearray()
        loop = asyncio.get_running_loop()
        seen = loop.create_future()

        def readable() -> None:
            try:
                output.extend(os.read(master, 65536))
            except OSError:
                pass
            if marker in output and not seen.done():
                seen.set_result(time.perf_counter() - start)

        loop.add_reader(master, readable)
        try:
            times.append(await asyncio.wait_for(seen, 120))
            os.killpg(pid, signal.SIGHUP)
            await asyncio.to_thread(os.waitpid, pid, 0)
        finally:
            loop.remove_reader(master)
            os.close(master)
    return times


def mb(kib: float) -> float:
    return kib / 1024


async def run(steps: list[int], probes: int, preload: bool) -> int:
    total = max(steps)
    with tempfile.TemporaryDirectory(prefix="cpf-bench-ssh-") as tmp:
        base = Path(tmp)
        url = f"sqlite://{base / 'cpf.sqlite3'}"
        await db_module.migrate(url)
        print(f"Création de {total} comptes…", flush=True)
        identifiers = await asyncio.to_thread(seed_accounts, url, total)
        # Every session is the SSH user alice: lift the per-user cap as well as the total.
        server = SshServer(base, url, extra_args=("--max-sessions", str(total + probes + 5),
                                                  "--max-per-user", str(total + probes + 5),
                                                  "--max-per-connection", "1", *(() if preload else ("--no-preload",))))
        await asyncio.to_thread(server.start)
        idle_server_mb = mb(rss_kib(server.pid))
        launchers = [pid for pid in children_of(server.pid) if is_launcher(pid)]
        launcher_mb = mb(rss_kib(launchers[0])) if launchers else 0.0
        mode = f"lanceur préchargé ({launcher_mb:.1f} Mo)" if launchers else "un nouveau Python par session"
        print(f"Serveur : {idle_server_mb:.1f} Mo au repos (VmRSS) ; sessions : {mode}\n", flush=True)
        sessions = []
        results = []
        try:
            for step in steps:
                step_start = time.perf_counter()
                opening_times = []
                while len(sessions) < step:
                    conn, term, to_login = await open_logged_in(server, identifiers[len(sessions)])
                    sessions.append((conn, term))
                    opening_times.append(to_login)
                apps = server.apps()
                assert len(apps) == step, f"{len(apps)} processus pour {step} sessions"
                rss = [mb(rss_kib(pid)) for pid in apps]
                pss = [mb(pss_kib(pid)) for pid in apps]
                server_mb = mb(rss_kib(server.pid))
                login_times = await probe_login_screen(server, probes, step)
                direct_times = await probe_direct(probes, url, base)
                row = {
                    "sessions": step,
                    "rss_median": statistics.median(rss), "rss_max": max(rss),
                    "pss_median": statistics.median(pss) if any(pss) else 0.0,
                    "server_mb": server_mb,
                    "login_median": statistics.median(login_times), "login_max": max(login_times),
                    "direct_median": statistics.median(direct_times),
                    "opening_median": statistics.median(opening_times),
                    "opening_seconds": time.perf_counter() - step_start,
                }
                results.append(row)
                print(
                    f"{step:>3} sessions ouvertes et connectées : "
                    f"RSS par session médiane {row['rss_median']:.1f} Mo, max {row['rss_max']:.1f} Mo "
                    f"(PSS médiane {row['pss_median']:.1f} Mo) ; serveur {server_mb:.1f} Mo ; "
                    f"écran de connexion d'une nouvelle session {row['login_median']:.2f} s "
                    f"(max {row['login_max']:.2f} s sur {probes}), sans SSH {row['direct_median']:.2f} s ; "
                    f"ouverture des sessions de cette étape : médiane {row['opening_median']:.2f} s",
                    flush=True,
                )
        finally:
            for conn, _term in sessions:
                conn.abort()
            stop_code = await asyncio.to_thread(server.stop)
        print()
        print("Objectifs :")
        for row in results:
            print(
                f"  {row['sessions']:>3} sessions : mémoire max/objectif = "
                f"{row['rss_max'] / GOAL_MB_PER_SESSION:.2f} ({row['rss_max']:.1f} / {GOAL_MB_PER_SESSION:.0f} Mo), "
                f"écran de connexion/objectif = {row['login_median'] / GOAL_LOGIN_SCREEN_S:.2f} "
                f"({row['login_median']:.2f} / {GOAL_LOGIN_SCREEN_S:.0f} s), "
                f"SSH/sans SSH = {row['login_median'] / row['direct_median']:.2f}, "
                f"serveur +{row['server_mb'] - idle_server_mb:.1f} Mo "
                f"({(row['server_mb'] - idle_server_mb) * 1024 / row['sessions']:.0f} ko par session)"
            )
        last = results[-1]
        ok = last["rss_max"] <= GOAL_MB_PER_SESSION and last["login_median"] <= GOAL_LOGIN_SCREEN_S
        print(f"Arrêt du serveur : code {stop_code} ; objectifs {'atteints' if ok else 'NON atteints'} "
              f"à {last['sessions']} sessions.")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Sessions simultanées sur ssh-serve : mémoire et temps d'accès.")
    parser.add_argument("--steps", default="10,25,50", help="paliers de sessions ouvertes (défaut : 10,25,50)")
    parser.add_argument("--probes", type=int, default=3, help="nouvelles sessions chronométrées par palier")
    parser.add_argument("--no-preload", action="store_true", help="serveur sans lanceur préchargé (comparaison)")
    args = parser.parse_args()
    steps = sorted(int(s) for s in args.steps.split(","))
    return asyncio.run(run(steps, args.probes, not args.no_preload))


if __name__ == "__main__":
    raise SystemExit(main())
