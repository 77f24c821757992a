"""Outbox delivery: spool files (embedded default) or SMTP, claimed so that no message is sent twice.

A sender claims a due message with a conditional UPDATE (pending -> sending, claimed_by, claimed_at),
delivers it, then marks it sent (and removes any secret from the stored body) or schedules a retry with
exponential backoff until `mail.max_attempts`, after which it is failed. Claims older than
`stale_after_seconds` (a sender that died mid-send) go back to pending.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol, cast

from cpf_tui import clock
from cpf_tui.config import MailSettings, Settings, SmtpSettings
from cpf_tui.errors import NotFound, ValidationError
from cpf_tui.private_files import private_dir
from cpf_tui.services.context import RequestContext
from cpf_tui.services import sessions

from models import OutboxEmail, OutboxStatus
SCRUBBED_BODY = (
    "[contenu retiré après envoi : ce message contenait un secret (mot de passe temporaire), "
    "il n'est pas conservé]"
)
DEFAULT_STALE_AFTER_SECONDS = 300
MESSAGE_DOMAIN = "cpf-tui.invalid"


class Transport(Protocol):
    """Something that delivers one e-mail or raises."""

    async def deliver(self, message: EmailMessage, outbox_id: int) -> None: ...


def mail_time(moment: datetime) -> str:
    """A moment as e-mails write it, in Paris time like every screen: `22/01/2026 à 10:00 (heure de Paris)`."""
    where = "UTC" if clock.local_zone() == timezone.utc else "heure de Paris"  # no time-zone database
    return f"{clock.shown(moment, '%d/%m/%Y à %H:%M')} ({where})"


def build_message(email: Any, sender: str) -> EmailMessage:
    """The RFC 5322 message of one outbox row (plain text, UTF-8), dated in Paris time."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to_address
    message["Subject"] = email.subject
    created = email.created_at or clock.now()
    if created.tzinfo is None:  # stored moments are UTC
        created = created.replace(tzinfo=timezone.utc)
    message["Date"] = format_datetime(created.astimezone(clock.local_zone()))
    message["Message-ID"] = f"<outbox-{email.id}@{MESSAGE_DOMAIN}>"
    message.set_content(email.body, charset="utf-8")
    return message


class SpoolTransport:
    """Embedded delivery: one `.eml` file per message in the spool folder, written atomically."""

    def __init__(self, spool_path: Path) -> None:
        self.spool_path = Path(spool_path)

    def file_for(self, outbox_id: int) -> Path:
        return self.spool_path / f"message-{outbox_id:08d}.eml"

    async def deliver(self, message: EmailMessage, outbox_id: int) -> None:
        private_dir(self.spool_path)
        target = self.file_for(outbox_id)
        handle, temp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=self.spool_path)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(message.as_bytes())
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp_name, 0o600)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise


class SmtpTransport:
    """Real delivery with aiosmtplib (none, STARTTLS or implicit TLS, optional login)."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    async def deliver(self, message: EmailMessage, outbox_id: int) -> None:
        import aiosmtplib

        await aiosmtplib.send(
            message,
            hostname=self.smtp.host,
            port=self.smtp.port,
            username=self.smtp.username or None,
            password=self.smtp.password or None,
            use_tls=self.smtp.security == "tls",
            start_tls=True if self.smtp.security == "starttls" else False,
            timeout=self.smtp.timeout,
        )


def transport_for(settings: Settings) -> Transport:
    """The transport chosen by `mail.delivery`."""
    if settings.mail.delivery == "smtp":
        return SmtpTransport(settings.smtp)
    return SpoolTransport(settings.spool_path)


@dataclass
class DeliveryReport:
    """What one run of the sender did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A French one-line summary (CLI and screen)."""
        text = f"{self.sent} message(s) envoyé(s), {self.retried} à réessayer, {self.failed} en échec définitif"
        if self.recovered:
            text += f", {self.recovered} envoi(s) interrompu(s) repris"
        return text + "."


def retry_delay(attempts: int, base_seconds: int) -> timedelta:
    """Exponential backoff: base, 2×base, 4×base… after the 1st, 2nd, 3rd failure."""
    return timedelta(seconds=base_seconds * (2 ** max(attempts - 1, 0)))


def new_sender_id() -> str:
    """A label identifying one sender run in claimed_by (host, process, random part)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


async def recover_stale_claims(*, stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS) -> int:
    """Put back to pending the messages claimed longer ago than the timeout (their sender died)."""
    limit = clock.now() - timedelta(seconds=stale_after_seconds)
    return await OutboxEmail.filter(status=OutboxStatus.SENDING, claimed_at__lt=limit).update(
        status=OutboxStatus.PENDING, claimed_by="", claimed_at=None
    )


async def _due_ids(now: datetime, limit: int) -> list[int]:
    """The first `limit` messages due at `now`, oldest first (read without a claim: others may read them too)."""
    return cast(list[int], await (
        OutboxEmail.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .order_by("id")
        .limit(limit)
        .values_list("id", flat=True)
    ))


async def claim_due(sender_id: str, *, limit: int = 50) -> list[Any]:
    """Claim up to `limit` due messages for this sender (conditional UPDATE: one winner per message).

    Empty only when no message is due: a sender that read due messages and lost every one of them to
    another sender reads the queue again (each lost race means the other sender took one, so this ends).
    """
    while True:
        now = clock.now()
        due_ids = await _due_ids(now, limit)
        if not due_ids:
            return []
        claimed_ids = []
        for outbox_id in due_ids:
            won = await OutboxEmail.filter(id=outbox_id, status=OutboxStatus.PENDING).update(
                status=OutboxStatus.SENDING, claimed_by=sender_id, claimed_at=now
            )
            if won:
                claimed_ids.append(outbox_id)
        if claimed_ids:
            return await OutboxEmail.filter(id__in=claimed_ids, claimed_by=sender_id).order_by("id")


async def _mark_sent(email: Any, sender_id: str) -> bool:
    changes: dict[str, Any] = dict(
        status=OutboxStatus.SENT, sent_at=clock.now(), attempts=email.attempts + 1, claimed_by="",
        claimed_at=None, last_error="",
    )
    if email.contains_secret:
        changes["body"] = SCRUBBED_BODY
    updated = await OutboxEmail.filter(id=email.id, status=OutboxStatus.SENDING, claimed_by=sender_id).update(
        **changes
    )
    return bool(updated)


async def _mark_failed_attempt(email: Any, sender_id: str, error: str, mail: MailSettings) -> bool:
    """Schedule a retry, or give up after max_attempts; True when the message is now failed."""
    attempts = email.attempts + 1
    gave_up: bool = attempts >= mail.max_attempts
    await OutboxEmail.filter(id=email.id, status=OutboxStatus.SENDING, claimed_by=sender_id).update(
        status=OutboxStatus.FAILED if gave_up else OutboxStatus.PENDING,
        attempts=attempts,
        next_attempt_at=None if gave_up else clock.now() + retry_delay(attempts, mail.retry_base_seconds),
        claimed_by="",
        claimed_at=None,
        last_error=error[:2000],
    )
    return gave_up


async def deliver_pending(
    settings: Settings | None = None,
    *,
    transport: Transport | None = None,
    sender_id: str | None = None,
    batch_size: int = 50,
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS,
) -> DeliveryReport:
    """Deliver every due message once; failures are retried later with exponential backoff."""
    settings = settings or Settings()
    transport = transport or transport_for(settings)
    sender_id = sender_id or new_sender_id()
    report = DeliveryReport(recovered=await recover_stale_claims(stale_after_seconds=stale_after_seconds))
    while True:
        batch = await claim_due(sender_id, limit=batch_size)
        if not batch:
            return report
        for email in batch:
            try:
                await transport.deliver(build_message(email, settings.mail.sender), email.id)
            except Exception as exc:  # any delivery failure is retried, never lost
                error = f"{type(exc).__name__}: {exc}"
                report.errors.append(f"message {email.id} : {error}")
                if await _mark_failed_attempt(email, sender_id, error, settings.mail):
                    report.failed += 1
                else:
                    report.retried += 1
                continue
            if await _mark_sent(email, sender_id):
                report.sent += 1


# -- Operator view (capability OUTBOX_VIEW) -------------------------------------------------------
@dataclass(frozen=True)
class OutboxRow:
    """One outbox message as shown to operators (never the body: it may hold a secret)."""

    id: int
    created_at: Any
    to_address: str
    subject: str
    kind: str
    status: str
    status_label: str
    attempts: int
    next_attempt_at: Any
    sent_at: Any
    last_error: str


async def outbox_overview(ctx: RequestContext, *, status: str | None = None, limit: int = 200) -> tuple[
    dict[str, int], list[OutboxRow]
]:
    """Counts per status and the latest messages (optionally of one status), newest first."""
    from tortoise.functions import Count

    from cpf_tui.permissions import Capability

    await sessions.require(ctx, Capability.OUTBOX_VIEW)
    counts = {s.value: 0 for s in OutboxStatus}
    grouped = await OutboxEmail.all().annotate(n=Count("id")).group_by("status").values("status", "n")
    for row in grouped:
        counts[OutboxStatus(row["status"]).value] = row["n"]
    query = OutboxEmail.all()
    if status:
        try:
            query = query.filter(status=OutboxStatus(status))
        except ValueError:
            raise ValidationError("Statut de message inconnu.") from None
    emails = await query.order_by("-id").limit(limit)
    rows = [
        OutboxRow(
            id=e.id, created_at=e.created_at, to_address=e.to_address, subject=e.subject, kind=e.kind,
            status=e.status.value, status_label=e.status.label, attempts=e.attempts,
            next_attempt_at=e.next_attempt_at, sent_at=e.sent_at, last_error=e.last_error,
        )
        for e in emails
    ]
    return counts, rows


async def send_now(ctx: RequestContext, settings: Settings) -> DeliveryReport:
    """An operator drains the outbox from the application."""
    from cpf_tui.permissions import Capability

    await sessions.require(ctx, Capability.OUTBOX_VIEW)
    return await deliver_pending(settings)


async def retry_failed(ctx: RequestContext, outbox_id: int) -> None:
    """An operator puts a failed message back in the queue (attempts reset), audited."""
    from cpf_tui.permissions import Capability
    from cpf_tui.services import audit
    from cpf_tui.services.locking import serialised_transaction

    actor = await sessions.require(ctx, Capability.OUTBOX_VIEW)
    async with serialised_transaction() as conn:
        email = await OutboxEmail.get_or_none(id=outbox_id, using_db=conn)
        if email is None:
            raise NotFound("Message introuvable.")
        if email.status != OutboxStatus.FAILED:
            raise ValidationError("Seul un message en échec peut être remis en file d'envoi.")
        await OutboxEmail.filter(id=outbox_id, status=OutboxStatus.FAILED).using_db(conn).update(
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=clock.now(), last_error=""
        )
        await audit.record(
            "outbox.retry", ctx=ctx, actor=actor, target=email, target_label=f"message {email.id}",
            before={"status": "failed", "attempts": email.attempts}, after={"status": "pending", "attempts": 0},
            using_db=conn,
        )
