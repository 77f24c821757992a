"""Benchmark: the user tree and search-as-you-type on an organisation of 50,000 gestionnaires.

Usage: `.venv/bin/python bench/users.py [--accounts 50000] [--establishments 20] [--queries 200]`

One organisation, 20 establishments (the head office holds the largest share), 50,000 gestionnaires
bulk-inserted with one precomputed password hash (SQLite file in a temporary folder, migrated with the
real migrations). Measures, through the same service functions the screens call:

- opening the tree (organisation list + establishment nodes with their counts),
- expanding the largest establishment (administrators + first page of gestionnaires),
- search-as-you-type: 200 queries made of growing prefixes of real names (median and p95),

each next to the raw SQL doing the same work on the same connection, and the ratio.
Goals: tree node ≤ 200 ms, search p95 ≤ 50 ms, ORM/raw ≤ 3.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_TREE_MS = 200.0
GOAL_SEARCH_P95_MS = 50.0
GOAL_RATIO = 3.0
ROW_COLUMNS = ", ".join(("id", "identifier", "nom", "prenom", "role", "profile", "status", "establishment_id"))
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def identifier_for(n: int) -> str:
    """A unique 8-character identifier from the real alphabet (deterministic)."""
    chars = []
    for _ in range(8):
        n, rest = divmod(n, len(ALPHABET))
        chars.append(ALPHABET[rest])
    return "".join(reversed(chars))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    """Milliseconds of each run (after one warm-up run)."""
    await call()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def populate(accounts: int, establishments: int, seed: int = 7) -> dict[str, Any]:
    from faker import Faker

    from cpf_tui.services import passwords
    from cpf_tui.services.organisations import search_text_of
    from models import Account, Establishment, Organisation, Profile, Role, StructureType
    from tests.factories import make_siret

    rng = random.Random(seed)
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    last_names = list({fake.last_name() for _ in range(3000)})
    first_names = list({fake.first_name() for _ in range(1500)})
    siren = "732829320"
    org = await Organisation.create(siret=make_siret(siren, 1), siren=siren, raison_sociale="Grand Réseau Formation",
                                    structure_type=StructureType.UNIQUE)
    sites = []
    for i in range(establishments):
        sites.append(await Establishment.create(
            organisation=org, siret=make_siret(siren, 1 + i * 7 if i else 1), name=f"Site {i:02d} — {fake.city()}",
            is_head_office=i == 0,
        ))
    shared_hash = passwords.hash_temporary("Bench-Password-2026")
    principal = await Account.create(
        identifier=identifier_for(0), role=Role.PRINCIPAL_ADMIN, profile=Profile.CLOTURE, organisation=org,
        establishment=sites[0], nom="Principal", prenom="Admin", email="pa@example.fr", password_hash=shared_hash,
        password_is_temporary=False,
    )
    # The head office holds the largest node: a quarter of everyone; the rest is spread evenly.
    largest = accounts // 4
    per_site = [largest] + [(accounts - largest) // (establishments - 1)] * (establishments - 1)
    per_site[-1] += accounts - sum(per_site)
    profiles = list(Profile)
    batch: list[Account] = []
    n = 1
    for site, count in zip(sites, per_site):
        for _ in range(count):
            account = Account(
                identifier=identifier_for(n), role=Role.GESTIONNAIRE, profile=rng.choice(profiles),
                organisation_id=org.id, establishment_id=site.id, nom=rng.choice(last_names),
                prenom=rng.choice(first_names), email=f"agent{n}@exemple.fr", password_hash=shared_hash,
                password_is_temporary=False,
            )
            account.search_text = search_text_of(account, site.name)
            batch.append(account)
            n += 1
            if len(batch) == 2000:
                await Account.bulk_create(batch)
                batch = []
    if batch:
        await Account.bulk_create(batch)
    return {"org": org, "sites": sites, "principal": principal, "largest": sites[0],
            "last_names": last_names, "rng": rng}


async def run(accounts: int, establishments: int, queries: int) -> int:
    from tortoise.connection import connections

    from cpf_tui import db
    from cpf_tui.services import accounts as account_service
    from cpf_tui.services.context import RequestContext
    from cpf_tui.services.organisations import list_organisations
    from cpf_tui.text import fold

    folder = Path(tempfile.mkdtemp(prefix="cpf-bench-users-"))
    url = f"sqlite://{folder / 'bench.sqlite3'}"
    await db.migrate(url)
    await db.open_database(url)
    try:
        start = time.perf_counter()
        world = await populate(accounts, establishments)
        print(f"Données : {accounts} gestionnaires dans {establishments} établissements "
              f"({time.perf_counter() - start:.1f} s d'insertion)")
        conn = connections.get("default")
        ctx = RequestContext(account_id=world["principal"].id)
        org_id, largest_id, actor_id = world["org"].id, world["largest"].id, world["principal"].id
        actor_sql = "SELECT * FROM account WHERE id=?"

        async def orm_open_tree() -> None:
            await account_service.organisation_header(ctx)
            await account_service.establishment_nodes(ctx, org_id)

        async def raw_open_tree() -> None:
            await conn.execute_query(actor_sql, [actor_id])
            await conn.execute_query("SELECT * FROM organisation WHERE id=? LIMIT 2", [org_id])
            await conn.execute_query(actor_sql, [actor_id])
            await conn.execute_query("SELECT 1 FROM organisation WHERE id=? LIMIT 1", [org_id])
            await conn.execute_query(
                "SELECT * FROM establishment WHERE organisation_id=? ORDER BY is_head_office DESC, name, id",
                [org_id])
            await conn.execute_query(
                "SELECT establishment_id, role, status, COUNT(id) FROM account WHERE organisation_id=? "
                "GROUP BY establishment_id, role, status", [org_id])

        async def raw_list() -> None:
            await conn.execute_query(actor_sql, [actor_id])
            await conn.execute_query("SELECT * FROM organisation WHERE id=?", [org_id])
            await conn.execute_query(
                "SELECT organisation_id, COUNT(id) FROM establishment WHERE organisation_id IN (?) "
                "GROUP BY organisation_id", [org_id])
            await conn.execute_query(
                "SELECT organisation_id, COUNT(id) FROM account WHERE organisation_id IN (?) AND status='active' "
                "GROUP BY organisation_id", [org_id])
            await conn.execute_query(
                "SELECT * FROM account WHERE organisation_id IN (?) AND role='principal_admin' AND status='active'",
                [org_id])

        async def orm_expand() -> None:
            await account_service.establishment_accounts(ctx, largest_id)

        async def raw_expand() -> None:
            await conn.execute_query(actor_sql, [actor_id])
            await conn.execute_query("SELECT * FROM establishment WHERE id=? LIMIT 2", [largest_id])
            base = "FROM account WHERE organisation_id=? AND establishment_id=? AND status='active'"
            await conn.execute_query(
                f"SELECT {ROW_COLUMNS} {base} AND role IN ('principal_admin','delegated_admin') "
                "ORDER BY role DESC, nom, prenom, id",
                [org_id, largest_id])
            await conn.execute_query(f"SELECT COUNT(*) {base} AND role='gestionnaire'", [org_id, largest_id])
            await conn.execute_query(
                f"SELECT {ROW_COLUMNS} {base} AND role='gestionnaire' ORDER BY nom, prenom, id LIMIT ? OFFSET ?",
                [org_id, largest_id, account_service.PAGE_SIZE, 0])

        # Search-as-you-type: growing prefixes (2 to 6 letters) of names that exist, plus identifiers.
        rng = world["rng"]
        typed: list[str] = []
        while len(typed) < queries:
            name = fold(rng.choice(world["last_names"]))
            for length in range(2, min(len(name), 6) + 1):
                typed.append(name[:length])
            typed.append(identifier_for(rng.randrange(1, accounts)).lower()[:5])
        typed = typed[:queries]

        async def raw_search(text: str) -> None:
            await conn.execute_query(actor_sql, [actor_id])
            words = fold(text).split()
            where = " AND ".join(["search_text LIKE ? ESCAPE '\\'"] * len(words))
            rows = await conn.execute_query_dict(
                f"SELECT {ROW_COLUMNS} FROM account WHERE organisation_id=? AND NOT role='operator'"
                + (f" AND {where}" if where else "") + " ORDER BY search_text, id LIMIT ?",
                [org_id, *[f"%{w}%" for w in words], account_service.SEARCH_LIMIT],
            )
            ids = sorted({r["establishment_id"] for r in rows if r["establishment_id"]})
            if ids:
                await conn.execute_query(
                    f"SELECT id, name FROM establishment WHERE id IN ({','.join('?' * len(ids))})", ids)

        runs = 20
        results: list[tuple[str, list[float], list[float], float | None]] = []
        # The list of organisations (accounts counted per organisation), as on the back-office screen.
        results.append(("Liste des organismes (comptes comptés)", await timed(lambda: list_organisations(ctx), runs),
                        await timed(raw_list, runs), GOAL_TREE_MS))
        results.append(("Ouvrir l'arbre (organisme + nœuds)", await timed(orm_open_tree, runs),
                        await timed(raw_open_tree, runs), GOAL_TREE_MS))
        results.append(("Déplier le plus gros nœud", await timed(orm_expand, runs), await timed(raw_expand, runs),
                        GOAL_TREE_MS))
        orm_search, raw_search_times = [], []
        await account_service.search_accounts(ctx, "ma", organisation_id=org_id)
        for text in typed:
            t0 = time.perf_counter()
            await account_service.search_accounts(ctx, text, organisation_id=org_id)
            orm_search.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await raw_search(text)
            raw_search_times.append((time.perf_counter() - t0) * 1000)
        results.append((f"Recherche ({len(typed)} frappes)", orm_search, raw_search_times, GOAL_SEARCH_P95_MS))

        ok = True
        print(f"{'Mesure':40} {'ORM méd.':>9} {'ORM p95':>9} {'SQL méd.':>9} {'SQL p95':>9} {'ratio':>6}  objectif")
        for label, orm, raw, goal in results:
            ratio = statistics.median(orm) / max(statistics.median(raw), 1e-6)
            measured = p95(orm)
            verdict = "OK" if measured <= goal and ratio <= GOAL_RATIO else "DÉPASSÉ"
            ok = ok and verdict == "OK"
            print(f"{label:40} {statistics.median(orm):8.1f}ms {measured:8.1f}ms {statistics.median(raw):8.1f}ms "
                  f"{p95(raw):8.1f}ms {ratio:6.2f}  p95 ≤ {goal:.0f} ms, ratio ≤ {GOAL_RATIO:.0f} : {verdict}")
        return 0 if ok else 1
    finally:
        await db.close_database()


def main() -> int:
    parser = argparse.ArgumentParser(description="Arbre des utilisateurs et recherche sur 50 000 gestionnaires.")
    parser.add_argument("--accounts", type=int, default=50000)
    parser.add_argument("--establishments", type=int, default=20)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    return asyncio.run(run(args.accounts, args.establishments, args.queries))


if __name__ == "__main__":
    sys.exit(main())
