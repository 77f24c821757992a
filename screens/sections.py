"""The sections a user may open from home: one list, filtered with the permission table.

Each area adds its entry to `all_sections()`; factories import their screen lazily so that
start-up stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.screen import Screen

from cpf_tui.services.auth import SessionInfo


@dataclass(frozen=True)
class Section:
    """One entry of the home menu."""

    id: str
    label: str
    description: str
    allowed: Callable[[SessionInfo], bool]
    factory: Callable[[], Screen]


def all_sections() -> list[Section]:
    """Every section of the application, in menu order."""
    sections: list[Section] = []
    return sections


def sections_for(info: SessionInfo) -> list[Section]:
    """The sections this user may open, in menu order."""
    return [section for section in all_sections() if section.allowed(info)]
