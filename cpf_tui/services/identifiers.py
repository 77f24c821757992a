"""Account identifiers: short, unique forever, easy to read aloud (no 0/O, 1/I/L confusion)."""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0 O 1 I L
LENGTH = 8


def new_identifier(rng: secrets.SystemRandom | None = None) -> str:
    """A random identifier such as `K7MP4XQ2` (31^8 ≈ 8.5e11 possibilities)."""
    choice = (rng or secrets.SystemRandom()).choice
    return "".join(choice(ALPHABET) for _ in range(LENGTH))


def normalise_identifier(typed: str) -> str:
    """What the user typed, as stored: upper case, without spaces or dashes."""
    return "".join(typed.split()).replace("-", "").upper()


async def allocate_identifier(rng: secrets.SystemRandom | None = None) -> str:
    """A fresh identifier not used by any account (deactivated ones included)."""
    from models import Account

    for _ in range(20):
        candidate = new_identifier(rng)
        if not await Account.filter(identifier=candidate).exists():
            return candidate
    raise RuntimeError("identifier space exhausted")
