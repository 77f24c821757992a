"""The one source of "now" for services, replaceable in tests (no sleeps in tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

_now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # noqa: E731


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _now()


def set_now(source: Callable[[], datetime] | None) -> None:
    """Replace the time source (None restores the system clock)."""
    global _now
    _now = source or (lambda: datetime.now(timezone.utc))


class FrozenClock:
    """A controllable clock for tests: `clock.advance(minutes=16)`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current
