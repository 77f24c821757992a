"""The one source of "now" for services, replaceable in tests (no sleeps in tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

_now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # noqa: E731


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _now()


def set_now(source: Callable[[], datetime] | None) -> None:
    """Replace the time source (None restores the system clock)."""
    global _now
    _now = source or (lambda: datetime.now(timezone.utc))


@lru_cache(maxsize=1)
def local_zone() -> tzinfo:
    """The time zone in which dates are shown and typed (metropolitan France; UTC if unknown).

    Times are stored in UTC; every screen, export and filter shows them in this one zone, so the
    same event reads the same everywhere whatever the server's own zone.
    """
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Paris")
    except Exception:  # no time-zone database on this system
        return timezone.utc


def shown(moment: datetime | None, pattern: str = "%d/%m/%Y %H:%M") -> str:
    """A stored moment as users read it (local time), or an em dash when there is none."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(local_zone()).strftime(pattern)


def today() -> date:
    """Today's date where users are (Paris): closures, work queues and the planning compare with it."""
    return now().astimezone(local_zone()).date()


def file_stamp(moment: datetime | None = None) -> str:
    """`AAAAMMJJ-HHMMSS` in Paris time, for the names of the files written for a person (exports, reports)."""
    return shown(moment or now(), "%Y%m%d-%H%M%S")


class FrozenClock:
    """A controllable clock for tests: `clock.advance(minutes=16)`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current
