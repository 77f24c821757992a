"""The pre-loaded launcher of `ssh-serve` (cpf_tui/ssh_zygote.py): what it holds before it forks, and
its profiling of sessions.

A module a session imports itself is that session's private memory and costs its first screen; the
launcher imports them once for all. Checked in a child interpreter: `preload` freezes the collector,
makes the launcher's objects immortal where the interpreter has immortal objects (CPython 3.12 and
3.13), and offers the launcher's memory to the kernel's same-page merging.
"""

from __future__ import annotations

import json
import os
import pstats
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cpf_tui.ssh_zygote import PROFILE_ENV, immortal_objects_supported
from tests.ssh_harness import LAUNCHER_READY, SshServer, Terminal

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json, sys
import cpf_tui.ssh_zygote as zygote
gc.disable()
missing, immortal = zygote.preload()
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
    "immortal": immortal,
    "immortal_supported": zygote.immortal_objects_supported(),
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
    # On CPython 3.12 and 3.13 they are immortal as well (their counts are never written); 3.11 has none.
    assert report["immortal"] > 100_000 if report["immortal_supported"] else report["immortal"] == 0


IMMORTAL_PROBE = """
import gc, json, os, sys
import cpf_tui.ssh_zygote as zygote
gc.disable()
table = [{"n": n, "name": f"nom {n}", "items": [n, str(n)]} for n in range(100_000)]
made = zygote.immortalize() if sys.argv[1] == "immortal" else 0
gc.freeze()

def private_dirty():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1]) * 1024

read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:  # a session: it only reads the launcher's table
    before = private_dirty()
    total = sum(len(row["name"]) + len(row["items"]) + row["n"] for row in table)
    copied = private_dirty() - before
    os.write(write_end, json.dumps({"copied": copied, "total": total}).encode())
    os._exit(0)
os.waitpid(pid, 0)
del table  # the launcher can still drop what it holds: immortal objects are simply never freed
print(json.dumps({"made": made, "supported": zygote.immortal_objects_supported(),
                  **json.loads(os.read(read_end, 4096))}))
"""


def interpreter_with_immortal_objects() -> str | None:
    """A CPython 3.13 or 3.12 (with the GIL) on this machine, on the PATH or installed by pyenv."""
    candidates = [shutil.which(f"python3.{minor}") for minor in (13, 12)]
    pyenv_versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted((str(path) for path in pyenv_versions.glob("3.1[23].*/bin/python3")), reverse=True)
    check = ("import sys, sysconfig; sys.exit(sys.version_info[:2] not in ((3, 12), (3, 13))"
             " or bool(sysconfig.get_config_var('Py_GIL_DISABLED')))")
    for candidate in filter(None, candidates):
        try:
            if subprocess.run([candidate, "-c", check], capture_output=True, timeout=60).returncode == 0:
                return candidate
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def _probe_immortal(python: str, mode: str) -> dict:
    done = subprocess.run([python, "-c", IMMORTAL_PROBE, mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True, stdin=subprocess.DEVNULL)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_on_this_interpreter_the_launchers_objects_are_immortal_only_where_it_has_immortal_objects():
    mortal, immortal = _probe_immortal(sys.executable, "mortal"), _probe_immortal(sys.executable, "immortal")
    assert mortal["total"] == immortal["total"]
    assert mortal["copied"] > 10_000_000  # reading 100,000 rows copies nearly all of their pages
    if immortal["supported"]:
        assert immortal["made"] >= 300_000 and immortal["copied"] < 1_000_000
    else:  # CPython 3.11: nothing is changed, the pages are copied as before
        assert immortal["made"] == 0 and immortal["copied"] > 10_000_000


def test_with_immortal_objects_a_session_that_reads_the_launchers_objects_copies_none_of_their_pages():
    python = interpreter_with_immortal_objects()
    if python is None:
        pytest.skip("no CPython 3.12 or 3.13 on this machine")
    mortal, immortal = _probe_immortal(python, "mortal"), _probe_immortal(python, "immortal")
    assert mortal["total"] == immortal["total"] == sum(len(f"nom {n}") + 2 + n for n in range(100_000))
    assert mortal["made"] == 0 and mortal["copied"] > 10_000_000
    assert immortal["supported"] and immortal["made"] >= 300_000  # 100,000 rows, names, lists, numbers
    assert immortal["copied"] < 1_000_000  # not a page of the table: only the session's own stack and sum


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


def test_the_servers_log_says_whether_its_launchers_objects_are_immortal(tmp_path, db_url):
    """What `bench/load.py` reads to say which launchers its figures come from."""
    server = SshServer(tmp_path, db_url)
    server.start()
    try:
        said = LAUNCHER_READY.search(server.log())
    finally:
        server.stop()
    assert said is not None, server.log()
    if immortal_objects_supported():
        assert said.group(1).startswith("objets du lanceur rendus immortels : ")
        assert int(said.group(1).rsplit(" ", 1)[1]) > 100_000
    else:
        version = ".".join(str(part) for part in sys.version_info[:2])
        assert said.group(1).startswith(f"objets du lanceur non immortels (Python {version} ;")
