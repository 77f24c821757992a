"""Chaining the journal events of a bulk import in a child process, beside the importing process's work.

A bulk import writes one `account.create` event per account (`audit.record_batch`): its values, its
canonical JSON and keyed hash and its database values are Python work of about 25 µs an event, in the
importing process's interpreter. From `MIN_ACCOUNTS` accounts a child process does that work on the
other core, chunk by chunk, while the import writes the chunk's accounts and e-mails; the import then
writes the rows the child sends back (`rows.copy_values`), in its own transaction. The events are
the ones `record_batch` writes (same values, sequence numbers and keyed hashes), the events of a chunk
sharing one time.

`python -m cpf_tui.services.audit_worker` reads frames (`result_worker.frame`: a length, then a
`marshal` value) on its standard input: first the header (a dict: the action, the request context and
the actor, the journal key's secret and first keyed event, the sequence number and hash of the
journal's head, the database columns and how each is converted), then one frame per chunk: the time of
its events (ISO text, in the model's time zone) and its accounts (`account_values`). For each chunk it
writes back one frame: the chunk's rows, each the list of its column values (the time left None: the
parent puts its own datetime), or a text "erreur …" when a value is not one the database conversions
would store as it is. It keeps nothing, and ends when its input ends.
"""

from __future__ import annotations

import json
import marshal
import sys
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from cpf_tui.services import audit
from cpf_tui.services.context import RequestContext
from cpf_tui.services.result_worker import _LENGTH, _Ended, _frames, end_child, frame

if TYPE_CHECKING:  # the child process does without asyncio: its start takes processor time from the import
    import asyncio

MIN_ACCOUNTS = 2000
"""Below this many accounts, starting a process costs more than it saves: `audit.record_batch` chains."""
STOP_SECONDS = 10.0
_ACCOUNT_FIELDS = (
    "id", "identifier", "role", "profile", "status", "nom", "prenom", "email", "phone", "service",
    "organisation_id", "establishment_id",
)
_NO_LIMIT = 1 << 62


def account_values(account: Any, label: str) -> tuple[Any, ...]:
    """What the child needs of an account made in bulk: its journaled fields (enumerations as their
    values, which `audit.account_public_fields` records) and its label (`str(account)`)."""
    return (
        account.id, account.identifier, audit._value(account.role), audit._value(account.profile),  # noqa: SLF001
        audit._value(account.status), account.nom, account.prenom, account.email, account.phone,  # noqa: SLF001
        account.service, account.organisation_id, account.establishment_id, label,
    )


class _Refused(Exception):
    """A value the database conversions would not store as it is."""


def _database_values(row: dict[str, Any], columns: list[tuple[str, str, int, int, bool]], encode: Any) -> list[Any]:
    """`rows.copy_rows`'s conversions of one chained row, for the kinds of columns `columns` lists."""
    values: list[Any] = []
    for name, kind, low, high, nullable in columns:
        value = row[name]
        if kind == "at":
            values.append(None)
            continue
        if value is None:
            if not nullable:
                raise _Refused(name)
        elif kind == "text":
            if type(value) is not str or len(value) > high:
                raise _Refused(name)
        elif kind == "int":
            if type(value) is not int or not low <= value <= high:
                raise _Refused(name)
        elif type(value) is dict or type(value) is list:  # json
            value = encode(value)
        else:
            raise _Refused(name)
        values.append(value)
    return values


def main() -> int:
    frames = _frames(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        header = next(frames)
    except _Ended:
        return 1
    ctx = RequestContext(**header["ctx"])
    actor = SimpleNamespace(**header["actor"]) if header["actor"] is not None else None
    key = SimpleNamespace(secret=header["secret"], keyed_from=header["keyed_from"])
    action, columns = header["action"], [tuple(column) for column in header["columns"]]
    seq, prev_hash = header["seq"], header["prev_hash"]
    encode = json.JSONEncoder(separators=(",", ":")).encode  # the JSON fields' encoder (`rows._json_encoder`)
    try:
        for at_text, accounts in frames:
            at = datetime.fromisoformat(at_text)
            events = (
                audit._event_values(**audit.account_created_event(  # noqa: SLF001
                    SimpleNamespace(pk=values[0], **dict(zip(_ACCOUNT_FIELDS, values))), values[-1], action, ctx, actor
                ))
                for values in accounts
            )
            rows: Any = []
            try:
                for row in audit.chain_rows(events, seq, prev_hash, key, lambda: at):
                    rows.append(_database_values(row, columns, encode))
                    seq, prev_hash = row["seq"], row["event_hash"]
            except _Refused as exc:
                rows = f"erreur : valeur non conforme dans la colonne {exc}"
            out.write(frame(rows))
            out.flush()
    except _Ended:
        return 0
    return 0


def column_plan() -> list[tuple[str, str, int, int, bool]] | None:
    """How the child converts each column of `AuditEvent` (name, kind, bounds, nullable), or None when a
    field is of a kind the child does not convert exactly as `rows.copy_rows` would (then no child)."""
    from tortoise.fields import CharField, DatetimeField, IntField, JSONField
    from tortoise.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator

    from cpf_tui.services.rows import is_default_json_encoder
    from models import AuditEvent

    plan: list[tuple[str, str, int, int, bool]] = []
    for name in ("seq", "at", "prev_hash", *_EVENT_KEYS, "event_hash"):
        field = AuditEvent._meta.fields_map[name]  # noqa: SLF001
        if type(field) is DatetimeField and type(field).to_db_value is DatetimeField.to_db_value and not field.validators:
            plan.append((name, "at", 0, 0, bool(field.null)))
        elif type(field) is CharField and all(isinstance(v, MaxLengthValidator) for v in field.validators):
            plan.append((name, "text", 0, field.max_length or _NO_LIMIT, bool(field.null)))
        elif type(field) is IntField and all(isinstance(v, (MinValueValidator, MaxValueValidator)) for v in field.validators):
            low = max((v.min_value for v in field.validators if isinstance(v, MinValueValidator)), default=-_NO_LIMIT)
            high = min((v.max_value for v in field.validators if isinstance(v, MaxValueValidator)), default=_NO_LIMIT)
            plan.append((name, "int", int(low), int(high), bool(field.null)))
        elif (type(field) is JSONField and type(field).to_db_value is JSONField.to_db_value and not field.validators
              and is_default_json_encoder(field.encoder)):
            plan.append((name, "json", 0, 0, bool(field.null)))
        else:
            return None
    return plan


_EVENT_KEYS = (
    "actor_id", "actor_identifier", "organisation_id", "establishment_id", "action", "outcome", "target_type",
    "target_id", "target_label", "before", "after", "session_token", "ssh_user", "ssh_key_fingerprint",
)
"""The columns `audit._event_values` gives, in its order."""


class ChainProcess:
    """The parent's side: `start()` launches the child (False when it cannot: then `record_batch`
    chains), `send(using_db, accounts)` (a coroutine) reads the journal's head under the chain's lock on
    the first chunk and sends the chunk, `write(using_db)` receives its rows and writes them, `close()`
    ends and reaps the child."""

    def __init__(self, action: str, ctx: RequestContext, actor: Any) -> None:
        self.action, self.ctx, self.actor = action, ctx, actor
        self.process: asyncio.subprocess.Process | None = None
        self.plan = column_plan()
        self.zone: Any = None
        self.begun = False
        self.at: datetime | None = None

    async def start(self) -> bool:
        import asyncio

        if self.plan is None:
            return False
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cpf_tui.services.audit_worker",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return False
        return True

    def _send(self, value: Any) -> None:
        """Queue a frame for the child without waiting for it to read (a chunk is a few hundred KB,
        buffered by the transport: the import goes on while the child starts or reads)."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(frame(value))

    async def send(self, using_db: Any, accounts: list[Any], labels: list[str]) -> None:
        if not self.begun:
            seq, prev_hash, key = await audit.chain_head(using_db)
            actor = self.actor
            self._send(dict(
                action=self.action, ctx=vars(self.ctx), columns=self.plan, seq=seq, prev_hash=prev_hash,
                secret=key.secret, keyed_from=key.keyed_from,
                actor=None if actor is None else dict(
                    pk=actor.pk, identifier=actor.identifier, organisation_id=getattr(actor, "organisation_id", None),
                    establishment_id=getattr(actor, "establishment_id", None),
                ),
            ))
            self.zone, self.begun = audit.model_zone(), True
        self.at = audit.event_time(self.zone)
        self._send((self.at.isoformat(), [account_values(a, label) for a, label in zip(accounts, labels)]))

    async def write(self, using_db: Any) -> int:
        """Receive the rows of the chunk sent last and write them; their number."""
        import asyncio

        from cpf_tui.services.rows import copy_values
        from models import AuditEvent

        process = self.process
        assert process is not None and process.stdout is not None and self.plan is not None
        try:
            (size,) = _LENGTH.unpack(await process.stdout.readexactly(_LENGTH.size))
            rows = marshal.loads(await process.stdout.readexactly(size))
        except asyncio.IncompleteReadError:
            raise RuntimeError(f"audit chain worker ended (exit {process.returncode})") from None
        if isinstance(rows, str):
            raise RuntimeError(f"audit chain worker: {rows}")
        at_index = next(index for index, column in enumerate(self.plan) if column[1] == "at")
        for row in rows:
            row[at_index] = self.at
        await copy_values(AuditEvent, [column[0] for column in self.plan], rows, using_db=using_db)
        return len(rows)

    async def close(self) -> None:
        """End the child (its input closed: it ends by itself; killed after `STOP_SECONDS`); reaped."""
        if self.process is not None:
            await end_child(self.process, STOP_SECONDS)

    async def kill(self) -> None:
        """End the child at once (the import failed); reaped."""
        if self.process is not None:
            await end_child(self.process, 0)

if __name__ == "__main__":
    raise SystemExit(main())
