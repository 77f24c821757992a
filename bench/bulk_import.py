"""Benchmark: import of an N-row "Habilitation en masse" workbook, against a plain openpyxl pass, on SQLite
and PostgreSQL.

Usage: `.venv/bin/python bench/bulk_import.py [--lignes 10000 [100000 ...]] [--repetitions 3]
[--postgres postgres://postgres@127.0.0.1:5432/test | --sans-postgres] [--detail]`

For each size, each backend and each repetition, every measure runs in a fresh subprocess so that its
peak memory (VmHWM, tests/memory.py) is its own:
- the plain pass: `openpyxl.load_workbook(read_only=True)` and every cell value read;
- the analysis alone (`parse_workbook`, no database);
- the import end to end as an operator does it: `analyse_workbook` (file read and checked, database
  checks) then `import_workbook(report=...)` (the file is not read again): accounts, e-mails, audit
  events, the import's record and the result workbook, committed. SQLite: a new database file;
  PostgreSQL: a new database on the server of `--postgres` (default `$CPF_TUI_TEST_PG_URL`), dropped after.
Prints best and median seconds, peak memory and the ratio of the medians to the plain pass measured
in the same run, and the processor time (this process and its children, the hash worker and the
result writer: steadier than wall time when other work loads the machine); `--detail` adds where the import's time goes (wall time per step, one run).
Goals (issue 21): ratio ≤ 2 and peak ≤ 150 MB at 10,000 rows; the same ratio at 100,000 rows with
a peak within 1.2 × the 10,000-row peak.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_RATIO = 2.0
GOAL_PEAK_MB = 150.0
GOAL_PEAK_GROWTH = 1.2
HEADER = ["Nom", "Prénom", "E-mail", "Téléphone", "Rôle", "Profil", "SIRET de l'établissement", "Service"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
FIRST_NAMES = ["Claire", "Jean", "Léa", "Hugo", "Chloé", "Louis", "Inès", "Paul", "Zoé", "Éric"]
PROFILES = ["Consultation", "Création", "Validation", "Clôture"]
SIREN = "732829320"
SIRET = "73282932000074"


def peak_mb() -> float:
    """This process's own peak (VmHWM): ru_maxrss would start from the parent's (tests/memory.py)."""
    from tests.memory import peak_rss_mb

    return peak_rss_mb()


def cpu_seconds() -> float:
    """Processor time of this process and its ended children (hash worker, result writer), user and system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def write_file(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Habilitations")
    sheet.append(HEADER)
    for i in range(rows):
        sheet.append([
            LAST_NAMES[i % 10], FIRST_NAMES[(i // 10) % 10], f"agent.{i}@example.fr",
            f"06 {i // 1000000 % 100:02d} {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}",
            "Administrateur délégué" if i % 50 == 0 else "Gestionnaire", PROFILES[i % 4], SIRET, f"Service {i % 12}",
        ])
    workbook.save(path)


def bench_settings() -> Any:
    """Limits lifted for the benchmark: the default configuration accepts 10,000 rows and 10 MB."""
    from cpf_tui.config import BulkSettings

    return BulkSettings(max_rows=1_000_000, max_bytes=1 << 30)


def child_plain(path: Path) -> dict[str, Any]:
    from openpyxl import load_workbook

    cpu, start = cpu_seconds(), time.perf_counter()
    workbook = load_workbook(path, read_only=True)
    count = 0
    for row in workbook["Habilitations"].iter_rows(values_only=True):
        count += sum(1 for value in row if value is not None)
    workbook.close()
    return {"seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu, "peak_mb": peak_mb(), "cells": count}


def child_parse(path: Path) -> dict[str, Any]:
    from cpf_tui.services.bulk_workbook import parse_workbook

    start = time.perf_counter()
    parsed = parse_workbook(path, bench_settings())
    assert not parsed.errors, parsed.errors[:3]
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), "rows": len(parsed.rows)}


def _timed_steps() -> dict[str, float]:
    """Wrap the import's steps to add up their wall time (`--detail`)."""
    from cpf_tui.services import audit, bulk, bulk_workbook, identifiers, outbox, provisioning, result_worker, rows

    spent: dict[str, float] = collections.defaultdict(float)

    def wrap(module: Any, name: str, label: str) -> None:
        function = getattr(module, name)
        if asyncio.iscoroutinefunction(function):
            @functools.wraps(function)
            async def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    key = f"{label} {args[0].__name__}" if name in ("copy_rows", "insert_rows", "copy_values") else label
                    spent[key] += time.perf_counter() - start
        else:
            @functools.wraps(function)
            def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    spent[label] += time.perf_counter() - start
        setattr(module, name, timed)

    wrap(bulk, "parse_workbook", "lecture et contrôles du fichier (thread)")
    wrap(bulk, "_database_errors", "contrôles en base")
    wrap(provisioning, "allocate_identifiers", "identifiants")
    wrap(rows, "reserve_ids", "ids réservés")
    wrap(rows, "copy_rows", "écriture en bloc")
    wrap(rows, "insert_rows", "INSERT par lots")
    wrap(rows, "copy_values", "écriture en bloc (valeurs du fils)")
    wrap(audit, "record_batch", "journal (calcul + écriture)")
    wrap(outbox, "enqueue_rows", "e-mails (calcul + écriture)")
    wrap(provisioning.BulkProvisioner, "add", "comptes, e-mails et journal par lot (total)")
    wrap(bulk, "write_result", "classeur de résultat (thread, moins de 2 000 lignes)")
    wrap(result_worker.ResultProcess, "finish", "classeur de résultat : attente du processus fils")
    del bulk_workbook, identifiers
    return spent


def child_import(path: Path, url: str, out: Path, detail: str = "") -> dict[str, Any]:
    import openpyxl.reader.excel  # noqa: F401 - loaded before the clock starts, as for the plain read

    from cpf_tui import db
    from cpf_tui.services import audit, bulk
    from cpf_tui.services.context import RequestContext

    spent = _timed_steps() if detail else {}

    async def go() -> dict[str, Any]:
        from models import Account, Establishment, Organisation

        await db.migrate(url)
        await db.open_database(url)
        try:
            organisation = await Organisation.create(siret=SIRET, siren=SIREN, raison_sociale="Organisme de mesure")
            await Establishment.create(organisation=organisation, siret=SIRET, name="Siège", is_head_office=True)
            ctx = RequestContext(terminal="bench")
            cpu, start = cpu_seconds(), time.perf_counter()
            report = await bulk.analyse_workbook(path, siret=SIRET, ctx=ctx, as_system=True, bulk=bench_settings(),
                                                 prepare=True)
            assert report.ok, report.lines()[:3]
            checked = time.perf_counter()
            result = await bulk.import_workbook(
                path, siret=SIRET, ctx=ctx, as_system=True, bulk=bench_settings(), output_dir=out,
                report=report, expected_sha256=report.sha256,
            )
            seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
            assert await Account.all().count() == result.created
            chain = await audit.verify_chain()
            assert chain.ok, chain.message
            return {
                "seconds": seconds, "cpu": cpu, "analyse": checked - start, "peak_mb": peak_mb(), "created": result.created,
                "steps": dict(spent),
            }
        finally:
            await db.close_database()

    return asyncio.run(go())


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `server_url`, dropped afterwards (the test
    suite's helpers, which make a database per test the same way)."""
    from tests.conftest import _pg_admin_url, _pg_execute

    name = f"cpf_bench_bulk_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_admin_url(server_url, name)
    finally:
        asyncio.run(_pg_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_child(*args: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def summary(runs: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Best and median seconds, largest peak (MB)."""
    seconds = [run["seconds"] for run in runs]
    return min(seconds), statistics.median(seconds), max(run["peak_mb"] for run in runs)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"charge moyenne {one:.2f} / {five:.2f} / {fifteen:.2f} (1, 5, 15 min), {os.cpu_count()} cœurs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lignes", "--rows", dest="rows", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("CPF_TUI_TEST_PG_URL", ""),
                        help="serveur PostgreSQL (une base temporaire y est créée)")
    parser.add_argument("--sans-postgres", action="store_true", help="SQLite seulement")
    parser.add_argument("--detail", action="store_true", help="où va le temps de l'import (une exécution)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "import":
            figures = child_import(Path(rest[0]), rest[1], Path(rest[2]), *rest[3:])
        else:
            figures = {"plain": child_plain, "parse": child_parse}[kind](Path(rest[0]))
        print(json.dumps(figures))
        return 0
    backends = ["sqlite"] + ([] if args.sans_postgres or not args.postgres else ["postgres"])
    print(f"Début : {load()}")
    peaks: dict[tuple[str, int], float] = {}
    ratios: dict[tuple[str, int], float] = {}
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder)
            path = base / f"habilitation-{rows}.xlsx"
            write_file(path, rows)
            size_kb = path.stat().st_size / 1024
            print(f"\nFichier : {rows} lignes, {size_kb:.0f} Ko ; {args.repetitions} exécution(s) par mesure")
            plain = [run_child("plain", str(path)) for _ in range(args.repetitions)]
            parse = [run_child("parse", str(path)) for _ in range(args.repetitions)]
            plain_best, plain_median, plain_peak = summary(plain)
            parse_best, parse_median, parse_peak = summary(parse)
            print(f"  Lecture openpyxl read-only seule : meilleure {plain_best:.2f} s, médiane {plain_median:.2f} s, "
                  f"pic {plain_peak:.0f} Mo ; processeur {statistics.median(r['cpu'] for r in plain):.2f} s")
            print(f"  Analyse seule (sans base)        : meilleure {parse_best:.2f} s, médiane {parse_median:.2f} s, "
                  f"pic {parse_peak:.0f} Mo, ratio {parse_median / plain_median:.2f}")
            for backend in backends:
                runs = []
                for index in range(args.repetitions):
                    out = base / f"out-{backend}-{index}"
                    out.mkdir()
                    detail = ["detail"] if args.detail and index == 0 else []
                    if backend == "sqlite":
                        url = f"sqlite://{base / f'bench-{index}.sqlite3'}"
                        runs.append(run_child("import", str(path), url, str(out), *detail))
                    else:
                        with scratch_database(args.postgres) as url:
                            runs.append(run_child("import", str(path), url, str(out), *detail))
                best, median, peak = summary(runs)
                ratio = median / plain_median
                peaks[backend, rows], ratios[backend, rows] = peak, ratio
                name = "SQLite" if backend == "sqlite" else "PostgreSQL"
                print(f"  Import de bout en bout, {name:10s}: meilleure {best:.2f} s, médiane {median:.2f} s, "
                      f"pic {peak:.0f} Mo, ratio {ratio:.2f} (meilleures : {best / plain_best:.2f}) ; "
                      f"{median / rows * 1000:.3f} ms/ligne, dont analyse {statistics.median(r['analyse'] for r in runs):.2f} s ; "
                      f"processeur {statistics.median(r['cpu'] for r in runs):.2f} s (ratio "
                      f"{statistics.median(r['cpu'] for r in runs) / statistics.median(r['cpu'] for r in plain):.2f})")
                if runs[0]["steps"]:
                    for step, seconds in sorted(runs[0]["steps"].items(), key=lambda item: -item[1]):
                        print(f"      {step:45s} {seconds:6.2f} s")
    print("\nObjectifs (issue 21) :")
    for (backend, rows), ratio in ratios.items():
        peak = peaks[backend, rows]
        verdict = [f"ratio {ratio:.2f} ≤ {GOAL_RATIO:.0f} : {'atteint' if ratio <= GOAL_RATIO else 'NON atteint'}"]
        if (backend, 10_000) in peaks and rows > 10_000:
            growth = peak / peaks[backend, 10_000]
            verdict.append(f"pic {peak:.0f} Mo = {growth:.2f} × celui de 10 000 lignes "
                           f"({'atteint' if growth <= GOAL_PEAK_GROWTH else 'NON atteint'}, ≤ {GOAL_PEAK_GROWTH})")
        else:
            verdict.append(f"pic {peak:.0f} Mo ≤ {GOAL_PEAK_MB:.0f} : "
                           f"{'atteint' if peak <= GOAL_PEAK_MB else 'NON atteint'}")
        print(f"  {backend:10s} {rows:>7} lignes : " + " ; ".join(verdict))
    print(f"Fin : {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
