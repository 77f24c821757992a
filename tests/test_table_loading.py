"""A table's loading indicator shows only for a wait a person would notice (CpfTable.loading_while)."""

from __future__ import annotations

import asyncio

from screens.widgets.table import LOADING_DELAY_SECONDS, CpfTable
from tests.pilot import TableApp


async def test_the_indicator_shows_for_a_slow_read_only():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(CpfTable)
        seen: list[bool] = []
        table.watch(table, "loading", lambda value: seen.append(value), init=False)
        with table.loading_while():  # a quick read: nothing mounted, nothing drawn for it
            await asyncio.sleep(LOADING_DELAY_SECONDS / 10)
        await pilot.pause(LOADING_DELAY_SECONDS * 2)
        assert seen == [] and not table.loading
        with table.loading_while():  # a slow one: the indicator, then the rows
            await pilot.pause(LOADING_DELAY_SECONDS * 2)
            assert table.loading
        assert seen == [True, False] and not table.loading
