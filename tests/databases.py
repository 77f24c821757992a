"""Reading a whole SQLite database back, to compare two states (sandbox builds, refused commands)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

VOLATILE_COLUMNS = {"created_at", "updated_at", "published_at", "accepted_at", "at", "password_hash",
                    "prev_hash", "event_hash", "applied_at"}


def dump_database(path: str | Path) -> dict[str, list[tuple]]:
    """Every row of every table, without timestamps set by the database or salted hashes."""
    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out = {}
        for table in tables:
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')
                       if row[1] not in VOLATILE_COLUMNS]
            quoted = ", ".join(f'"{c}"' for c in columns)
            out[table] = [tuple(columns)] + conn.execute(f'SELECT {quoted} FROM "{table}" ORDER BY 1').fetchall()
        return out
    finally:
        conn.close()
