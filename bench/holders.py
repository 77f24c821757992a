"""Benchmark: holder lookups and file validations on 1,000,000 holders and 200,000 training files (SQLite).

Usage: `.venv/bin/python bench/holders.py [--holders 1000000] [--files 200000] [--queries 500]
[--validations 1000]`

The database is generated in a temporary folder (migrated schema, then bulk inserts with executemany).
Measured through the services (actor re-read, permission check, ORM) and, in the same run, with the
equivalent raw SQL on the same connection (the actor's row, re-read on every call by the rules, and
the service's own statement; the statement alone is printed too): NIR lookup and name-prefix search (first 50), median and
p95 over N queries, and the ratio service / raw SQL; then the time to validate 1,000 files in a row.
Goals: NIR p95 ≤ 5 ms, prefix p95 ≤ 20 ms, ratio ≤ 3.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_NIR_P95_MS = 5.0
GOAL_PREFIX_P95_MS = 20.0
GOAL_RATIO = 3.0
H = 60
SEED = 20260115
CHUNK = 50_000


def nir_for(i: int) -> str:
    """A valid and unique NIR for holder number i (order, commune and department derived from i)."""
    order = i % 999 + 1
    commune = (i // 999) % 990 + 1
    department = (i // (999 * 990)) % 95 + 1
    if department == 20:  # Corsica uses 2A/2B
        department = 96
    sex = 1 + i % 2
    year = 40 + (i * 7) % 60
    month = 1 + (i * 5) % 12
    base = f"{sex}{year:02d}{month:02d}{department:02d}{commune:03d}{order:03d}"
    return base + f"{97 - int(base) % 97:02d}"


def names() -> tuple[list[str], list[str]]:
    from faker.providers.person.fr_FR import Provider

    return list(dict.fromkeys(Provider.last_names)), list(dict.fromkeys(Provider.first_names))


def generate(path: Path, holder_count: int, file_count: int) -> dict[str, object]:
    """Fill the migrated database with plain sqlite3 executemany (one transaction per chunk)."""
    from cpf_tui.text import fold

    rng = random.Random(SEED)
    last_names, first_names = names()
    keys = {name: fold(name).upper() for name in last_names}
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    now = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc).isoformat()
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO organisation (id, siret, siren, raison_sociale, address, contact_email, structure_type, created_at)"
        " VALUES (1, '73282932000074', '732829320', 'Organisme du banc d''essai', '', '', 'unique', ?)", (now,))
    conn.execute(
        "INSERT INTO establishment (id, organisation_id, siret, name, address, is_head_office, created_at)"
        " VALUES (1, 1, '73282932000074', 'Siège', '', 1, ?)", (now,))
    conn.execute("COMMIT")
    # Secondary indexes are rebuilt once after the bulk insert (much faster than row by row).
    holder_indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'holder' AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in holder_indexes:
        conn.execute(f'DROP INDEX "{name}"')
    samples: list[tuple[str, str, str]] = []
    epoch = date(1950, 1, 1)
    for start in range(0, holder_count, CHUNK):
        rows = []
        for i in range(start, min(start + CHUNK, holder_count)):
            last = last_names[rng.randrange(len(last_names))]
            usage = last_names[rng.randrange(len(last_names))] if i % 4 == 0 else ""
            born = epoch + timedelta(days=rng.randrange(18_000))
            rows.append((
                i + 1, nir_for(i), last, usage, first_names[rng.randrange(len(first_names))], born.isoformat(),
                keys[last], keys[usage] if usage else "", now,
            ))
            if rng.random() < 0.002:
                samples.append((rows[-1][1], keys[last], born.isoformat()))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO holder (id, nir, nom_naissance, nom_usage, prenoms, date_naissance, search_name,"
            " search_usage, created_at, email, mobile, cpf_acquired_minutes, cpf_reserved_minutes,"
            " cpf_consumed_minutes, dif_total_minutes, dif_reserved_minutes, dif_consumed_minutes, version)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', 0, 0, 0, 0, 0, 0, 1)", rows)
        conn.execute("COMMIT")
    for _name, sql in holder_indexes:
        conn.execute(sql)
    # Files: the first `file_count` go to random holders, all drafts; bench holders get 150 h of CPF.
    file_holders = [rng.randrange(holder_count) + 1 for _ in range(file_count)]
    statuses = ["draft", "validated", "closed"]
    for start in range(0, file_count, CHUNK):
        rows = []
        for n in range(start, min(start + CHUNK, file_count)):
            status = "draft" if n < 5_000 else statuses[n % 3]
            rows.append((
                n + 1, f"DF-2025-{n + 1:06d}", file_holders[n], status, now, now,
                date(2026, 1, 1 + n % 28).isoformat(), date(2026, 2, 1 + n % 28).isoformat(),
            ))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO dossier (id, number, holder_id, organisation_id, establishment_id, training_title,"
            " provider_name, provider_siret, start_date, end_date, duration_minutes, requested_minutes, status,"
            " version, reserved_dif_minutes, reserved_cpf_minutes, closure_reason, created_at, updated_at)"
            " VALUES (?, ?, ?, 1, 1, 'Formation bureautique', 'Organisme de formation', '73282932000074', ?, ?,"
            " 600, 600, ?, 1, 0, 0, '', ?, ?)",
            [(r[0], r[1], r[2], r[6], r[7], r[3], r[4], r[5]) for r in rows])
        conn.execute("COMMIT")
    # Funded holders of the first drafts: movement + projection (the ledger contract).
    funded = sorted(set(file_holders[:5_000]))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO hours_movement (holder_id, kind, bucket, minutes, reference_year, work_ratio_percent, reason,"
        " created_at) VALUES (?, 'cpf_acquisition', 'cpf', 9000, 2020, 100, 'Banc d''essai', ?)",
        [(h, now) for h in funded])
    conn.executemany("UPDATE holder SET cpf_acquired_minutes = 9000 WHERE id = ?", [(h,) for h in funded])
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return {"samples": samples}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values) * 1000, percentile(values, 0.95) * 1000


async def measure(url: str, samples: list[tuple[str, str, str]], queries: int, validations: int) -> dict:
    from tortoise.connection import get_connection

    from cpf_tui import db
    from cpf_tui.services import dossiers, holders
    from cpf_tui.services.context import RequestContext
    from models import Account, Dossier, Profile, Role

    await db.open_database(url)
    try:
        actor = await Account.create(
            identifier="BENCH2026", role=Role.GESTIONNAIRE, profile=Profile.VALIDATION, organisation_id=1,
            establishment_id=1, nom="Banc", prenom="Essai", email="banc@example.fr", password_hash="x",
            password_is_temporary=False,
        )
        ctx = RequestContext(account_id=actor.id)
        conn = get_connection("default")
        rng = random.Random(SEED + 1)
        picks = [samples[rng.randrange(len(samples))] for _ in range(queries)]
        out: dict[str, object] = {}

        async def timed(calls) -> list[list[float]]:
            """Alternate the variants query by query, so that load on the machine hits them alike."""
            times: list[list[float]] = [[] for _ in calls]
            for args in picks:
                for slot, call in zip(times, calls):
                    start = time.perf_counter()
                    await call(*args)
                    slot.append(time.perf_counter() - start)
            return times

        # The raw SQL equivalent of a service call does the same reads on the same connection: the
        # actor's row (the rules re-read it on every call) and the service's own statement.
        actor_sql = "SELECT * FROM account WHERE id = ?"
        nir_sql = f"SELECT {holders._COLUMNS} FROM holder WHERE nir = ?"
        prefix_sql = holders._PREFIX_SQL.format(c=holders._COLUMNS, p1="?1", p2="?2", p3="?3", limit=50)

        async def nir_service(nir, _name, _born):
            assert await holders.search(ctx, nir=nir)

        async def nir_query(nir, _name, _born):
            assert await conn.execute_query_dict(nir_sql, [nir])

        async def nir_raw(nir, name, born):
            assert await conn.execute_query_dict(actor_sql, [actor.id])
            await nir_query(nir, name, born)

        async def prefix_service(_nir, name, born):
            assert await holders.search(ctx, name=name[:3], birth_date=date.fromisoformat(born))

        async def prefix_query(_nir, name, born):
            low = name[:3]
            assert await conn.execute_query_dict(prefix_sql, [low, low[:-1] + chr(ord(low[-1]) + 1), born])

        async def prefix_raw(nir, name, born):
            assert await conn.execute_query_dict(actor_sql, [actor.id])
            await prefix_query(nir, name, born)

        for label, calls in (("nir", (nir_service, nir_raw, nir_query)),
                             ("prefix", (prefix_service, prefix_raw, prefix_query))):
            await timed(calls)  # warm-up: page cache, imports
            service_times, raw_times, query_times = await timed(calls)
            out[label] = {"service": summary(service_times), "raw": summary(raw_times),
                          "query": summary(query_times)}

        ids = await Dossier.filter(status="draft").order_by("id").limit(validations).values_list("id", flat=True)
        start = time.perf_counter()
        validated = 0
        for dossier_id in ids:
            try:
                await dossiers.validate(ctx, dossier_id)
                validated += 1
            except Exception as refused:  # a holder with two drafts may lack hours for the second
                if "Heures insuffisantes" not in str(refused):
                    raise
        out["validate"] = {"seconds": time.perf_counter() - start, "attempted": len(ids), "validated": validated}
        return out
    finally:
        await db.close_database()


def main() -> int:
    parser = argparse.ArgumentParser(description="Banc d'essai : titulaires et dossiers (SQLite).")
    parser.add_argument("--holders", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--validations", type=int, default=1000)
    args = parser.parse_args()
    from cpf_tui import db

    with tempfile.TemporaryDirectory(prefix="cpf-bench-") as folder:
        path = Path(folder) / "bench.sqlite3"
        url = f"sqlite://{path}"
        start = time.perf_counter()
        asyncio.run(db.migrate(url))
        data = generate(path, args.holders, max(args.files, args.validations))
        generation = time.perf_counter() - start
        print(f"Génération : {args.holders} titulaires, {args.files} dossiers en {generation:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} Mo)")
        results = asyncio.run(measure(url, data["samples"], args.queries, args.validations))
    ok = True
    for label, title, goal in (("nir", "Recherche par NIR", GOAL_NIR_P95_MS),
                               ("prefix", "Recherche par début de nom + date (50 premiers)", GOAL_PREFIX_P95_MS)):
        (s_med, s_p95), (r_med, r_p95) = results[label]["service"], results[label]["raw"]
        q_med, q_p95 = results[label]["query"]
        ratio_med, ratio_p95 = s_med / r_med, s_p95 / r_p95
        passed = s_p95 <= goal and ratio_med <= GOAL_RATIO
        ok &= passed
        print(f"{title}, {args.queries} requêtes :\n"
              f"  service  médiane {s_med:.2f} ms, p95 {s_p95:.2f} ms\n"
              f"  SQL brut médiane {r_med:.2f} ms, p95 {r_p95:.2f} ms (relecture de l'acteur + requête)\n"
              f"  requête seule médiane {q_med:.2f} ms, p95 {q_p95:.2f} ms\n"
              f"  ratio service/SQL brut : médiane {ratio_med:.2f}, p95 {ratio_p95:.2f} "
              f"(objectifs : p95 ≤ {goal:g} ms, ratio des médianes ≤ {GOAL_RATIO:g}) {'OK' if passed else 'NON ATTEINT'}")
    v = results["validate"]
    print(f"Validation de {v['attempted']} dossiers à la suite : {v['seconds']:.2f} s "
          f"({v['seconds'] / max(1, v['attempted']) * 1000:.1f} ms par dossier, {v['validated']} validés)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
