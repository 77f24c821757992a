"""Account identifiers: short, unique forever, easy to read aloud (no 0/O, 1/I/L confusion)."""

from __future__ import annotations

import secrets
from typing import Any, cast

from cpf_tui.services.passwords import random_text, random_texts
from cpf_tui.text import display

from models import Account
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0 O 1 I L
LENGTH = 8
CHECK_BATCH = 500
"""Identifiers checked against the database per query in `allocate_identifiers`."""
MAX_ROUNDS = 20


def new_identifier(rng: secrets.SystemRandom | None = None) -> str:
    """A random identifier such as `K7MP4XQ2` (31^8 ≈ 8.5e11 possibilities)."""
    if rng is None:
        return random_text(ALPHABET, LENGTH)
    return "".join(rng.choice(ALPHABET) for _ in range(LENGTH))


def normalise_identifier(typed: str) -> str:
    """What the user typed, as stored: upper case, without spaces or dashes.

    Control and bidi characters are written out (`\\x1b`): such an identifier never matches an
    account (the login fails like any other) and the journal stores it inert.
    """
    return display("".join(typed.split()).replace("-", "").upper())


async def allocate_identifier(rng: secrets.SystemRandom | None = None) -> str:
    """A fresh identifier not used by any account (deactivated ones included)."""
    return (await allocate_identifiers(1, rng=rng))[0]


async def allocate_identifiers(
    count: int, *, using_db: Any = None, rng: secrets.SystemRandom | None = None
) -> list[str]:
    """`count` distinct fresh identifiers, none used by any account (deactivated ones included).

    Drawn in memory, then checked against the database `CHECK_BATCH` at a time; the few already
    taken are drawn again and checked in turn.
    """

    chosen: list[str] = []
    seen: set[str] = set()
    wanted = count
    for _ in range(MAX_ROUNDS):
        candidates: list[str] = []
        while len(candidates) < wanted:
            drawn = (
                [new_identifier(rng) for _ in range(wanted - len(candidates))]
                if rng is not None
                else random_texts(ALPHABET, LENGTH, wanted - len(candidates))
            )
            for candidate in drawn:
                if candidate not in seen:
                    seen.add(candidate)
                    candidates.append(candidate)
        taken: set[str] = set()
        for start in range(0, len(candidates), CHECK_BATCH):
            taken.update(await _taken(candidates[start : start + CHECK_BATCH], using_db))
        chosen.extend(candidate for candidate in candidates if candidate not in taken)
        wanted = count - len(chosen)
        if wanted == 0:
            return chosen
    raise RuntimeError("identifier space exhausted")


async def _taken(candidates: list[str], using_db: Any) -> list[str]:
    """Which of `candidates` are already some account's identifier: one query (on the caller's
    transaction `using_db`, as plain SQL with bound parameters; through the ORM without one)."""
    if using_db is None:
        found = await Account.filter(identifier__in=candidates).values_list("identifier", flat=True)
        return cast(list[str], found)
    table = Account._meta.db_table  # noqa: SLF001
    if using_db.capabilities.dialect == "postgres":
        query = f'SELECT "identifier" FROM "{table}" WHERE "identifier" = ANY($1::text[])'
        _, rows = await using_db.execute_query(query, [candidates])
    else:
        marks = ",".join("?" * len(candidates))
        _, rows = await using_db.execute_query(f'SELECT "identifier" FROM "{table}" WHERE "identifier" IN ({marks})',
                                               candidates)
    return [row[0] for row in rows]
