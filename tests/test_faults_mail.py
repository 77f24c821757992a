"""Outbox under faults, with real children: two `cpf-tui mail send` at once on 1,000 queued messages
(each sent exactly once, real SMTP server), and a sender killed with SIGKILL mid-delivery (its claims
are left alone, then taken back after the claim delay)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from cpf_tui import clock
from cpf_tui.services import mail, outbox
from models import OutboxEmail, OutboxStatus
from tests.smtp_support import Recorder, SmtpServer

ROOT = Path(__file__).resolve().parent.parent
SENT = re.compile(r"(\d+) message\(s\) envoyé\(s\)")


def _environment(db_url: str, smtp_port: int, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CPF_TUI_CONFIG"}
    env.update({
        "CPF_TUI_DB_URL": db_url, "CPF_TUI_DATA_DIR": str(tmp_path / "data"), "CPF_TUI_MAIL__DELIVERY": "smtp",
        "CPF_TUI_SMTP__HOST": "127.0.0.1", "CPF_TUI_SMTP__PORT": str(smtp_port), "CPF_TUI_SMTP__TIMEOUT": "90",  # longer than the Recorder's longest hold (60 s)
    })
    return env


def _send(env: dict[str, str], children: list) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "cpf_tui", "mail", "send"], env=env, cwd=ROOT,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(process)
    return process


def _sent_by(process: subprocess.Popen) -> int:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    return int(SENT.search(out).group(1))


async def _queue(count: int) -> list[str]:
    subjects = [f"Message n° {n}" for n in range(count)]
    await outbox.enqueue_many(
        outbox.message(kind="account_created", to_address=f"personne{n}@example.fr", subject=subject,
                       body=f"Bonjour {n}\n")
        for n, subject in enumerate(subjects)
    )
    return subjects


@pytest.mark.slow
async def test_two_senders_at_once_send_each_of_1000_messages_exactly_once(db, tmp_path, children):
    subjects = await _queue(1000)
    # No message is accepted until both senders are delivering: the first one cannot send all 1,000
    # before the second has started (a quiet machine started them 1 s apart, and the first won them all).
    with SmtpServer(Recorder(hold_until_sessions=2)) as server:
        env = _environment(db, server.port, tmp_path)
        senders = [_send(env, children), _send(env, children)]
        counts = [_sent_by(sender) for sender in senders]
        received = Counter(message["Subject"] for message in server.recorder.messages)
    assert sum(counts) == 1000
    assert all(count > 0 for count in counts), counts  # both really took part
    assert received == Counter(subjects)  # every message once, none twice, none lost
    assert await OutboxEmail.filter(status=OutboxStatus.SENT).count() == 1000


@pytest.mark.slow
async def test_a_killed_senders_claims_are_taken_back_after_the_claim_delay(db, tmp_path, children):
    subjects = await _queue(120)
    recorder = Recorder(stall_first=True)
    with SmtpServer(recorder) as server:
        env = _environment(db, server.port, tmp_path)
        victim = _send(env, children)
        assert recorder.stalled.wait(60), victim.communicate(timeout=30)
        claimed = await OutboxEmail.filter(status=OutboxStatus.SENDING).count()
        assert 0 < claimed <= 50  # one batch claimed by the sender now stuck in the middle of a delivery
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=30)
        assert victim.returncode == -signal.SIGKILL
        recorder.release.set()

        # Another sender delivers everything else but leaves the dead sender's claims alone...
        assert _sent_by(_send(env, children)) == 120 - claimed
        assert await OutboxEmail.filter(status=OutboxStatus.SENDING).count() == claimed
        # ...until the claim delay has passed (aged here instead of waited for).
        aged = clock.now() - timedelta(seconds=mail.DEFAULT_STALE_AFTER_SECONDS + 1)
        await OutboxEmail.filter(status=OutboxStatus.SENDING).update(claimed_at=aged)
        last = _send(env, children)
        out, err = last.communicate(timeout=120)
        assert last.returncode == 0, out + err
        assert f"{claimed} message(s) envoyé(s)" in out and f"{claimed} envoi(s) interrompu(s) repris" in out
        received = Counter(message["Subject"] for message in recorder.messages)
    assert received == Counter(subjects)
    assert await OutboxEmail.filter(status=OutboxStatus.SENT).count() == 120
