"""Who is acting: passed by screens and the CLI to every service call; what the UI knows of the session.

No ORM here: the App imports it before its first frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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


@dataclass(frozen=True)
class QueueItem:
    """One line of a work queue: what it opens (`kind` "dossier" or "account", `target_id`) and its text."""

    kind: str
    target_id: int
    text: str


@dataclass(frozen=True)
class WorkQueue:
    """A queue of home (`services.work_queues`): its title, the number of items waiting and the first of them."""

    id: str
    title: str
    count: int
    items: tuple[QueueItem, ...]


@dataclass(frozen=True)
class SessionInfo:
    """What the UI knows about the logged-in user (plain values, re-checked by every service)."""

    account_id: int
    identifier: str
    full_name: str
    role: str
    role_label: str
    profile: str
    profile_label: str
    organisation_label: str
    establishment_label: str
    session_token: str = ""
    nom: str = ""
    prenom: str = ""
    email: str = ""
    cgu_version_required: int = 0
    """0 when the newest CGU was accepted, else the version to accept before anything else."""
    must_change_password: bool = False
    """True while the password is temporary: the password screen comes before home."""
    expires_at: datetime | None = None
    """Hard end of the session."""
    home_queues: tuple[WorkQueue, ...] | None = field(default=None, compare=False, repr=False)
    """Home's work queues as read during the password check (None: not read, home reads them itself)."""

    @property
    def first_login_pending(self) -> bool:
        """Whether the CGU or the new password are still due (nothing else is open until they are done)."""
        return bool(self.cgu_version_required) or self.must_change_password
