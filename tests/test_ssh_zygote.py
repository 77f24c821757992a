"""The pre-loaded launcher of `ssh-serve` (cpf_tui/ssh_zygote.py): what it holds before it forks, and
its profiling of sessions.

A module a session imports itself is that session's private memory and costs its first screen; the
launcher imports them once for all. Checked in a child interpreter: `preload` freezes the collector and
offers the launcher's memory to the kernel's same-page merging.
"""

from __future__ import annotations

import json
import pstats
import subprocess
import sys
from pathlib import Path

from cpf_tui.ssh_zygote import PROFILE_ENV
from tests.ssh_harness import SshServer, Terminal

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json, sys
import cpf_tui.ssh_zygote as zygote
gc.disable()
missing = zygote.preload()
regions, flags = [], {}
for line in open("/proc/self/smaps"):
    fields = line.split()
    if "-" in fields[0] and not fields[0].endswith(":"):
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        anonymous = len(fields) < 6 or fields[5] == "[heap]"
        regions.append((start, end - start, fields[1] == "rw-p" and anonymous))
    elif fields[0] == "VmFlags:":
        flags[regions[-1][0]] = fields[1:]
anonymous_bytes = sum(size for _start, size, anonymous in regions if anonymous)
mergeable_bytes = sum(size for start, size, anonymous in regions if anonymous and "mg" in flags[start])
names = zygote.preload_names()
from cpf_tui.services import validation
print(json.dumps({
    "missing": missing,
    "not_imported": [name for name in names if name not in sys.modules],
    "names": names,
    "frozen": gc.get_freeze_count(),
    "tracked_after_freeze": len(gc.get_objects()),
    "phone_cache": validation._overseas_ranges.cache_info().currsize,
    "anonymous_bytes": anonymous_bytes,
    "mergeable_bytes": mergeable_bytes,
    "merging": zygote.merging_state(),
}))
"""


def test_the_launcher_imports_every_screen_and_service_then_freezes_them():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True, stdin=subprocess.DEVNULL)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["missing"] == [] and report["not_imported"] == []
    screens = {path.stem for path in (ROOT / "screens").glob("*.py")} - {"__init__"}
    services = {path.stem for path in (ROOT / "cpf_tui" / "services").glob("*.py")} - {"__init__", "hash_worker"}
    assert {f"screens.{name}" for name in screens} <= set(report["names"])
    assert {f"cpf_tui.services.{name}" for name in services} <= set(report["names"])
    assert {"asyncpg", "tortoise.backends.asyncpg", "phonenumbers", "argon2", "email_validator"} <= set(report["names"])
    # Every object imported is out of the collector's reach: a session's collections leave its pages shared.
    assert report["frozen"] > 100_000 and report["tracked_after_freeze"] < 1_000
    assert report["phone_cache"] == 1  # the phone tables are built once, in the launcher
    # Its memory is offered to the kernel's same-page merging (KSM), which then merges the copies the
    # sessions make of it once they are identical again; whether KSM runs is the administrator's choice.
    assert report["anonymous_bytes"] > 20_000_000
    # all of it but what the probe's own reading of /proc allocated afterwards (an arena of 1 MiB or so)
    assert report["anonymous_bytes"] - report["mergeable_bytes"] < 4 * 1024 * 1024
    assert report["merging"] in ("on", "off", "absent")


async def test_a_profiled_launcher_leaves_each_sessions_statistics(tmp_path, db_url):
    """With CPF_TUI_PROFILE_SESSIONS in the server's environment, a session that ends leaves its cProfile
    statistics (how bench/load.py profiles sessions under load)."""
    folder = tmp_path / "profils"
    folder.mkdir()
    server = SshServer(tmp_path, db_url)
    environment = server.environment
    server.environment = lambda: {**environment(), PROFILE_ENV: str(folder)}  # type: ignore[method-assign]
    server.start()
    try:
        conn = await server.connect("alice")
        term = await Terminal.open(conn)
        await term.wait_for("Connexion à l'espace de gestion CPF")
        [pid] = server.apps()
        term.write("\x11")
        await term.wait_for("Quitter l'application")
        term.write("o")
        await term.read_to_end()
        conn.close()
        await conn.wait_closed()
    finally:
        server.stop()
    stats = pstats.Stats(str(folder / f"session-{pid}.prof"))
    assert any(name == "main" and path.endswith("cpf_tui/cli.py") for path, _line, name in stats.stats)  # type: ignore[attr-defined]
