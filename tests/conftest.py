"""Shared fixtures: a migrated database per test (SQLite file, or PostgreSQL when
CPF_TUI_TEST_PG_URL is set), a controllable clock, settings pointing at tmp_path."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from cpf_tui import clock as clock_module
from cpf_tui import db as db_module
from cpf_tui.clock import FrozenClock
from cpf_tui.config import Settings

pytest_plugins = ["tests.bulk_support", "tests.sandbox_support"]
"""Fixtures of the bulk-habilitation tests (`world`), available to every test module."""

PG_URL = os.environ.get("CPF_TUI_TEST_PG_URL", "")


def _test_audit_key() -> None:
    """One audit key for this test process and the processes it starts (they inherit the variables,
    and a spawned child that imports this module again keeps its parent's key)."""
    import atexit
    import tempfile

    from cpf_tui.services import audit_key

    if os.environ.get("CPF_TEST_AUDIT_KEY_OWNER"):
        return
    os.environ["CPF_TEST_AUDIT_KEY_OWNER"] = str(os.getpid())
    folder = tempfile.mkdtemp(prefix="cpf-tui-test-key-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[audit_key.ENV_VAR] = str(audit_key.create_key(Path(folder) / "audit.key").path)


_test_audit_key()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests (marked `slow`) first, in their order, then the others.

    With `pytest -n 2` the two workers start on the long tests and the short ones fill both to the end;
    collected in file order, a minute-long test could start last and leave one worker idle meanwhile.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _audit_key_of_the_environment():
    """A key installed by a test (the sandbox's, another key) does not outlive it."""
    from cpf_tui.services import audit_key

    yield
    audit_key.install(None)


def _pg_admin_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _pg_execute(url: str, *statements: str) -> None:
    import asyncpg

    parts = urlsplit(url)
    conn = await asyncpg.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
        password=parts.password, database=parts.path.lstrip("/") or "postgres",
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def test_worker(request: pytest.FixtureRequest) -> str:
    """xdist worker name ("master" without xdist, also when xdist is disabled)."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory, test_worker: str) -> str:
    """A database migrated once per test worker; each test gets a copy of it."""
    if PG_URL:
        name = f"cpf_tpl_{test_worker}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
        asyncio.run(db_module.migrate(_pg_admin_url(PG_URL, name)))
        yield name
        asyncio.run(_pg_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(db_module.migrate(f"sqlite://{path}"))
    yield str(path)


@pytest.fixture
def db_url(migrated_template: str, tmp_path: Path) -> str:
    """URL of a fresh, migrated, empty database for this test (not opened)."""
    if PG_URL:
        name = f"cpf_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_execute(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"'))
        yield _pg_admin_url(PG_URL, name)
        asyncio.run(_pg_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    target = tmp_path / "test.sqlite3"
    shutil.copyfile(migrated_template, target)
    yield f"sqlite://{target}"


@pytest.fixture
async def db(db_url: str):
    """The test database, open in Tortoise for the whole test (services and Pilot apps use it)."""
    await db_module.open_database(db_url)
    try:
        yield db_url
    finally:
        await db_module.close_database()


@pytest.fixture
def frozen_clock():
    """Freeze `cpf_tui.clock.now()`; advance it with `frozen_clock.advance(minutes=...)`."""
    fake = FrozenClock()
    clock_module.set_now(fake)
    yield fake
    clock_module.set_now(None)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings for a test: data dir in tmp_path, database of the test."""
    s = Settings()
    s.data_dir = str(tmp_path / "data")
    s.database.url = db_url
    return s


@pytest.fixture
def fast_argon2(monkeypatch):
    """Cheap Argon2 parameters for user passwords in tests (still different from the temporary profile)."""
    from argon2 import PasswordHasher, Type

    from cpf_tui.services import auth, passwords

    fast = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    monkeypatch.setattr(passwords, "user_hasher", lambda: fast)
    monkeypatch.setattr(auth, "_dummy_hash_cache", None)
    return fast


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen]]:
    """The processes a test starts (append them): killed if still running and reaped, pipes closed,
    whatever happens to the test."""
    started: list[subprocess.Popen] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
