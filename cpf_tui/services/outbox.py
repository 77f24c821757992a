"""The outbox: e-mails written in the same transaction as the change that causes them."""

from __future__ import annotations

from typing import Any

from cpf_tui import clock


async def enqueue(
    *,
    kind: str,
    to_address: str,
    subject: str,
    body: str,
    contains_secret: bool = False,
    account_id: int | None = None,
    using_db: Any = None,
) -> Any:
    """Queue one plain-text French message; pass the caller's transaction as `using_db`."""
    from models import OutboxEmail

    return await OutboxEmail.create(
        kind=kind,
        to_address=to_address,
        subject=subject,
        body=body,
        contains_secret=contains_secret,
        account_id=account_id,
        next_attempt_at=clock.now(),
        using_db=using_db,
    )
