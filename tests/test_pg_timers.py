"""asyncpg's timers keep no caller's context (`cpf_tui.pg_client.arm_outside_context`).

A pooled connection's idle timeout and a cached statement's lifetime are asyncio timers of 300 s armed
while the caller's query runs; a timer keeps a copy of the context it was armed from. In the App the
caller is a worker, and that context holds the worker and its screen: they stayed 5 minutes in memory.
"""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (CPF_TUI_TEST_PG_URL)")

CALLER = contextvars.ContextVar("caller")


def asyncpg_timers() -> list[asyncio.TimerHandle]:
    loop = asyncio.get_running_loop()
    return [timer for timer in loop._scheduled  # noqa: SLF001 - the loop's pending timers
            if getattr(timer._callback, "__module__", "").startswith("asyncpg")]  # noqa: SLF001


async def test_a_query_in_a_worker_leaves_no_timer_holding_the_worker(db):
    from tortoise import connections

    async def query() -> None:
        CALLER.set(object())  # what Textual's `active_worker` is to a worker's task
        await connections.get("default").execute_query("SELECT 1 WHERE $1::int > 0", [1])

    await asyncio.create_task(query())
    timers = asyncpg_timers()
    assert timers, "asyncpg armed no timer: the test no longer sees what it checks"
    held = [timer for timer in timers if CALLER in timer._context]  # noqa: SLF001 - the timer's context
    assert held == [], f"{len(held)} of asyncpg's {len(timers)} timers keep the caller's context"
