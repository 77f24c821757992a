"""Serialising transactions: every write service's transaction, on SQLite or PostgreSQL.

`in_transaction()` issues a deferred `BEGIN` on SQLite: two processes may both read a balance and then
both write, or the second one fails with *database is locked* when it upgrades its read lock.
`serialised_transaction()` takes the writer lock up front with `BEGIN IMMEDIATE` (busy timeout, then a
few bounded retries, then a clear French message). On PostgreSQL it is an ordinary transaction, and
`lock_holder()` takes the holder's row with `SELECT … FOR UPDATE`, so validations racing on the same
holder run one after the other while other holders are untouched.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from cpf_tui.errors import Conflict, CpfError

BUSY_TIMEOUT_MS = 5000
"""How long SQLite waits for another writer before `BEGIN IMMEDIATE` gives up once."""
RETRIES = 4
"""Further attempts after a busy timeout before the user gets DatabaseBusy."""
RETRY_BACKOFF_SECONDS = 0.05
"""First pause between attempts; doubles each time."""

BUSY_MESSAGE = (
    "La base de données est momentanément occupée par d'autres enregistrements : "
    "rien n'a été modifié, réessayez dans quelques instants."
)


class DatabaseBusy(Conflict):
    """Another writer held the database for too long; nothing was changed."""


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def is_storage_full(exc: BaseException) -> bool:
    """SQLite could not write: disk full, quota or file-size limit (EFBIG shows as a disk I/O error)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (28, 27, 122):  # ENOSPC, EFBIG, EDQUOT
            return True
        text = str(seen).lower()
        if "database or disk is full" in text or "disk i/o error" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _connection(connection_name: str | None) -> Any:
    from tortoise.transactions import _get_connection

    return _get_connection(connection_name)


def is_sqlite(connection: Any) -> bool:
    """Whether a Tortoise client (or transaction wrapper) talks to SQLite."""
    return bool(connection.capabilities.dialect == "sqlite")


class _ImmediateTransaction:
    """Like Tortoise's SqliteTransactionContext, but the transaction starts with BEGIN IMMEDIATE."""

    def __init__(self, client: Any, busy_timeout_ms: int, retries: int) -> None:
        from tortoise.backends.sqlite.client import SqliteTransactionWrapper

        self.client = client
        self.wrapper = SqliteTransactionWrapper(client)
        self.busy_timeout_ms = busy_timeout_ms
        self.retries = retries
        self.token: Any = None

    async def _begin_immediate(self, raw: Any) -> None:
        await raw.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        delay = RETRY_BACKOFF_SECONDS
        for attempt in range(self.retries + 1):
            try:
                await raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == self.retries:
                    if _is_busy(exc):
                        raise DatabaseBusy(BUSY_MESSAGE) from None
                    raise
            await asyncio.sleep(delay)
            delay *= 2

    async def __aenter__(self) -> Any:
        from tortoise.connection import get_connections

        # The client's asyncio lock serialises this process's tasks (as Tortoise does), then
        # BEGIN IMMEDIATE serialises the processes sharing the file.
        await self.client._lock.acquire()  # noqa: SLF001 - the lock Tortoise's own transactions take
        try:
            if not self.client._connection:  # noqa: SLF001
                await self.client.create_connection(with_db=True)
            self.wrapper._connection = self.client._connection  # noqa: SLF001
            raw = self.wrapper._connection  # noqa: SLF001
            if raw.in_transaction:
                await raw.commit()
            await self._begin_immediate(raw)
        except BaseException:
            self.client._lock.release()  # noqa: SLF001
            raise
        self.token = get_connections().set(self.wrapper.connection_name, self.wrapper)
        return self.wrapper

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        from tortoise.connection import get_connections
        from tortoise.exceptions import TransactionManagementError

        try:
            if not self.wrapper._finalized:  # noqa: SLF001
                if exc_type:
                    if exc_type is not TransactionManagementError:
                        await self.wrapper.rollback()
                else:
                    await self.wrapper.commit()
        finally:
            get_connections().reset(self.token)
            self.client._lock.release()  # noqa: SLF001


@asynccontextmanager
async def serialised_transaction(
    connection_name: str | None = None,
    *,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    retries: int = RETRIES,
) -> AsyncIterator[Any]:
    """A transaction that holds the writer lock (SQLite) from its first statement; yields the connection.

    Nested inside another transaction it becomes a savepoint of that transaction. On PostgreSQL it is
    a plain transaction: call `lock_holder()` first to serialise on one holder.
    """
    from tortoise.backends.base.client import TransactionalDBClient
    from tortoise.transactions import in_transaction

    client = _connection(connection_name)
    if is_sqlite(client) and not isinstance(client, TransactionalDBClient):
        try:
            async with _ImmediateTransaction(client, busy_timeout_ms, retries) as conn:
                yield conn
        except CpfError:
            raise
        except Exception as exc:
            if is_storage_full(exc):  # the transaction was rolled back whole: say so in French
                from cpf_tui.errors import StorageFull

                raise StorageFull() from exc
            raise
        return
    try:
        async with in_transaction(connection_name) as conn:
            yield conn
    except CpfError:
        raise
    except Exception as exc:  # PostgreSQL: lock timeout, deadlock or serialisation failure
        from cpf_tui.pg_client import connection_lost

        if connection_lost(exc):  # the server went away: the transaction is whole or absent, never half
            from cpf_tui.errors import DatabaseUnavailable

            raise DatabaseUnavailable() from exc
        text = str(exc).lower()
        if any(word in text for word in ("deadlock", "could not serialize", "lock timeout", "locked")):
            raise DatabaseBusy(BUSY_MESSAGE) from None
        raise


async def lock_holder(holder_id: int, conn: Any) -> Any:
    """The holder, re-read inside `conn`; on PostgreSQL its row stays locked until the transaction ends.

    Returns None when no such holder exists.
    """
    from models import Holder

    query = Holder.filter(id=holder_id)
    if not is_sqlite(conn):
        query = query.select_for_update()
    return await query.using_db(conn).first()
