"""The PostgreSQL client of cpf-tui: Tortoise's asyncpg client, told what to do when the server goes away.

When PostgreSQL stops (restart, failover, crash) the open connections break and new ones are refused.
asyncpg's pool opens new connections by itself once the server is back; what this module adds:

- a read outside any transaction (`SELECT`) whose connection is lost is tried again, with a growing
  pause, for up to `READ_RETRY_SECONDS` — a restart of a few seconds goes unnoticed;
- any other statement hit by a lost connection (a write, anything inside a transaction) is never
  replayed: it raises `DatabaseUnavailable`, a French « base indisponible, nouvel essai… » message.
  PostgreSQL applies a transaction whole or not at all, so the write is either entirely there or
  entirely absent; the next action reconnects;
- asyncpg's own warnings while it reconnects go to the log, never to the terminal;
- asyncpg's timers (a pooled connection's idle timeout, a cached statement's lifetime: 300 s each) are
  armed outside the caller's context (`arm_outside_context`): in the App the caller is a worker, and a
  timer keeps the context it was armed from, with the worker, its screen and widgets, until it fires.

`cpf_tui.db.tortoise_config` selects this engine for `postgres://` URLs. Headless: no Textual.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from asyncpg.connection import _StatementCache
from asyncpg.pool import PoolConnectionHolder
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import TransactionContextPooled
from tortoise.connection import get_connections

from cpf_tui.errors import DatabaseUnavailable

READ_RETRY_SECONDS = 8.0
"""How long a read keeps trying while the server is unreachable."""
FIRST_PAUSE_SECONDS = 0.1

logging.getLogger("asyncpg").addHandler(logging.NullHandler())  # never Python's stderr fallback


def arm_outside_context(method: Callable[..., None]) -> Callable[..., None]:
    """`method`, run in an empty context: the asyncio timers it arms keep no context variable's value.

    asyncpg arms a timer at each release of a pooled connection (`max_inactive_connection_lifetime`)
    and for each statement it caches (`max_cached_statement_lifetime`), 300 s each by default. An
    asyncio timer keeps a copy of the context it was armed from; in the App that is a worker's, whose
    `active_worker` holds the worker, hence its screen and widgets: every list and form screen that read
    the database stayed in memory 5 minutes after it was closed."""
    if getattr(method, "outside_context", False):
        return method

    @functools.wraps(method)
    def armed(*args: Any) -> None:
        contextvars.Context().run(method, *args)

    armed.outside_context = True
    return armed


PoolConnectionHolder._setup_inactive_callback = arm_outside_context(  # type: ignore[method-assign]
    PoolConnectionHolder._setup_inactive_callback)
_StatementCache._set_entry_timeout = arm_outside_context(_StatementCache._set_entry_timeout)


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the server went away, rather than refusing a statement."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                            asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
                            asyncpg.ConnectionDoesNotExistError)):
            return True
        if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


def _is_read(func: Any, args: tuple[Any, ...]) -> bool:
    if getattr(func, "__name__", "") not in ("execute_query", "execute_query_dict"):
        return False
    return bool(args) and isinstance(args[0], str) and args[0].lstrip().upper().startswith("SELECT")


class _Resilient:
    """The exception translation shared by the client and its transactions."""

    async def _translate_exceptions(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        retrying = not isinstance(self, TransactionWrapper) and _is_read(func, args)
        pause = FIRST_PAUSE_SECONDS
        waited = 0.0
        while True:
            try:
                return await super()._translate_exceptions(func, *args, **kwargs)  # type: ignore[misc]
            except DatabaseUnavailable:
                raise
            except Exception as exc:
                if not connection_lost(exc):
                    raise
                if not retrying or waited >= READ_RETRY_SECONDS:
                    raise DatabaseUnavailable() from exc
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 2.0)


class ResilientTransactionWrapper(_Resilient, TransactionWrapper):
    """A transaction: a lost connection becomes DatabaseUnavailable (never replayed)."""


class _TransactionContext(TransactionContextPooled):
    """Tortoise's pooled transaction context, whose start and end always restore the connection context.

    Tortoise releases the connection to the pool, then resets the context variable that makes the
    transaction current. When the server went away, the release itself can fail: the reset was then
    skipped, the dead transaction stayed current, and every later transaction of the process became a
    savepoint on a released connection (« connection has been released back to the pool »).

    The same happened when `BEGIN` itself failed (the server stopped between two transactions): Tortoise
    makes the transaction current before `BEGIN`, and a failed `__aenter__` has no `__aexit__`. The
    connection is then given back to the pool and the context restored before the error goes on.
    """

    async def __aenter__(self) -> Any:
        try:
            return await super().__aenter__()
        except BaseException:
            connection = getattr(self.client, "_connection", None)
            pool = self.client._parent._pool  # noqa: SLF001
            try:
                if connection is not None and pool:
                    await pool.release(connection)
            except Exception:  # noqa: BLE001 - the server is gone: the pool drops the connection itself
                pass
            finally:
                token = getattr(self, "token", None)
                if token is not None and not getattr(token, "_used", True):
                    get_connections().reset(token)
            raise

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        except BaseException:
            token = self.token
            if token is not None and not getattr(token, "_used", True):
                get_connections().reset(token)
            raise


class ResilientAsyncpgClient(_Resilient, AsyncpgDBClient):
    """Tortoise's asyncpg client whose reads survive a short server restart."""

    def _in_transaction(self) -> TransactionContextPooled:
        return _TransactionContext(ResilientTransactionWrapper(self), self._pool_init_lock)


client_class = ResilientAsyncpgClient
