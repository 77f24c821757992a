"""Benchmark: the CDC feeds (holder file, yearly hours file) against a plain load of the same rows.

Usage: `.venv/bin/python bench/holder_feed.py [--lines 1000000] [--database sqlite|postgres://...]
[--lookup-holders 10000000]`

- Baseline, measured in the same run: the file read and split on `;`, then the rows inserted as they are
  into a bare table (SQLite: `executemany` in one transaction; PostgreSQL: asyncpg `COPY` by batches).
- Feed: `holder_feed.import_holders` then `holder_feed.credit_hours` on a fresh migrated database.
- Floor: the rows the feeds end up writing, written straight into the real tables (no check, no staging
  table), timed like the baseline: the least any feed can take on this schema (docs/benchmarks.md).
- PostgreSQL only, `--lookup-holders N` (0 to skip): N holders loaded through the feed in files of
  1,000,000 lines (the load time is printed), then holders looked up by NIR through the service
  (`holders.search`), p50 and p95.

Each measure runs in a fresh subprocess so that its peak memory (ru_maxrss) is its own. Goals (issue 14):
ratio ≤ 3, peak ≤ 200 MB whatever the size, lookup p95 ≤ 5 ms with 10,000,000 holders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from datetime import date
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_RATIO = 3.0
GOAL_PEAK_MB = 200.0
GOAL_P95_MS = 5.0
YEAR = 2025
CHUNK = 1_000_000
BATCH = 5000


def peak_mb() -> float:
    """This process's own peak (VmHWM): ru_maxrss would start from the parent's (tests/memory.py)."""
    from tests.memory import peak_rss_mb

    return peak_rss_mb()


def write_holders(path: Path, first: int, count: int) -> None:
    from tests.feed_helpers import HOLDER_HEADER, holder_line

    with path.open("w", encoding="utf-8") as handle:
        handle.write(HOLDER_HEADER + "\n")
        for index in range(first, first + count):
            handle.write(holder_line(index) + "\n")


def write_hours(path: Path, count: int) -> None:
    from tests.feed_helpers import HOURS_HEADER, hours_line

    with path.open("w", encoding="utf-8") as handle:
        handle.write(HOURS_HEADER + "\n")
        for index in range(count):
            handle.write((hours_line(index, YEAR, hours=str(800 + index % 900)) if index % 3 == 0
                          else hours_line(index, YEAR, ratio=str(50 + index % 51))) + "\n")


def _split_batches(path: Path):
    with path.open(encoding="utf-8") as handle:
        handle.readline()
        batch = []
        for line in handle:
            batch.append(tuple(line.rstrip("\n").split(";")))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def child_baseline(path: Path, url: str) -> dict[str, float]:
    """Read, split and insert the rows as they are into a bare table."""
    with path.open(encoding="utf-8") as handle:
        width = len(handle.readline().split(";"))
    columns = [f"c{i}" for i in range(width)]
    start, cpu = time.perf_counter(), time.process_time()
    count = 0
    if url.startswith("sqlite://"):
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite://"):])
        conn.execute(f"CREATE TABLE bare ({', '.join(c + ' TEXT' for c in columns)})")
        conn.execute("BEGIN")
        marks = ", ".join("?" for _ in columns)
        for batch in _split_batches(path):
            conn.executemany(f"INSERT INTO bare VALUES ({marks})", batch)
            count += len(batch)
        conn.commit()
        conn.close()
    else:
        import asyncpg

        async def copy() -> int:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(f"CREATE TABLE bare ({', '.join(c + ' text' for c in columns)})")
                done = 0
                for batch in _split_batches(path):
                    await conn.copy_records_to_table("bare", records=batch, columns=columns)
                    done += len(batch)
                return done
            finally:
                await conn.close()

        count = asyncio.run(copy())
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "peak_mb": peak_mb(),
            "rows": count}


def child_floor(holders_path: Path, hours_path: Path, url: str) -> dict[str, float]:
    """The least any feed must write, timed like the baseline (file read and split included): the
    holder file's rows straight into the real `holder` table (its four indexes, no check, no staging,
    no search for an existing holder), then for the hours file one movement per line straight into the
    real `hours_movement` table (its indexes, foreign keys and check) and one balance update per holder.
    SQLite `executemany` in one transaction, PostgreSQL `COPY`; rows written in NIR (holders) and holder
    (movements) order, the feed's own order, the sort itself not timed: a lower bound of the feeds' time on
    this schema, whatever their code."""
    from datetime import datetime

    from cpf_tui import db

    sqlite = url.startswith("sqlite://")
    now = datetime.now().astimezone()
    columns = ["nir", "nom_naissance", "nom_usage", "prenoms", "date_naissance", "email", "mobile", "search_name",
               "search_usage", "cpf_acquired_minutes", "cpf_reserved_minutes", "cpf_consumed_minutes",
               "dif_total_minutes", "dif_reserved_minutes", "dif_consumed_minutes", "version", "created_at"]
    movement_columns = ["holder_id", "kind", "bucket", "minutes", "reference_year", "work_ratio_percent", "reason",
                        "created_at"]

    def holder_rows(batch: list[tuple[str, ...]]) -> list[tuple[Any, ...]]:
        rows = []
        for nir, birth, usage, given, born, mail, mobile in batch:
            day, month, year = born.split("/")
            when: Any = f"{year}-{month}-{day}" if sqlite else date(int(year), int(month), int(day))
            rows.append((nir, birth, usage, given, when, mail, mobile, birth.lower(), usage.lower(),
                         0, 0, 0, 0, 0, 0, 1, str(now) if sqlite else now))
        return rows

    def movement_rows(batch: list[tuple[str, ...]], ids: dict[str, int]) -> list[tuple[Any, ...]]:
        return [(ids[line[0]], "cpf_acquisition", "cpf", 1440, YEAR, 100, "Acquisition", str(now) if sqlite else now)
                for line in batch]

    def read_sorted(path: Path, convert: Any, key: int) -> tuple[list[list[tuple[Any, ...]]], float]:
        """The file's rows, converted, in batches, in `key` order; the seconds of reading and converting."""
        start = time.perf_counter()
        rows = [row for batch in _split_batches(path) for row in convert(batch)]
        seconds = time.perf_counter() - start
        rows.sort(key=lambda row: row[key])
        return [rows[i:i + BATCH] for i in range(0, len(rows), BATCH)], seconds

    figures: dict[str, float] = {}
    asyncio.run(db.migrate(url))
    if sqlite:
        import sqlite3

        from cpf_tui.services.holder_feed import SQLITE_CACHE_KIB

        conn = sqlite3.connect(url[len("sqlite://"):], isolation_level=None)
        conn.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")  # the feed's page cache

        def insert(table: str, names: list[str], batches: list[list[tuple[Any, ...]]], then: str = "") -> float:
            """Seconds of inserting the batches into `table` (and running `then`) in one transaction."""
            start = time.perf_counter()
            conn.execute("BEGIN")
            marks = ", ".join("?" for _ in names)
            for rows in batches:
                conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)
            if then:
                conn.execute(then)
            conn.execute("COMMIT")
            return time.perf_counter() - start

        batches, reading = read_sorted(holders_path, holder_rows, 0)
        figures["holders_seconds"] = reading + insert("holder", columns, batches)
        ids = dict((nir, holder_id) for holder_id, nir in conn.execute("SELECT id, nir FROM holder"))
        batches, reading = read_sorted(hours_path, lambda batch: movement_rows(batch, ids), 0)
        figures["hours_seconds"] = reading + insert(
            "hours_movement", movement_columns, batches,
            then="UPDATE holder SET cpf_acquired_minutes = cpf_acquired_minutes + 1440, version = version + 1")
        conn.close()
        return figures

    import asyncpg

    async def copy() -> None:
        conn = await asyncpg.connect(url)
        try:
            batches, reading = read_sorted(holders_path, holder_rows, 0)
            start = time.perf_counter()
            async with conn.transaction():
                for rows in batches:
                    await conn.copy_records_to_table("holder", records=rows, columns=columns)
            figures["holders_seconds"] = reading + time.perf_counter() - start
            await conn.execute("ANALYZE holder")
            ids = {row["nir"]: row["id"] for row in await conn.fetch("SELECT id, nir FROM holder")}
            batches, reading = read_sorted(hours_path, lambda batch: movement_rows(batch, ids), 0)
            start = time.perf_counter()
            async with conn.transaction():
                for rows in batches:
                    await conn.copy_records_to_table("hours_movement", records=rows, columns=movement_columns)
                await conn.execute("UPDATE holder SET cpf_acquired_minutes = cpf_acquired_minutes + 1440, "
                                   "version = version + 1")
            figures["hours_seconds"] = reading + time.perf_counter() - start
        finally:
            await conn.close()

    asyncio.run(copy())
    return figures


def child_checks(holders_path: Path, hours_path: Path) -> dict[str, float]:
    """The reading and the line checks alone, without any database: the share of the field rules."""
    from datetime import date

    from cpf_tui.services.feed_files import HOLDER_COLUMNS, HOURS_COLUMNS, FeedReader, holder_check, hours_check

    figures: dict[str, float] = {}
    for key, path, columns, parser in (
        ("holders_seconds", holders_path, HOLDER_COLUMNS, holder_check(date.today())),
        ("hours_seconds", hours_path, HOURS_COLUMNS, hours_check(YEAR)),
    ):
        start, cpu = time.perf_counter(), time.process_time()
        reader = FeedReader(path, columns)
        reader.read_header()
        while not reader.next_batch(parser, 5000).eof:
            pass
        reader.close()
        figures[key] = time.perf_counter() - start
        figures[key.replace("seconds", "cpu")] = time.process_time() - cpu
    figures["peak_mb"] = peak_mb()
    return figures


def child_feed(holders_path: Path, hours_path: Path, url: str, reports: Path) -> dict[str, float]:
    from cpf_tui import db
    from cpf_tui.services import holder_feed
    from cpf_tui.services.context import RequestContext

    async def go() -> dict[str, float]:
        await db.migrate(url)
        await db.open_database(url)
        try:
            ctx = RequestContext(terminal="bench")
            figures: dict[str, float] = {}

            def children_cpu() -> float:
                usage = resource.getrusage(resource.RUSAGE_CHILDREN)
                return usage.ru_utime + usage.ru_stime

            async def timed(key: str, run: Any) -> Any:
                start, cpu, workers = time.perf_counter(), time.process_time(), children_cpu()
                result = await run
                figures[f"{key}_seconds"] = time.perf_counter() - start
                # this process and its checking process (not a PostgreSQL server)
                figures[f"{key}_cpu"] = time.process_time() - cpu + children_cpu() - workers
                return result

            loaded = await timed("holders", holder_feed.import_holders(holders_path, ctx=ctx, report_dir=reports,
                                                                       as_system=True))
            assert loaded.applied and not loaded.error_count, loaded.describe()[:5]
            credited = await timed("hours", holder_feed.credit_hours(hours_path, year=YEAR, ctx=ctx,
                                                                     report_dir=reports, as_system=True))
            assert credited.applied and not credited.error_count, credited.describe()[:5]
            again = await timed("again", holder_feed.import_holders(holders_path, ctx=ctx, report_dir=reports,
                                                                    as_system=True))
            assert again.unchanged == loaded.created
            return {**figures, "created": loaded.created, "credited": credited.credited, "peak_mb": peak_mb()}
        finally:
            await db.close_database()

    return asyncio.run(go())


def child_lookup(url: str, holders: int, folder: Path) -> dict[str, float]:
    """Load `holders` holders through the feed (files of CHUNK lines), then time lookups by NIR."""
    from cpf_tui import db
    from cpf_tui.services import holder_feed
    from cpf_tui.services import holders as holder_service
    from cpf_tui.services.context import RequestContext
    from tests.feed_helpers import valid_nir

    async def go() -> dict[str, float]:
        from models import Role
        from tests.factories import make_account

        await db.migrate(url)
        await db.open_database(url)
        try:
            ctx = RequestContext(terminal="bench")
            start = time.perf_counter()
            first = 0
            while first < holders:
                count = min(CHUNK, holders - first)
                path = folder / "chunk.csv"
                write_holders(path, first, count)
                result = await holder_feed.import_holders(path, ctx=ctx, report_dir=folder, as_system=True)
                assert result.created == count, result.describe()[:3]
                first += count
                print(f"  {first:,} titulaires chargés ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
            load_seconds = time.perf_counter() - start
            operator = await make_account(Role.OPERATOR)  # first login done, like the test suite's
            user = RequestContext(account_id=operator.id)
            rng = random.Random(14)
            timings = []
            for attempt in range(2200):
                nir = valid_nir(rng.randrange(holders))
                begin = time.perf_counter()
                found = await holder_service.search(user, nir=nir)
                elapsed = time.perf_counter() - begin
                assert len(found) == 1
                if attempt >= 200:  # warm-up left out
                    timings.append(elapsed * 1000)
            timings.sort()
            return {"load_seconds": load_seconds, "p50_ms": timings[len(timings) // 2],
                    "p95_ms": timings[int(len(timings) * 0.95)], "peak_mb": peak_mb()}
        finally:
            await db.close_database()

    return asyncio.run(go())


def run_child(*args: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def database_url(server: str, base: Path, name: str):
    """A context giving an empty database: a SQLite file in `base`, or a scratch PostgreSQL database."""
    import contextlib

    if server == "sqlite":
        return contextlib.nullcontext(f"sqlite://{base / (name + '.sqlite3')}")
    from bench.bulk_import import scratch_database

    return scratch_database(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--database", default="sqlite", help="sqlite (temporary file) or a postgres:// URL")
    parser.add_argument("--lookup-holders", type=int, default=10_000_000,
                        help="PostgreSQL: holders loaded before timing lookups by NIR (0: skip)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "baseline":
            figures = child_baseline(Path(rest[0]), rest[1])
        elif kind == "checks":
            figures = child_checks(Path(rest[0]), Path(rest[1]))
        elif kind == "floor":
            figures = child_floor(Path(rest[0]), Path(rest[1]), rest[2])
        elif kind == "feed":
            figures = child_feed(Path(rest[0]), Path(rest[1]), rest[2], Path(rest[3]))
        else:
            figures = child_lookup(rest[0], int(rest[1]), Path(rest[2]))
        print(json.dumps(figures))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        if not os.environ.get("CPF_TUI_AUDIT__KEY_FILE"):  # the children sign the journal with a key of their own
            from cpf_tui.services import audit_key

            os.environ["CPF_TUI_AUDIT__KEY_FILE"] = str(audit_key.create_key(base / "audit.key").path)
        holders_path, hours_path = base / "titulaires.csv", base / "heures.csv"
        write_holders(holders_path, 0, args.lines)
        write_hours(hours_path, args.lines)
        sizes = holders_path.stat().st_size / 2**20, hours_path.stat().st_size / 2**20
        loads = [os.getloadavg()[0]]
        with database_url(args.database, base, "plain-holders") as url:
            plain_holders = run_child("baseline", str(holders_path), url)
        with database_url(args.database, base, "plain-hours") as url:
            plain_hours = run_child("baseline", str(hours_path), url)
        checks = run_child("checks", str(holders_path), str(hours_path))
        with database_url(args.database, base, "floor") as url:
            floor = run_child("floor", str(holders_path), str(hours_path), url)
        loads.append(os.getloadavg()[0])
        with database_url(args.database, base, "feed") as url:
            feed = run_child("feed", str(holders_path), str(hours_path), url, str(base))
        loads.append(os.getloadavg()[0])
        lookup = None
        if args.database != "sqlite" and args.lookup_holders:
            with database_url(args.database, base, "lookup") as url:
                lookup = run_child("lookup", url, str(args.lookup_holders), str(base))
    backend = "SQLite" if args.database == "sqlite" else "PostgreSQL"
    baseline = "executemany" if backend == "SQLite" else "COPY"
    print(f"{backend} — {args.lines:,} lignes par fichier (titulaires {sizes[0]:.1f} Mo, heures {sizes[1]:.1f} Mo)")
    ratios = []
    for label, key, plain in (
        ("Titulaires (création)", "holders", plain_holders),
        ("Heures CPF", "hours", plain_hours),
        ("Titulaires (2e passage, aucun changement)", "again", plain_holders),
    ):
        seconds = feed[f"{key}_seconds"]
        ratio = seconds / plain["seconds"]
        ratios.append(ratio)
        print(f"{label:<44}: {seconds:7.1f} s, {args.lines / seconds:9,.0f} lignes/s ; "
              f"{baseline} brut {plain['seconds']:.1f} s ({args.lines / plain['seconds']:,.0f} lignes/s) ; "
              f"ratio {ratio:.1f} ; CPU du processus {feed[f'{key}_cpu']:.1f} s contre {plain['cpu']:.1f} s"
              + (f" (ratio {feed[f'{key}_cpu'] / plain['cpu']:.1f})" if backend == "SQLite" else
                 " (hors serveur)"))
    print(f"dont lecture et contrôle des lignes seuls (sans base) : titulaires {checks['holders_seconds']:.1f} s "
          f"(CPU {checks['holders_cpu']:.1f} s), heures {checks['hours_seconds']:.1f} s "
          f"(CPU {checks['hours_cpu']:.1f} s)")
    for label, key, plain in (("titulaires", "holders", plain_holders), ("heures", "hours", plain_hours)):
        print(f"Plancher {label} (lignes écrites telles quelles dans les tables réelles, sans contrôle ni table "
              f"de travail) : {floor[f'{key}_seconds']:.1f} s, ratio {floor[f'{key}_seconds'] / plain['seconds']:.1f}")
    print("Charge de la machine (load average 1 min) : " + ", ".join(f"{load:.1f}" for load in loads)
          + f" ({os.cpu_count()} cœurs)")
    peak = feed["peak_mb"]
    # The checking process's own peak is not printed: ru_maxrss of a child counts the parent's memory it
    # was forked from (read /proc/<pid>/status VmHWM of the child instead; docs/benchmarks.md).
    print(f"Pic mémoire de l'alimentation : {peak:.0f} Mo (brut : {plain_holders['peak_mb']:.0f} Mo)")
    if lookup is not None:
        print(f"Recherche par NIR avec {args.lookup_holders:,} titulaires (chargés par l'alimentation en "
              f"{lookup['load_seconds']:.0f} s) : p50 {lookup['p50_ms']:.2f} ms, p95 {lookup['p95_ms']:.2f} ms")
    print(f"Objectifs : ratio ≤ {GOAL_RATIO:.0f} -> {'atteint' if max(ratios) <= GOAL_RATIO else 'NON atteint'} ; "
          f"pic ≤ {GOAL_PEAK_MB:.0f} Mo -> {'atteint' if peak <= GOAL_PEAK_MB else 'NON atteint'}"
          + ("" if lookup is None else f" ; p95 ≤ {GOAL_P95_MS:.0f} ms -> "
             f"{'atteint' if lookup['p95_ms'] <= GOAL_P95_MS else 'NON atteint'}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
