"""Password hashing (Argon2id) and temporary passwords (see docs/security.md)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

# RFC 9106 second recommended option ("low-memory"): t=3, m=64 MiB, p=4.
USER_TIME_COST = 3
USER_MEMORY_KIB = 64 * 1024
USER_PARALLELISM = 4
# Temporary passwords carry >= 80 bits of entropy, so a cheap setting does not weaken them.
TEMP_TIME_COST = 1
TEMP_MEMORY_KIB = 64
TEMP_PARALLELISM = 1

TEMP_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"  # 55 symbols
TEMP_LENGTH = 16  # 16 * log2(55) ≈ 92.5 bits


@lru_cache(maxsize=1)
def user_hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=USER_TIME_COST, memory_cost=USER_MEMORY_KIB, parallelism=USER_PARALLELISM, type=Type.ID
    )


@lru_cache(maxsize=1)
def temp_hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=TEMP_TIME_COST, memory_cost=TEMP_MEMORY_KIB, parallelism=TEMP_PARALLELISM, type=Type.ID
    )


def hash_password(password: str) -> str:
    """Hash a password chosen by its user (RFC 9106 low-memory profile)."""
    return str(user_hasher().hash(password))


def hash_temporary(password: str) -> str:
    """Hash a random temporary password (cheap profile, justified by its entropy)."""
    return str(temp_hasher().hash(password))


def verify(password_hash: str, password: str) -> bool:
    """True when `password` matches `password_hash` (any Argon2 parameters)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(user_hasher().verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when a user password hash was made with other parameters than the current ones."""
    return bool(user_hasher().check_needs_rehash(password_hash))


def random_text(alphabet: str, length: int) -> str:
    """`length` symbols drawn uniformly and independently from `alphabet` (at most 256 symbols).

    One `os.urandom` call for the whole string: bytes at or above the largest multiple of the
    alphabet size are rejected, so that `byte % size` stays uniform.
    """
    size = len(alphabet)
    limit = 256 - 256 % size
    symbols: list[str] = []
    while len(symbols) < length:
        for byte in secrets.token_bytes(length - len(symbols) + 8):
            if byte < limit:
                symbols.append(alphabet[byte % size])
                if len(symbols) == length:
                    break
    return "".join(symbols)


def random_texts(alphabet: str, length: int, count: int) -> list[str]:
    """`count` texts as `random_text` draws them (each symbol uniform and independent), from one
    `os.urandom` call per few thousand symbols instead of one per text, the bytes turned into symbols
    by one `bytes.translate` (byte b below the rejection limit gives symbol b mod the alphabet's size)."""
    if not alphabet.isascii():
        return ["".join(symbols) for symbols in zip(*[iter(_symbols(alphabet, length * count))] * length)]
    size = len(alphabet)
    limit = 256 - 256 % size
    table = bytes(ord(alphabet[byte % size]) if byte < limit else 0 for byte in range(256))
    rejected = bytes(range(limit, 256))
    wanted = length * count
    drawn = b""
    while len(drawn) < wanted:
        missing = wanted - len(drawn)
        # Bytes at or above `limit` are rejected: draw a little more than needed.
        drawn += secrets.token_bytes(missing + missing // 8 + 8).translate(table, rejected)
    text = drawn[:wanted].decode("ascii")
    return [text[start : start + length] for start in range(0, wanted, length)]


def _symbols(alphabet: str, wanted: int) -> list[str]:
    """`wanted` symbols of any alphabet of at most 256 symbols, drawn byte by byte."""
    size = len(alphabet)
    limit = 256 - 256 % size
    symbols: list[str] = []
    while len(symbols) < wanted:
        missing = wanted - len(symbols)
        symbols.extend(alphabet[byte % size] for byte in secrets.token_bytes(missing + missing // 8 + 8) if byte < limit)
    return symbols[:wanted]


def _grouped(raw: str) -> str:
    return "-".join(raw[i : i + 4] for i in range(0, TEMP_LENGTH, 4))


def generate_temporary_password() -> str:
    """A random temporary password of about 92 bits, grouped for reading: `Abcd-efgh-ijkm-npqr`."""
    return _grouped(random_text(TEMP_ALPHABET, TEMP_LENGTH))


def generate_temporary_passwords(count: int) -> list[str]:
    """`count` passwords as `generate_temporary_password` draws them, drawn together (`random_texts`)."""
    return [_grouped(raw) for raw in random_texts(TEMP_ALPHABET, TEMP_LENGTH, count)]
