"""Benchmark: import of a 10,000-row "Habilitation en masse" workbook, against a plain openpyxl pass.

Usage: `.venv/bin/python bench/bulk_import.py [--rows 10000] [--database sqlite|postgres://...]`
(with a PostgreSQL URL, the import runs in a new database created on that server and dropped afterwards)

Each measure runs in a fresh subprocess so that its peak memory (ru_maxrss) is its own. Prints the
figures and the ratios; goals: end-to-end import ≤ 3 × the plain read-only pass, peak ≤ 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_RATIO = 3.0
GOAL_PEAK_MB = 300.0
HEADER = ["Nom", "Prénom", "E-mail", "Téléphone", "Rôle", "Profil", "SIRET de l'établissement", "Service"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
FIRST_NAMES = ["Claire", "Jean", "Léa", "Hugo", "Chloé", "Louis", "Inès", "Paul", "Zoé", "Éric"]
PROFILES = ["Consultation", "Création", "Validation", "Clôture"]
SIREN = "732829320"
SIRET = "73282932000074"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def child_plain(path: Path) -> dict[str, float]:
    from openpyxl import load_workbook

    start = time.perf_counter()
    workbook = load_workbook(path, read_only=True)
    count = 0
    for row in workbook["Habilitations"].iter_rows(values_only=True):
        count += sum(1 for value in row if value is not None)
    workbook.close()
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), "cells": count}


def child_parse(path: Path) -> dict[str, float]:
    from cpf_tui.config import BulkSettings
    from cpf_tui.services.bulk_workbook import parse_workbook

    start = time.perf_counter()
    parsed = parse_workbook(path, BulkSettings(max_rows=1_000_000, max_bytes=1 << 30))
    assert not parsed.errors, parsed.errors[:3]
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), "rows": len(parsed.rows)}


def child_import(path: Path, url: str, out: Path) -> dict[str, float]:
    from cpf_tui import db
    from cpf_tui.config import BulkSettings
    from cpf_tui.services import bulk
    from cpf_tui.services.context import RequestContext

    async def go() -> dict[str, float]:
        from models import Account, Establishment, Organisation

        await db.migrate(url)
        await db.open_database(url)
        try:
            organisation = await Organisation.create(siret=SIRET, siren=SIREN, raison_sociale="Organisme de mesure")
            await Establishment.create(organisation=organisation, siret=SIRET, name="Siège", is_head_office=True)
            start = time.perf_counter()
            result = await bulk.import_workbook(
                path, siret=SIRET, ctx=RequestContext(terminal="bench"), as_system=True,
                bulk=BulkSettings(max_rows=1_000_000, max_bytes=1 << 30), output_dir=out,
            )
            seconds = time.perf_counter() - start
            assert await Account.all().count() == result.created
            return {"seconds": seconds, "peak_mb": peak_mb(), "created": result.created}
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


def run_child(*args: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database", default="sqlite", help="sqlite (temporary file) or a postgres:// URL")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        figures = {"plain": child_plain, "parse": child_parse, "import": child_import}[kind](
            *[Path(rest[0]), *rest[1:2], *(Path(p) for p in rest[2:])]
        )
        print(json.dumps(figures))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        path = base / "habilitation-10000.xlsx"
        write_file(path, args.rows)
        plain = run_child("plain", str(path))
        parse = run_child("parse", str(path))
        if args.database == "sqlite":
            imported = run_child("import", str(path), f"sqlite://{base / 'bench.sqlite3'}", str(base / "out"))
        else:
            with scratch_database(args.database) as url:
                imported = run_child("import", str(path), url, str(base / "out"))
        size_kb = path.stat().st_size / 1024
    print(f"Fichier : {args.rows} lignes, {size_kb:.0f} Ko ; base : {args.database}")
    print(f"Lecture openpyxl read-only seule : {plain['seconds']:.2f} s, pic {plain['peak_mb']:.0f} Mo")
    print(f"Analyse complète (sans base)     : {parse['seconds']:.2f} s, pic {parse['peak_mb']:.0f} Mo, "
          f"ratio {parse['seconds'] / plain['seconds']:.1f}")
    ratio = imported["seconds"] / plain["seconds"]
    print(f"Import de bout en bout           : {imported['seconds']:.2f} s, pic {imported['peak_mb']:.0f} Mo, "
          f"ratio {ratio:.1f} ({imported['created']:.0f} comptes, {imported['seconds'] / args.rows * 1000:.2f} ms/ligne)")
    print(f"Objectifs : ratio ≤ {GOAL_RATIO:.0f} -> {'atteint' if ratio <= GOAL_RATIO else 'NON atteint'} ; "
          f"pic ≤ {GOAL_PEAK_MB:.0f} Mo -> {'atteint' if imported['peak_mb'] <= GOAL_PEAK_MB else 'NON atteint'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
