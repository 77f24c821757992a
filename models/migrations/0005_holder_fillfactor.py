"""PostgreSQL: holder pages keep half their room free, so that a change of balance is a HOT update.

A holder's balances change at every yearly hours credit (a million rows at once from the CDC feed) and at
every reservation, consumption or release of a file. On a table whose pages are full, PostgreSQL writes
each new row version on another page and adds it to all four indexes of `holder`; with room on the page
and no indexed column changed (balances and version are not indexed), the update is "heap-only" and no
index is touched. Measured (docs/benchmarks.md, 100,000 holders credited): the crediting statement
6.2 s -> 3.3 s with a fill factor of 50 (70 gave 5.0 s). The table takes about twice the room.

The setting applies to pages written from now on: an existing installation gets it for its whole table
by `VACUUM FULL holder` in a maintenance window (docs/deploy.md). SQLite has no such setting: nothing.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

HOLDER_FILLFACTOR = 50


async def _set_fillfactor(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(f"ALTER TABLE holder SET (fillfactor = {HOLDER_FILLFACTOR})")


async def _reset_fillfactor(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script("ALTER TABLE holder RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("models", "0004_audit_establishment")]

    initial = False

    operations = [ops.RunPython(_set_fillfactor, _reset_fillfactor)]
