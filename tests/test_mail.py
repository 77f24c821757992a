"""Outbox delivery: spool files, real SMTP on loopback, retries, scrubbing, no double send."""

from __future__ import annotations

import asyncio
import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from cpf_tui.config import Settings
from cpf_tui.errors import PermissionDenied, ValidationError
from cpf_tui.services import mail, outbox
from cpf_tui.services.context import RequestContext
from models import OutboxEmail, OutboxStatus, Role
from tests.factories import make_account

SECRET = "Abcd-efgh-ijkm-npqr"


class Recorder:
    """aiosmtpd handler that keeps every received message."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


def smtp_settings(tmp_path, port: int) -> Settings:
    s = Settings()
    s.data_dir = str(tmp_path / "data")
    s.mail.delivery = "smtp"
    s.smtp.host = "127.0.0.1"
    s.smtp.port = port
    s.smtp.timeout = 2.0
    s.mail.retry_base_seconds = 30
    s.mail.max_attempts = 3
    return s


async def queue_secret(to: str = "claire.martin@example.fr", n: int = 1) -> list[OutboxEmail]:
    return [
        await outbox.enqueue(
            kind="account_created", to_address=to, subject=f"Vos identifiants {i}",
            body=f"Votre mot de passe temporaire : {SECRET}\n", contains_secret=True,
        )
        for i in range(n)
    ]


async def test_smtp_delivery_carries_password_then_body_is_scrubbed(db, frozen_clock, tmp_path, smtp_server):
    controller, recorder = smtp_server
    [queued] = await queue_secret()
    report = await mail.deliver_pending(smtp_settings(tmp_path, controller.port))
    assert report.sent == 1
    assert len(recorder.messages) == 1
    received = recorder.messages[0]
    assert received["To"] == "claire.martin@example.fr"
    assert SECRET in received.get_content()
    stored = await OutboxEmail.get(id=queued.id)
    assert stored.status == OutboxStatus.SENT
    assert stored.sent_at == frozen_clock.current
    assert SECRET not in stored.body
    assert "contenu retiré après envoi" in stored.body


async def test_server_down_keeps_message_and_later_run_delivers_it(db, frozen_clock, tmp_path):
    port = free_port()
    settings = smtp_settings(tmp_path, port)
    [queued] = await queue_secret()
    report = await mail.deliver_pending(settings)
    assert (report.sent, report.retried) == (0, 1)
    stored = await OutboxEmail.get(id=queued.id)
    assert stored.status == OutboxStatus.PENDING
    assert stored.attempts == 1
    assert SECRET in stored.body
    assert stored.last_error
    # Not due yet: a run right away does nothing.
    assert (await mail.deliver_pending(settings)).retried == 0
    # The server comes back; after the backoff delay the message goes out.
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        frozen_clock.advance(seconds=31)
        report = await mail.deliver_pending(settings)
    finally:
        controller.stop()
    assert report.sent == 1
    assert len(recorder.messages) == 1
    assert SECRET in recorder.messages[0].get_content()
    assert (await OutboxEmail.get(id=queued.id)).status == OutboxStatus.SENT


async def test_backoff_doubles_then_message_fails_after_max_attempts(db, frozen_clock, tmp_path):
    settings = smtp_settings(tmp_path, free_port())
    [queued] = await queue_secret()
    start = frozen_clock.current
    await mail.deliver_pending(settings)
    assert (await OutboxEmail.get(id=queued.id)).next_attempt_at == start + mail.retry_delay(1, 30)
    frozen_clock.advance(seconds=30)
    await mail.deliver_pending(settings)
    second = await OutboxEmail.get(id=queued.id)
    assert second.attempts == 2
    assert second.next_attempt_at == frozen_clock.current + mail.retry_delay(2, 30)
    assert mail.retry_delay(2, 30).total_seconds() == 60
    frozen_clock.advance(seconds=60)
    report = await mail.deliver_pending(settings)
    assert report.failed == 1
    final = await OutboxEmail.get(id=queued.id)
    assert final.status == OutboxStatus.FAILED
    assert final.attempts == 3
    assert SECRET in final.body  # never delivered: kept for a retry by an operator


async def test_concurrent_senders_never_send_twice(db, frozen_clock, tmp_path, smtp_server):
    controller, recorder = smtp_server
    queued = await queue_secret(n=12)
    settings = smtp_settings(tmp_path, controller.port)
    reports = await asyncio.gather(
        mail.deliver_pending(settings, sender_id="sender-a", batch_size=3),
        mail.deliver_pending(settings, sender_id="sender-b", batch_size=3),
    )
    assert sum(r.sent for r in reports) == 12
    subjects = [m["Subject"] for m in recorder.messages]
    assert sorted(subjects) == sorted(e.subject for e in queued)
    assert len(set(subjects)) == 12


async def test_a_claimed_message_is_not_taken_by_another_sender(db, frozen_clock):
    [queued] = await queue_secret()
    first = await mail.claim_due("sender-a")
    second = await mail.claim_due("sender-b")
    assert [e.id for e in first] == [queued.id]
    assert second == []
    stored = await OutboxEmail.get(id=queued.id)
    assert (stored.status, stored.claimed_by) == (OutboxStatus.SENDING, "sender-a")


async def test_a_sender_that_loses_every_claim_of_a_batch_looks_again_instead_of_stopping(db, frozen_clock, monkeypatch):
    # Sender b reads the due messages; before it claims them, sender a reads the same ones and wins them all.
    # b must read the queue again and claim the next ones, not take "nothing won" for "nothing left". The
    # interleaving is forced (not left to the scheduler or the connection pool) so it is the same on SQLite
    # and PostgreSQL.
    queued = await queue_secret(n=4)
    real_due_ids = mail._due_ids
    first: list = []

    async def read_then_let_sender_a_win(now, limit):
        ids = await real_due_ids(now, limit)
        if not first:
            first.append(None)  # a's own reads below go straight through
            first[:] = await mail.claim_due("sender-a", limit=limit)
        return ids

    monkeypatch.setattr(mail, "_due_ids", read_then_let_sender_a_win)
    second = await mail.claim_due("sender-b", limit=2)
    assert [e.id for e in first] == [e.id for e in queued[:2]]
    assert [e.id for e in second] == [e.id for e in queued[2:]]


async def test_stale_claim_is_recovered_and_delivered(db, frozen_clock, tmp_path):
    [queued] = await queue_secret()
    await mail.claim_due("dead-sender")
    settings = Settings()
    settings.data_dir = str(tmp_path / "data")
    report = await mail.deliver_pending(settings, stale_after_seconds=300)
    assert report.sent == 0
    frozen_clock.advance(seconds=301)
    report = await mail.deliver_pending(settings, stale_after_seconds=300)
    assert (report.recovered, report.sent) == (1, 1)
    assert (await OutboxEmail.get(id=queued.id)).status == OutboxStatus.SENT


async def test_spool_delivery_writes_one_eml_per_message_atomically(db, frozen_clock, tmp_path):
    settings = Settings()
    settings.data_dir = str(tmp_path / "data")
    queued = await queue_secret(n=2)
    report = await mail.deliver_pending(settings)
    assert report.sent == 2
    files = sorted(settings.spool_path.iterdir())
    assert [f.name for f in files] == [f"message-{e.id:08d}.eml" for e in queued]
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == "claire.martin@example.fr"
    assert SECRET in parsed.get_content()
    assert not any(f.name.startswith(".tmp-") for f in settings.spool_path.iterdir())
    for e in queued:
        assert (await OutboxEmail.get(id=e.id)).body.startswith("[contenu retiré après envoi")


async def test_message_without_secret_keeps_its_body(db, frozen_clock, tmp_path):
    settings = Settings()
    settings.data_dir = str(tmp_path / "data")
    queued = await outbox.enqueue(kind="info", to_address="a@example.fr", subject="Info", body="Bonjour")
    await mail.deliver_pending(settings)
    assert (await OutboxEmail.get(id=queued.id)).body == "Bonjour"


async def test_outbox_overview_is_for_operators_only(db, frozen_clock):
    operator = await make_account(Role.OPERATOR)
    admin = await make_account(Role.PRINCIPAL_ADMIN)
    await queue_secret(n=2)
    counts, rows = await mail.outbox_overview(RequestContext(account_id=operator.id))
    assert counts["pending"] == 2
    assert len(rows) == 2
    with pytest.raises(PermissionDenied):
        await mail.outbox_overview(RequestContext(account_id=admin.id))


async def test_retry_failed_requeues_and_refuses_other_states(db, frozen_clock):
    operator = await make_account(Role.OPERATOR)
    ctx = RequestContext(account_id=operator.id)
    [queued] = await queue_secret()
    with pytest.raises(ValidationError):
        await mail.retry_failed(ctx, queued.id)
    await OutboxEmail.filter(id=queued.id).update(status=OutboxStatus.FAILED, attempts=8)
    await mail.retry_failed(ctx, queued.id)
    stored = await OutboxEmail.get(id=queued.id)
    assert (stored.status, stored.attempts) == (OutboxStatus.PENDING, 0)


def test_cli_mail_send_drains_the_spool(db_url, tmp_path, capsys):
    from cpf_tui.cli import main

    async def queue() -> None:
        from cpf_tui import db as db_module

        await db_module.open_database(db_url)
        try:
            await queue_secret(n=2)
        finally:
            await db_module.close_database()

    asyncio.run(queue())
    config = tmp_path / "cpf.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[database]\nurl = "{db_url}"\n', encoding="utf-8")
    assert main(["--config", str(config), "mail", "send"]) == 0
    out = capsys.readouterr().out
    assert "2 message(s) envoyé(s)" in out
    assert len(list((tmp_path / "data" / "spool").glob("*.eml"))) == 2


def test_message_date_and_times_in_paris_time():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    winter = datetime(2026, 1, 22, 9, 0, tzinfo=timezone.utc)
    row = SimpleNamespace(id=7, to_address="a@example.fr", subject="Objet", body="Bonjour", created_at=winter)
    built = mail.build_message(row, "cpf@example.fr")
    assert built["Date"] == "Thu, 22 Jan 2026 10:00:00 +0100"
    assert mail.mail_time(winter) == "22/01/2026 à 10:00 (heure de Paris)"
    assert mail.mail_time(datetime(2026, 7, 1, 22, 30, tzinfo=timezone.utc)) == "02/07/2026 à 00:30 (heure de Paris)"


def test_account_notices_are_dated_in_paris_time(frozen_clock):
    from types import SimpleNamespace

    from cpf_tui.services import auth

    account = SimpleNamespace(identifier="ABCD2345", prenom="Zoé", nom="Hoarau")
    for compose in (auth._lock_mail, auth._changed_mail):  # noqa: SLF001 - the bodies the outbox receives
        _subject, body = compose(account)
        assert "15/01/2026 à 10:00 (heure de Paris)" in body and "UTC" not in body
