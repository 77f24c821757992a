"""The audit journal: every change and login attempt, append-only and chained with a keyed hash.

Each event's `event_hash` is HMAC-SHA256, under the key of `audit_key` (a file outside the database),
of the previous event's hash and the event's canonical content. Events written before a database got
its key keep their plain SHA-256 links (`AuditKey.keyed_from`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

from cpf_tui import clock
from cpf_tui.services.context import RequestContext

GENESIS = "0" * 64
MAX_APPEND_ATTEMPTS = 8
"""How many times `record` retries when another writer took the same sequence number."""
PG_CHAIN_LOCK_KEY = 7_301_120_401
"""PostgreSQL advisory-lock key that serialises appends to the chain inside a transaction."""
INSERT_BATCH = 500
"""Rows per INSERT statement when `record_many` writes a run of events."""


def canonical(value: Any) -> str:
    """Stable JSON used for hashing (sorted keys, no spaces, dates as ISO strings)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_digest(fields: dict[str, Any], prev_hash: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 under `key` of the previous hash and the event's canonical content.

    Without a key: plain SHA-256, the links of events written before the database got its key.
    """
    content = (prev_hash + canonical(fields)).encode("utf-8")
    if key is None:
        return hashlib.sha256(content).hexdigest()
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _signing_key(seq: int, key: Any) -> bytes | None:
    """The secret that signs event `seq` (None for an event older than the key)."""
    return key.secret if seq >= key.keyed_from else None


_HASHED_KEYS = (
    "seq", "at", "actor_id", "actor_identifier", "organisation_id", "action", "outcome", "target_type", "target_id",
    "target_label", "before", "after", "session_token", "ssh_user", "ssh_key_fingerprint",
)


def hashed_fields(event: Any, *, with_establishment: bool = True) -> dict[str, Any]:
    """The fields of an AuditEvent covered by its hash (everything but id and the hashes).

    The establishment is covered when it is set, except on events older than the journal's key
    (`with_establishment=False`): migration 0004 filled it in after they were chained.
    """
    row = {key: getattr(event, key) for key in _HASHED_KEYS}
    if with_establishment:
        row["establishment_id"] = event.establishment_id
    return _hashed_row(row)


def account_public_fields(account: Any) -> dict[str, Any]:
    """The fields of an account that may appear in the audit journal (never a password or hash)."""
    return {
        "identifier": account.identifier,
        "role": _value(account.role),
        "profile": _value(account.profile),
        "status": _value(account.status),
        "nom": account.nom,
        "prenom": account.prenom,
        "email": account.email,
        "phone": account.phone,
        "service": account.service,
        "organisation_id": account.organisation_id,
        "establishment_id": account.establishment_id,
    }


def _value(item: Any) -> Any:
    return getattr(item, "value", item)


def account_created_event(account: Any, label: str, action: str, ctx: RequestContext, actor: Any) -> dict[str, Any]:
    """The journal event (`record_many` / `record_batch` values) of one account made in bulk, whose
    label (`str(account)`) is `label`."""
    return dict(
        action=action, ctx=ctx, actor=actor, target=account, target_type="Account", target_label=label,
        after=account_public_fields(account), organisation_id=account.organisation_id,
    )


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
    establishment_id: int | None = None,
    using_db: Any = None,
) -> Any:
    """Append one event; call it inside the transaction of the change it describes (`using_db`).

    `actor` is an Account (or None); `target` a model instance whose type, id and str are recorded.
    Never pass secrets in before/after. `organisation_id` (the journal scope of administrators)
    defaults to the target's organisation, then to the actor's; `establishment_id` (the scope of
    delegated administrators) to the target's establishment when the target belongs to an
    organisation, else to the actor's (see `_event_values`).

    Sequence numbers: with `using_db` (the caller's transaction) the append is serialised with the
    other writers (SQLite: one writer at a time, PostgreSQL: an advisory lock held until commit), so
    a failure rolls back the caller's change too. Without it, the append runs in a transaction of its
    own and is retried when another writer took the same `seq` first (unique constraint).
    """
    values = _event_values(
        action, ctx=ctx, actor=actor, actor_identifier=actor_identifier, target=target, target_type=target_type,
        target_id=target_id, target_label=target_label, before=before, after=after, outcome=outcome,
        organisation_id=organisation_id, establishment_id=establishment_id,
    )
    return (await _write([values], using_db))[0]


async def record_many(
    events: Iterable[Mapping[str, Any]], *, using_db: Any = None, returning: bool = True
) -> list[Any]:
    """Append several events at once, in the given order, as one contiguous run of the chain.

    Each item holds the keyword arguments of `record` (`action` included, `using_db` excluded). The
    head of the chain is read once, under the same serialisation as `record`; sequence numbers and
    hashes are computed in memory and the events inserted in batches without building model
    instances. The events are returned without their database id (`returning=False`: nothing is
    returned, for callers writing thousands of events).
    """
    values = [_event_values(**event) for event in events]
    events_written = await _write(values, using_db, returning=returning)
    return events_written if returning else []


def _event_values(
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
    establishment_id: int | None = None,
) -> dict[str, Any]:
    """The columns of one event, except its position in the chain (seq, time, hashes)."""
    ctx = ctx or RequestContext()
    if target is not None:
        target_type = target_type or type(target).__name__
        target_id = target_id or getattr(target, "pk", "")
        target_label = target_label or str(target)
    if organisation_id is None and target is not None:
        # The organisation the event concerns: its administrators see it in their journal.
        organisation_id = getattr(target, "organisation_id", None)
        if organisation_id is None and type(target).__name__ == "Organisation":
            organisation_id = target.pk
    if actor is not None:
        actor_identifier = actor_identifier or actor.identifier
        if organisation_id is None:
            organisation_id = getattr(actor, "organisation_id", None)
    if establishment_id is None:
        establishment_id = _establishment_of(target, actor, organisation_id)
    return dict(
        actor_id=getattr(actor, "pk", None) if actor is not None else ctx.account_id,
        actor_identifier=actor_identifier[:32],
        organisation_id=organisation_id,
        establishment_id=establishment_id,
        action=action,
        outcome=outcome,
        target_type=target_type[:32],
        target_id=str(target_id)[:64],
        target_label=target_label[:200],
        before=_plain_json(before),
        after=_plain_json(after),
        session_token=ctx.session_token,
        ssh_user=ctx.ssh_user,
        ssh_key_fingerprint=ctx.ssh_key_fingerprint,
    )


_SCOPED_TARGETS = frozenset({"Organisation", "Establishment"})


def _establishment_of(target: Any, actor: Any, organisation_id: int | None) -> int | None:
    """The establishment an event concerns, whose delegated administrators read it.

    A target that belongs to an organisation (account, file, establishment, the organisation itself)
    decides: its establishment, or none for an organisation-wide object. A target outside any
    organisation (a holder) or no target: the actor's establishment, when the actor belongs to the
    event's organisation. Migration 0004 fills older events with the same rule.
    """
    if target is not None and (hasattr(target, "organisation_id") or type(target).__name__ in _SCOPED_TARGETS):
        if type(target).__name__ == "Establishment":
            return cast(int, target.pk)
        return cast(int | None, getattr(target, "establishment_id", None))
    if actor is not None and (organisation_id is None or getattr(actor, "organisation_id", None) == organisation_id):
        return cast(int | None, getattr(actor, "establishment_id", None))
    return None


async def _write(values: list[dict[str, Any]], using_db: Any, *, returning: bool = True) -> list[Any]:
    """Append `values` in the caller's transaction, or in a transaction of their own with retries."""
    from tortoise.exceptions import IntegrityError

    from cpf_tui.services.locking import serialised_transaction

    if not values:
        return []
    if using_db is not None:
        return await _append(values, using_db, returning=returning)
    for attempt in range(1, MAX_APPEND_ATTEMPTS + 1):
        try:
            async with serialised_transaction() as conn:
                return await _append(values, conn, returning=returning)
        except IntegrityError:
            if attempt == MAX_APPEND_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


_SCALARS = frozenset({str, int, bool, type(None)})


def _plain_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Before/after as plain JSON values, so that the stored copy hashes exactly like the original."""
    if value is None:
        return None
    if all(type(key) is str and type(item) in _SCALARS for key, item in value.items()):
        # What the JSON round trip below gives for a flat dict of strings, integers, booleans and None.
        return {key: value[key] for key in sorted(value)}
    plain: dict[str, Any] = json.loads(canonical(value))
    return plain


async def last_event(conn: Any) -> Any:
    """The event at the head of the chain (None when the journal is empty)."""
    from models import AuditEvent

    return await AuditEvent.all().using_db(conn).order_by("-seq").first()


async def _append(values: list[dict[str, Any]], conn: Any, *, returning: bool = True) -> list[Any]:
    """Write events after the current head of the chain, on connection `conn`, in order."""
    from models import AuditEvent

    from cpf_tui.services import audit_key
    from cpf_tui.services.rows import insert_rows

    if conn.capabilities.dialect == "postgres":
        await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [PG_CHAIN_LOCK_KEY])
    last = await last_event(conn)
    seq = last.seq if last else 0
    key = audit_key.active(head_seq=seq)
    prev_hash = last.event_hash if last else GENESIS
    if len(values) == 1:
        event = AuditEvent(
            seq=seq + 1, at=clock.now().astimezone(timezone.utc), prev_hash=prev_hash, event_hash="", **values[0]
        )
        signing = _signing_key(seq + 1, key)
        event.event_hash = event_digest(hashed_fields(event, with_establishment=signing is not None), prev_hash, signing)
        await event.save(using_db=conn)
        return [event]
    rows = _chained_rows(values, seq, prev_hash, key)
    await insert_rows(AuditEvent, rows, using_db=conn, batch_size=INSERT_BATCH)
    return [AuditEvent.construct(**row) for row in rows] if returning else []


def _chained_rows(values: list[dict[str, Any]], seq: int, prev_hash: str, key: Any) -> list[dict[str, Any]]:
    """The rows of `values` appended after event `seq` whose hash is `prev_hash`: sequence numbers,
    time and keyed hashes."""
    return list(_chain(values, seq, prev_hash, key))


def _chain(values: Iterable[dict[str, Any]], seq: int, prev_hash: str, key: Any) -> Iterator[dict[str, Any]]:
    """`_chained_rows`, one row at a time."""
    from models import AuditEvent

    # As `AuditEvent(...)` would hold it: the model converts the datetime on assignment.
    at_field = AuditEvent._meta.fields_map["at"]  # noqa: SLF001
    for fields in values:
        seq += 1
        row = dict(seq=seq, at=at_field.to_python_value(clock.now().astimezone(timezone.utc)), prev_hash=prev_hash,
                   **fields)
        signing = _signing_key(seq, key)
        hashed = _hashed_row(row if signing is not None else {**row, "establishment_id": None})
        row["event_hash"] = prev_hash = event_digest(hashed, row["prev_hash"], signing)
        yield row


async def record_batch(events: Iterable[Mapping[str, Any]], *, using_db: Any) -> int:
    """`record_many(..., returning=False)` through the database's bulk path, for thousands of events
    in the caller's transaction `using_db` (required): the same events, sequence numbers and keyed
    hashes, written by `rows.copy_rows` (PostgreSQL COPY, SQLite one executemany) under the same
    serialisation as `record`. Events are made, chained and sent one at a time as the driver consumes
    them (never all held at once). Returns the number of events written."""
    from models import AuditEvent

    from cpf_tui.services.rows import copy_rows

    seq, prev_hash, key = await chain_head(using_db)
    values = (_event_values(**event) for event in events)
    rows = _batch_chain(values, seq, prev_hash, key)
    written = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal written
        for row in rows:
            written += 1
            yield row

    await copy_rows(AuditEvent, counted(), using_db=using_db)
    return written


async def chain_head(using_db: Any) -> tuple[int, str, Any]:
    """The sequence number and hash of the journal's head and the key that signs what follows, read in
    the caller's transaction `using_db` under the chain's serialisation (PostgreSQL: an advisory lock
    held to the end of the transaction; SQLite: the writer lock the transaction holds)."""
    from cpf_tui.services import audit_key

    if using_db.capabilities.dialect == "postgres":
        await using_db.execute_query("SELECT pg_advisory_xact_lock($1)", [PG_CHAIN_LOCK_KEY])
    last = await last_event(using_db)
    seq = last.seq if last else 0
    return seq, last.event_hash if last else GENESIS, audit_key.active(head_seq=seq)


def _batch_chain(values: Iterable[dict[str, Any]], seq: int, prev_hash: str, key: Any) -> Iterator[dict[str, Any]]:
    """`_chain` for `record_batch`: the same rows (sequence numbers, times, keyed hashes), with the work
    that does not depend on the event done once per batch (`chain_rows`)."""
    zone = model_zone()

    def moment() -> datetime:
        return event_time(zone)

    return chain_rows(values, seq, prev_hash, key, moment)


def model_zone() -> Any:
    """The time zone `AuditEvent.at` holds its times in (None: naive times, without time zones)."""
    from models import AuditEvent

    at_field = AuditEvent._meta.fields_map["at"]  # noqa: SLF001
    return at_field.to_python_value(datetime(2000, 1, 1, tzinfo=timezone.utc)).tzinfo


def event_time(zone: Any) -> datetime:
    """Now, as `AuditEvent(at=clock.now())` holds it: converted to the model's `zone` (naive without)."""
    moment = clock.now().astimezone(timezone.utc)
    return moment.astimezone(zone) if zone is not None else moment.replace(tzinfo=None)


def chain_rows(
    values: Iterable[dict[str, Any]], seq: int, prev_hash: str, key: Any, moment: Callable[[], datetime]
) -> Iterator[dict[str, Any]]:
    """The rows of `values` chained after event `seq` whose hash is `prev_hash`, each at `moment()`:
    one JSON encoder for the canonical form (what `canonical` gives: the standard library's encoder
    with the same options), one-shot HMACs (`hmac.digest`, the same digest as `hmac.new`). Also run by
    the chaining child of a bulk import (`audit_worker`), which has no database."""
    from _json import make_encoder  # the encoder `json.dumps` itself runs
    from json.encoder import encode_basestring

    # `canonical`'s options (default=str, ensure_ascii=False, compact separators, sorted keys), no
    # circular-reference markers (events are plain JSON values).
    encoder = make_encoder(None, str, encode_basestring, None, ":", ",", True, False, True)

    def encoded(fields: dict[str, Any]) -> str:
        return "".join(encoder(fields, 0))

    for fields in values:
        seq += 1
        row = dict(seq=seq, at=moment(), prev_hash=prev_hash, **fields)
        signing = _signing_key(seq, key)
        hashed = _hashed_row(row if signing is not None else {**row, "establishment_id": None})
        content = (prev_hash + encoded(hashed)).encode("utf-8")
        prev_hash = hmac.digest(signing, content, "sha256").hex() if signing is not None else (
            hashlib.sha256(content).hexdigest()
        )
        row["event_hash"] = prev_hash
        yield row


def _hashed_row(row: dict[str, Any]) -> dict[str, Any]:
    """The hashed fields of an event given as a row of values (`hashed_fields` for a model).

    The establishment joins them only when set: events without one hash as they always did.
    """
    hashed = {key: row[key] for key in _HASHED_KEYS} | {"at": row["at"].isoformat()}
    if row.get("establishment_id") is not None:
        hashed["establishment_id"] = row["establishment_id"]
    return hashed


# -- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a walk along the chain: `ok`, the events checked and the first problem found."""

    ok: bool
    checked: int
    message: str
    bad_seq: int | None = None
    head_seq: int = 0
    head_hash: str = GENESIS


async def _events_in_order(batch_size: int) -> AsyncIterator[Any]:
    from models import AuditEvent

    after_seq: int | None = None
    while True:
        query = AuditEvent.all().order_by("seq")
        if after_seq is not None:
            query = query.filter(seq__gt=after_seq)
        batch = await query.limit(batch_size)
        for event in batch:
            yield event
        if len(batch) < batch_size:
            return
        after_seq = batch[-1].seq


async def verify_chain(
    *, expected_head: tuple[int, str] | None = None, batch_size: int = 500, key: Any = None
) -> ChainReport:
    """Walk the journal from the first event and name the first altered or missing one (French).

    Every link is recomputed with the journal's key (`key`, default this process's: `audit_key`), so
    an event removed or edited and the chain recomputed without the key is found. The chain alone
    cannot reveal that its newest events were removed: pass `expected_head` (an anchor, the sequence
    number and hash printed by `cpf-tui audit anchor` and kept elsewhere) to check that too.
    """
    from cpf_tui.services import audit_key

    key = key or audit_key.active()
    previous_hash = GENESIS
    expected_seq = 1
    checked = 0
    head_seq, head_hash = 0, GENESIS
    noted: dict[int, str] = {}
    async for event in _events_in_order(batch_size):
        if event.seq != expected_seq:
            missing = f"n° {expected_seq}" if event.seq == expected_seq + 1 else f"n° {expected_seq} à {event.seq - 1}"
            return ChainReport(
                False, checked,
                f"Journal altéré : événement {missing} manquant (supprimé) avant l'événement n° {event.seq}.",
                bad_seq=expected_seq, head_seq=head_seq, head_hash=head_hash,
            )
        if event.prev_hash != previous_hash:
            return ChainReport(
                False, checked,
                f"Journal altéré : l'événement n° {event.seq} ne suit pas l'événement n° {event.seq - 1}"
                " (chaînage rompu : l'événement précédent a été modifié ou remplacé).",
                bad_seq=max(event.seq - 1, 1), head_seq=head_seq, head_hash=head_hash,
            )
        signing = _signing_key(event.seq, key)
        fields = hashed_fields(event, with_establishment=signing is not None)
        if event_digest(fields, event.prev_hash, signing) != event.event_hash:
            return ChainReport(
                False, checked,
                f"Journal altéré : l'événement n° {event.seq} ({event.action}) a été modifié après son écriture.",
                bad_seq=event.seq, head_seq=head_seq, head_hash=head_hash,
            )
        checked += 1
        previous_hash = event.event_hash
        expected_seq = event.seq + 1
        head_seq, head_hash = event.seq, event.event_hash
        if expected_head is not None and event.seq == expected_head[0]:
            noted[event.seq] = event.event_hash
    if expected_head is not None:
        seq, digest = expected_head
        if seq > head_seq:
            return ChainReport(
                False, checked,
                f"Journal altéré : le journal s'arrête à l'événement n° {head_seq} alors que l'événement"
                f" n° {seq} avait été relevé (événements supprimés en fin de journal).",
                bad_seq=head_seq + 1, head_seq=head_seq, head_hash=head_hash,
            )
        if noted.get(seq, "").lower() != digest.strip().lower():
            return ChainReport(
                False, checked,
                f"Journal altéré : l'empreinte de l'événement n° {seq} ne correspond pas à celle relevée.",
                bad_seq=seq, head_seq=head_seq, head_hash=head_hash,
            )
    if checked == 0:
        return ChainReport(True, 0, "Journal vide : aucun événement à vérifier.")
    return ChainReport(
        True, checked,
        f"Journal intègre : {checked} événement(s) vérifié(s), du n° 1 au n° {head_seq}.",
        head_seq=head_seq, head_hash=head_hash,
    )
