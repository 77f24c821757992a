"""The outbox: e-mails written in the same transaction as the change that causes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cpf_tui import clock

INSERT_BATCH = 500
"""Rows per INSERT statement in `enqueue_many`."""


def message(
    *,
    kind: str,
    to_address: str,
    subject: str,
    body: str,
    contains_secret: bool = False,
    account_id: int | None = None,
) -> Any:
    """One plain-text French message, not yet saved (see `enqueue` and `enqueue_many`)."""
    from models import OutboxEmail

    return OutboxEmail(
        kind=kind,
        to_address=to_address,
        subject=subject,
        body=body,
        contains_secret=contains_secret,
        account_id=account_id,
        next_attempt_at=clock.now(),
    )


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
    mail = message(
        kind=kind,
        to_address=to_address,
        subject=subject,
        body=body,
        contains_secret=contains_secret,
        account_id=account_id,
    )
    await mail.save(using_db=using_db)
    return mail


async def enqueue_many(messages: Iterable[Any], *, using_db: Any = None) -> None:
    """Queue messages built by `message` in batches (their ids are not read back)."""
    from models import OutboxEmail

    batch = list(messages)
    if batch:
        await OutboxEmail.bulk_create(batch, batch_size=INSERT_BATCH, using_db=using_db)


async def enqueue_rows(
    rows: Sequence[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    *,
    using_db: Any,
    common: Mapping[str, Any] | None = None,
    bulk_path: bool = False,
) -> None:
    """Queue many messages given as field values (`kind`, `to_address`, `subject`, `body`, …), with the
    values shared by all in `common`, without building OutboxEmail instances (see `rows.insert_rows`;
    with `bulk_path`, all at once through the database's bulk path, `rows.copy_rows`, and `rows` may
    be a generator).

    Each message is stored as `message(...)` followed by a save would store it.
    """
    from cpf_tui.services.rows import copy_rows, insert_rows
    from models import OutboxEmail

    if bulk_path:
        await copy_rows(OutboxEmail, rows, using_db=using_db, common={"next_attempt_at": clock.now(), **(common or {})})
    elif rows:
        await insert_rows(
            OutboxEmail, rows if isinstance(rows, Sequence) else list(rows), using_db=using_db,
            common={"next_attempt_at": clock.now(), **(common or {})}, batch_size=INSERT_BATCH,
        )
