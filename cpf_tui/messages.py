"""Facts that cross screens, named in the past tense: a screen posts them to the App, which moves on.

Screens never call App methods to say what happened; the App's handlers (`CpfApp.on_…`) decide what
comes next (first-login steps, home, the login screen).
"""

from __future__ import annotations

from textual.message import Message

from cpf_tui.services.context import SessionInfo


class LoggedIn(Message):
    """The login screen checked the password: `info` describes the new session."""

    def __init__(self, info: SessionInfo) -> None:
        super().__init__()
        self.info = info


class CguAccepted(Message):
    """The CGU screen recorded the acceptance of the newest version."""


class PasswordChanged(Message):
    """The password screen changed the password (`mandatory`: the first-login step)."""

    def __init__(self, *, mandatory: bool) -> None:
        super().__init__()
        self.mandatory = mandatory


class Unlocked(Message):
    """The lock screen checked the password: the session goes on where it was."""


class LoggedOut(Message):
    """The user ended the session (or refused the CGU); `notice` is shown on the login screen."""

    def __init__(self, notice: str, *, reason: str = "logout") -> None:
        super().__init__()
        self.notice = notice
        self.reason = reason
