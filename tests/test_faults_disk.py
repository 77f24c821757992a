"""Disk full under `cpf-tui mail send` and `cpf-tui audit export` (RLIMIT_FSIZE in a real child process):
a French message, no traceback, nothing half-written. (The SQLite database under a writer, and backups:
tests/test_backup.py.)"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from models import OutboxEmail, OutboxStatus
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(bool(PG_URL), reason="the SQLite database shares the child's file-size limit")

FILES_LIMIT = 64 * 1024
"""Room for the database's write-ahead log (emptied first), not for the export."""


def _empty_the_log(db_url: str) -> None:
    import sqlite3

    conn = sqlite3.connect(db_url[len("sqlite://"):])
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _cpf_tui(db_url: str, data: Path, *args: str, limit: int = FILES_LIMIT) -> subprocess.CompletedProcess[str]:
    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {key: value for key, value in os.environ.items() if key != "CPF_TUI_CONFIG"}
    env.update({"CPF_TUI_DB_URL": db_url, "CPF_TUI_DATA_DIR": str(data), "CPF_TUI_MAIL__DELIVERY": "spool"})
    return subprocess.run([sys.executable, "-m", "cpf_tui", *args], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, preexec_fn=small_files)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def test_disk_full_while_exporting_the_journal_leaves_no_file(db, tmp_path):
    from cpf_tui.services import audit

    for n in range(1500):
        await audit.record("account.create", actor_identifier="cli", target_type="Account", target_id=n,
                           target_label=f"Compte {n} " + "x" * 60)
    _empty_the_log(db)
    data = tmp_path / "data"
    target = tmp_path / "exports" / "journal.xlsx"
    done = _cpf_tui(db, data, "audit", "export", "-o", str(target))
    assert done.returncode == 1
    assert f"Erreur : Impossible d'écrire le fichier {target} : disque plein" in done.stderr
    assert "Traceback" not in done.stderr
    assert _files(target.parent) == []


async def test_disk_full_under_the_database_during_mail_send_is_a_french_message(db, tmp_path):
    from cpf_tui.services import outbox

    queued = await outbox.enqueue(kind="account_created", to_address="claire.martin@example.fr",
                                  subject="Vos identifiants", body="Bonjour.\n")
    _empty_the_log(db)
    done = _cpf_tui(db, tmp_path / "data", "mail", "send", limit=1024)
    assert done.returncode == 1
    assert "Erreur : Enregistrement impossible : le disque du serveur est plein" in done.stderr
    assert "Traceback" not in done.stderr
    stored = await OutboxEmail.get(id=queued.id)
    assert stored.status in (OutboxStatus.PENDING, OutboxStatus.SENDING)  # claimed or not, never half-written
