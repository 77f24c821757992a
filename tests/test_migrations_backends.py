"""The committed migrations apply on both back-ends and create the rules the models rely on.

SQLite always; PostgreSQL when CPF_TUI_TEST_PG_URL points at a server (one throw-away database).
Checked on each: every migration applied once, the CHECK constraints of the models, and the partial
unique index "one active principal administrator per organisation".
"""

from __future__ import annotations

import inspect
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

import models
from cpf_tui import db as db_module

PG_URL = os.environ.get("CPF_TUI_TEST_PG_URL", "")
PARTIAL_INDEX = "uq_account_one_active_principal"
MIGRATIONS = sorted(p.stem for p in (Path(models.__file__).parent / "migrations").glob("0*.py"))


def expected_checks() -> dict[str, str]:
    """Constraint name -> table, from the models' Meta (the source of truth)."""
    checks: dict[str, str] = {}
    for _, cls in inspect.getmembers(models, inspect.isclass):
        if issubclass(cls, Model) and cls is not Model:
            for constraint in getattr(cls._meta, "constraints", None) or []:
                if isinstance(constraint, CheckConstraint):
                    checks[constraint.name] = cls._meta.db_table
    return checks


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _pg_connect(url: str):
    import asyncpg

    parts = urlsplit(url)
    return await asyncpg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
                                 password=parts.password, database=parts.path.lstrip("/") or "postgres")


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each back-end (nothing migrated yet)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        return
    if not PG_URL:
        pytest.skip("CPF_TUI_TEST_PG_URL non défini : migrations PostgreSQL non vérifiées")
    name = f"cpf_mig_{uuid.uuid4().hex[:12]}"
    admin = await _pg_connect(PG_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(PG_URL, name)
    finally:
        admin = await _pg_connect(PG_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def schema_facts(url: str) -> tuple[dict[str, str], str]:
    """(CHECK constraint name -> table, definition of the partial unique index) as the database reports them."""
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url[len("sqlite://"):])
        try:
            tables = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
            index = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                                 (PARTIAL_INDEX,)).fetchone()
        finally:
            conn.close()
        checks = {name: table for name in expected_checks() for table, sql in tables.items()
                  if sql and f"CONSTRAINT {name} CHECK" in sql.replace('"', "").replace("`", "")}
        return checks, index[0] if index else ""
    conn = await _pg_connect(url)
    try:
        rows = await conn.fetch(
            "SELECT c.conname, t.relname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "WHERE c.contype = 'c'"
        )
        index = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", PARTIAL_INDEX)
    finally:
        await conn.close()
    return {row["conname"]: row["relname"] for row in rows}, index or ""


async def test_every_migration_applies_once(fresh_url: str) -> None:
    assert MIGRATIONS[:2] == ["0001_initial", "0002_one_active_principal_admin"]
    assert await db_module.migrate(fresh_url) == MIGRATIONS
    assert await db_module.migrate(fresh_url) == []


async def test_check_constraints_and_partial_unique_index_exist(fresh_url: str) -> None:
    await db_module.migrate(fresh_url)
    checks, index = await schema_facts(fresh_url)
    expected = expected_checks()
    assert len(expected) >= 4
    for name, table in expected.items():
        assert checks.get(name) == table, f"contrainte {name} absente de {table}"
    normalised = " ".join(index.replace('"', "").split()).lower()
    assert normalised.startswith("create unique index uq_account_one_active_principal on")
    assert "(organisation_id)" in normalised
    assert "where" in normalised and "principal_admin" in normalised and "active" in normalised


async def test_the_partial_unique_index_refuses_a_second_active_principal(fresh_url: str) -> None:
    """The rule itself, written as raw SQL on each back-end: a second active principal is refused,
    a deactivated one is accepted."""
    await db_module.migrate(fresh_url)
    now = "2026-01-15 09:00:00"
    columns = ("identifier, role, profile, status, organisation_id, nom, prenom, email, phone, service, search_text, "
               "password_hash, password_is_temporary, failed_attempts, credentials_epoch, version, created_at")

    def row(identifier: str, status: str) -> tuple:
        return (identifier, "principal_admin", "cloture", status, 1, "Nom", "Prénom", f"{identifier}@example.fr",
                "", "", "", "x", True, 0, 0, 1, now)

    if fresh_url.startswith("sqlite://"):
        conn = sqlite3.connect(fresh_url[len("sqlite://"):])
        try:
            org_columns = [r[1] for r in conn.execute("PRAGMA table_info(organisation)")]
            assert "id" in org_columns
            conn.execute("PRAGMA foreign_keys = OFF")  # only the account rule is under test here
            marks = ", ".join("?" * 17)
            conn.execute(f"INSERT INTO account ({columns}) VALUES ({marks})", row("PRNCAAA1", "active"))
            conn.execute(f"INSERT INTO account ({columns}) VALUES ({marks})", row("PRNCAAA2", "deactivated"))
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(f"INSERT INTO account ({columns}) VALUES ({marks})", row("PRNCAAA3", "active"))
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute("UPDATE account SET failed_attempts = -1 WHERE identifier = 'PRNCAAA1'")
        finally:
            conn.close()
        return
    import asyncpg

    conn = await _pg_connect(fresh_url)
    try:
        await conn.execute("SET session_replication_role = replica")  # foreign keys off for this check
        marks = ", ".join(f"${i}" for i in range(1, 18))

        def pg_row(identifier: str, status: str) -> tuple:
            from datetime import datetime, timezone

            values = list(row(identifier, status))
            values[-1] = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
            return tuple(values)

        await conn.execute(f"INSERT INTO account ({columns}) VALUES ({marks})", *pg_row("PRNCAAA1", "active"))
        await conn.execute(f"INSERT INTO account ({columns}) VALUES ({marks})", *pg_row("PRNCAAA2", "deactivated"))
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(f"INSERT INTO account ({columns}) VALUES ({marks})", *pg_row("PRNCAAA3", "active"))
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE account SET failed_attempts = -1 WHERE identifier = 'PRNCAAA1'")
    finally:
        await conn.close()


async def test_holder_pages_keep_room_for_balance_updates_on_postgresql(fresh_url: str) -> None:
    """Migration 0005: PostgreSQL's holder table has a fill factor of 50 (HOT updates of balances);
    SQLite has no such setting and the migration leaves it as it is."""
    await db_module.migrate(fresh_url)
    if fresh_url.startswith("sqlite://"):
        conn = sqlite3.connect(fresh_url[len("sqlite://"):])
        try:
            assert conn.execute("SELECT COUNT(*) FROM holder").fetchone() == (0,)
        finally:
            conn.close()
        return
    conn = await _pg_connect(fresh_url)
    try:
        options = await conn.fetchval("SELECT reloptions FROM pg_class WHERE relname = 'holder'")
    finally:
        await conn.close()
    assert options == ["fillfactor=50"]
