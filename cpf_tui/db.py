"""Database lifecycle: Tortoise configuration, opening/closing, built-in migrations, schema check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cpf_tui.errors import DatabaseBehind

APP_LABEL = "models"
MIGRATIONS_MODULE = "models.migrations"


def normalise_url(url: str) -> str:
    """Accept `postgresql://` as an alias; a new SQLite file is created private (0600, folder 0700).

    SQLite gives its `-wal` and `-shm` files the mode of the database file. An existing file keeps its
    mode here (`cpf-tui init` restricts it).
    """
    from cpf_tui.private_files import ensure_private_file

    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    if url.startswith("sqlite://") and ":memory:" not in url:
        ensure_private_file(Path(url[len("sqlite://") :].split("?", 1)[0]))
    return url


def tortoise_config(url: str) -> dict[str, Any]:
    """The Tortoise configuration for one database URL (one app, `models`, with its migrations)."""
    connection: str | dict[str, Any] = normalise_url(url)
    if connection.startswith("postgres://"):
        from tortoise.backends.base.config_generator import expand_db_url

        # Tortoise's asyncpg client, plus reads that survive a restart and a French error (pg_client).
        connection = {**expand_db_url(connection), "engine": "cpf_tui.pg_client"}
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": ["models"],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def forget_cached_statements() -> None:
    """Drop Tortoise's per-model statement cache before (re)initialising a connection.

    Tortoise caches each model's INSERT/DELETE SQL under the connection *name* ("default"), not its
    dialect: after a SQLite database was used in this process, a PostgreSQL one opened under the same
    name would be sent SQLite placeholders (`?`). The cache refills itself on first use.
    """
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    EXECUTOR_CACHE.clear()


async def init_context(ctx: Any, url: str) -> None:
    """Initialise a private `TortoiseContext` on `url` (sandbox building, sample files)."""
    forget_cached_statements()
    await ctx.init(config=tortoise_config(url))


async def open_database(url: str) -> bool:
    """Initialise Tortoise on `url` unless a database is already open; True when this call opened it.

    The context is registered as Tortoise's global fallback, so every Textual task and worker sees it.
    """
    from tortoise.context import get_current_context

    current = get_current_context()
    if current is not None and current.inited:
        return False
    from tortoise import Tortoise

    forget_cached_statements()
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    return True


async def close_database() -> None:
    """Close the connections of the current context and forget it."""
    from tortoise.context import get_current_context

    ctx = get_current_context()
    if ctx is not None:
        await ctx.close_connections()
        ctx._apps = None  # noqa: SLF001 - Tortoise 1.x has no public "forget apps" call
        ctx._inited = False  # noqa: SLF001
        try:
            ctx.__exit__(None, None, None)
        except ValueError:
            # Opened in another task's context (the App opens it in a worker, closes it on unmount):
            # the context variable belongs to that task, only the token is left to forget.
            ctx._token = None  # noqa: SLF001


async def pending_migrations() -> list[str]:
    """Names of the committed migrations not yet applied to the open database."""
    from tortoise.connection import get_connection
    from tortoise.migrations.executor import MigrationExecutor

    config = tortoise_config("sqlite://:memory:")["apps"]
    executor = MigrationExecutor(get_connection("default"), config)
    steps = await executor.plan()
    return [step.migration.name for step in steps if not step.backward]


async def ensure_schema_current() -> None:
    """Raise DatabaseBehind (French message) when migrations are pending."""
    pending = await pending_migrations()
    if pending:
        raise DatabaseBehind(
            "La base de données n'est pas à jour ("
            + ", ".join(pending)
            + " à appliquer). Lancez « cpf-tui migrate » (ou « cpf-tui init » pour une base neuve)."
        )


async def migrate(url: str) -> list[str]:
    """Apply every pending migration to `url` in a context of its own; returns the names applied."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.api import migrate as migrate_api

    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(name)

    forget_cached_statements()
    async with TortoiseContext():
        await migrate_api(config=tortoise_config(url), progress=progress)
    return applied
