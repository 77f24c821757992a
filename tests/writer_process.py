"""A separate writer process for the backup and fault tests: `python -m tests.writer_process URL COUNT`.

Creates COUNT / 5 holders, then records COUNT CPF acquisitions (five years per holder), each one a
ledger movement, the holder's new balance and an audit event in one transaction, exactly as the
Caisse des dépôts feed does. After each commit it prints the number of writes done (flushed), so
the test knows how far it got.

When the database is unavailable (`DatabaseUnavailable`, PostgreSQL stopped) it prints
`indisponible: <message>` and tries the same write again, like a person pressing the key again,
for at most RETRY_SECONDS. If that write had in fact been committed just before the connection was
lost, the retry is refused as already recorded: it prints `déjà N` and goes on (written once).

With `--limite-octets N` the writer then limits the size of the files it writes to N bytes
(RLIMIT_FSIZE, after a checkpoint that empties the SQLite write-ahead log): the disk is soon "full".
When the disk is full (`StorageFull`) it prints `plein: <message>` and goes on with the next write;
after FULL_LIMIT of them it reads the database once (`lecture N`: the process still works) and stops.
Not a test module.
"""

from __future__ import annotations

import asyncio
import sys
import time

YEARS = tuple(range(2015, 2020))
"""Five full-time years: 24 h each, below the 120 h threshold, so every write credits hours."""
RETRY_SECONDS = 60.0
FULL_LIMIT = 5


def _fill_the_disk_soon(url: str, limit: int) -> None:
    import resource
    import sqlite3

    conn = sqlite3.connect(url[len("sqlite://"):])
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


async def write(url: str, count: int, size_limit: int = 0) -> None:
    from cpf_tui import db
    from cpf_tui.errors import Conflict, DatabaseUnavailable, StorageFull
    from cpf_tui.services.context import RequestContext
    from cpf_tui.services.ledger import record_cpf_acquisition
    from models import Holder
    from tests.factories import make_holder

    ctx = RequestContext(terminal="cli")
    await db.open_database(url)
    try:
        holders = [await make_holder() for _ in range((count + len(YEARS) - 1) // len(YEARS))]
        if size_limit:
            _fill_the_disk_soon(url, size_limit)
        print("holders", flush=True)
        done = 0
        full = 0
        for year in YEARS:
            for holder in holders:
                if done == count:
                    return
                deadline = time.monotonic() + RETRY_SECONDS
                interrupted = False
                while True:
                    try:
                        assert await record_cpf_acquisition(ctx, holder.id, year) > 0
                        break
                    except DatabaseUnavailable as exc:
                        print(f"indisponible: {exc.message}", flush=True)
                        if time.monotonic() > deadline:
                            raise
                        interrupted = True
                        await asyncio.sleep(0.1)
                    except Conflict:
                        if not interrupted:
                            raise
                        print(f"déjà {done + 1}", flush=True)
                        break
                    except StorageFull as exc:
                        print(f"plein: {exc.message}", flush=True)
                        full += 1
                        break
                if full:
                    if full >= FULL_LIMIT:
                        print(f"lecture {await Holder.all().count()}", flush=True)
                        return
                    continue
                done += 1
                print(done, flush=True)
    finally:
        await db.close_database()


if __name__ == "__main__":
    limit = int(sys.argv[4]) if sys.argv[3:4] == ["--limite-octets"] else 0
    asyncio.run(write(sys.argv[1], int(sys.argv[2]), limit))
