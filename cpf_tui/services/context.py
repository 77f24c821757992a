"""Who is acting: passed by screens and the CLI to every service call."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """The acting account (re-read from the database by each service) and where the request comes from.

    `account_id` is None for system actions (CLI bootstrap, reference data, anonymous login attempts).
    """

    account_id: int | None = None
    session_token: str = ""
    ssh_user: str = ""
    ssh_key_fingerprint: str = ""
    terminal: str = ""
    peer: str = ""
    """Network address of the SSH client (`ip:port`), empty for a local terminal."""

    def as_account(self, account_id: int, session_token: str = "") -> RequestContext:
        """The same origin, now acting as `account_id` (after a successful login)."""
        return RequestContext(
            account_id=account_id,
            session_token=session_token or self.session_token,
            ssh_user=self.ssh_user,
            ssh_key_fingerprint=self.ssh_key_fingerprint,
            terminal=self.terminal,
            peer=self.peer,
        )


SYSTEM = RequestContext()
