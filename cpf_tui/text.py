"""Text helpers shared by services: normalisation for search and safe display of user data."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def fold(text: str) -> str:
    """Lower-case, accents removed, spaces collapsed: the key used for searching."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.lower().split())


def has_control_chars(text: str) -> bool:
    """True when text holds control characters (escape sequences included) other than tab/newline."""
    return bool(_CONTROL.search(text))


def clean_line(text: str) -> str:
    """Trim a one-line input: non-breaking spaces become spaces, outer blanks removed."""
    return text.replace("\u00a0", " ").replace("\u202f", " ").strip()
