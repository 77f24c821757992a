"""The audit journal: every change and login attempt, append-only and hash-chained."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cpf_tui import clock
from cpf_tui.services.context import RequestContext

GENESIS = "0" * 64


def canonical(value: Any) -> str:
    """Stable JSON used for hashing (sorted keys, no spaces, dates as ISO strings)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_digest(fields: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 of the previous hash and the event's canonical content."""
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


def hashed_fields(event: Any) -> dict[str, Any]:
    """The fields of an AuditEvent covered by its hash (everything but id and the hashes)."""
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "actor_identifier": event.actor_identifier,
        "organisation_id": event.organisation_id,
        "action": event.action,
        "outcome": event.outcome,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "before": event.before,
        "after": event.after,
        "session_token": event.session_token,
        "ssh_user": event.ssh_user,
        "ssh_key_fingerprint": event.ssh_key_fingerprint,
    }


async def record(
    action: str,
    *,
    ctx: RequestContext | None = None,
    actor: Any = None,
    actor_identifier: str = "",
    target: Any = None,
    target_type: str = "",
    target_id: Any = "",
    target_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    outcome: str = "ok",
    organisation_id: int | None = None,
    using_db: Any = None,
) -> Any:
    """Append one event; call it inside the transaction of the change it describes (`using_db`).

    `actor` is an Account (or None); `target` a model instance whose type, id and str are recorded.
    Never pass secrets in before/after.
    """
    from models import AuditEvent

    ctx = ctx or RequestContext()
    if target is not None:
        target_type = target_type or type(target).__name__
        target_id = target_id or getattr(target, "pk", "")
        target_label = target_label or str(target)
    if actor is not None:
        actor_identifier = actor_identifier or actor.identifier
        if organisation_id is None:
            organisation_id = getattr(actor, "organisation_id", None)
    last = await AuditEvent.all().using_db(using_db).order_by("-seq").first()
    seq = (last.seq + 1) if last else 1
    prev_hash = last.event_hash if last else GENESIS
    event = AuditEvent(
        seq=seq,
        at=clock.now(),
        actor_id=getattr(actor, "pk", None) if actor is not None else ctx.account_id,
        actor_identifier=actor_identifier[:32],
        organisation_id=organisation_id,
        action=action,
        outcome=outcome,
        target_type=target_type,
        target_id=str(target_id),
        target_label=target_label[:200],
        before=before,
        after=after,
        session_token=ctx.session_token,
        ssh_user=ctx.ssh_user,
        ssh_key_fingerprint=ctx.ssh_key_fingerprint,
        prev_hash=prev_hash,
        event_hash="",
    )
    event.event_hash = event_digest(hashed_fields(event), prev_hash)
    await event.save(using_db=using_db)
    return event
