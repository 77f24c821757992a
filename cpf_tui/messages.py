"""Cross-screen facts, named in the past tense (posted on the App)."""

from __future__ import annotations

from textual.message import Message


class LoggedIn(Message):
    """A user has logged in and reached (or is about to reach) home."""

    def __init__(self, account_id: int) -> None:
        super().__init__()
        self.account_id = account_id


class LoggedOut(Message):
    """The session ended (user's choice, lock, or logged out by the system)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason


class DatabaseReady(Message):
    """The database is open and its schema is current."""
