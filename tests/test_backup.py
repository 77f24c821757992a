"""`cpf-tui sauvegarde` and `cpf-tui restauration` (SQLite online backup API), with real children."""

from __future__ import annotations

import os
import resource
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cpf_tui import cli
from cpf_tui.services import backup
from tests.conftest import PG_URL

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite backups (PostgreSQL: pg_dump, tested by its message)")

ROOT = Path(__file__).resolve().parent.parent
WRITES = 1000


def _environment(db_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CPF_TUI_CONFIG"}
    env["CPF_TUI_DB_URL"] = db_url
    return env


def _cpf_tui(db_url: str, *args: str, **options) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cpf_tui", *args], env=_environment(db_url), cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, **options)


def _path(db_url: str) -> Path:
    return Path(db_url[len("sqlite://"):])


def _rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _writer(db_url: str, count: int, children: list) -> subprocess.Popen:
    writer = subprocess.Popen([sys.executable, "-m", "tests.writer_process", db_url, str(count)],
                              env=_environment(db_url), cwd=ROOT, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(writer)
    return writer


def _wait_for_line(process: subprocess.Popen, accept) -> str:
    """Read the process's output until a line satisfies `accept` (the process ending first fails)."""
    for line in process.stdout:
        if accept(line.strip()):
            return line.strip()
    raise AssertionError(f"process ended first: {process.wait(timeout=30)} {process.stderr.read()}")


def _filled(db_url: str, children: list, count: int = 30) -> None:
    writer = _writer(db_url, count, children)
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err


@sqlite_only
@pytest.mark.slow
def test_backup_during_a_1000_write_run_restores_to_a_checked_database(db_url, tmp_path, children):
    writer = _writer(db_url, WRITES, children)
    done_before = int(_wait_for_line(writer, lambda line: line.isdigit() and int(line) >= 150))
    saved = tmp_path / "sauvegardes" / "cpf.sqlite3"
    made = _cpf_tui(db_url, "sauvegarde", str(saved))
    writer_was_running = writer.poll() is None
    assert made.returncode == 0, made.stderr
    assert "Sauvegarde écrite" in made.stdout
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert not list(saved.parent.glob("*.partial*"))
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert writer_was_running  # the backup was taken while the writer was still writing

    # One self-contained file (no WAL beside it), a snapshot between two commits of the writer.
    assert _rows(saved, "PRAGMA journal_mode") == [("delete",)]
    movements = _rows(saved, "SELECT count(*) FROM hours_movement")[0][0]
    events = _rows(saved, "SELECT count(*) FROM audit_event WHERE action = 'holder.cpf_acquisition'")[0][0]
    assert movements == events  # each write whole: its movement and its event, or neither
    assert done_before <= events < WRITES
    assert out.split()[-1] == str(WRITES)
    assert _rows(_path(db_url), "SELECT count(*) FROM audit_event WHERE action = 'holder.cpf_acquisition'") == [
        (WRITES,)]

    restored_url = f"sqlite://{tmp_path / 'restauree' / 'cpf.sqlite3'}"
    restored = _cpf_tui(restored_url, "restauration", str(saved))
    assert restored.returncode == 0, restored.stderr
    assert "Base restaurée" in restored.stdout and "journal d'audit intact" in restored.stdout
    assert stat.S_IMODE(_path(restored_url).stat().st_mode) == 0o600
    check = _cpf_tui(restored_url, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Comptes d'heures cohérents" in check.stdout
    verify = _cpf_tui(restored_url, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "intègre" in verify.stdout
    assert _rows(_path(restored_url), "SELECT count(*) FROM hours_movement") == [(movements,)]


@sqlite_only
def test_backup_never_replaces_an_existing_file(db_url, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    target = tmp_path / "existant.sqlite3"
    target.write_bytes(b"autre chose")
    assert cli.main(["sauvegarde", str(target)]) == 1
    assert "existe déjà" in capsys.readouterr().err
    assert target.read_bytes() == b"autre chose"


def test_postgresql_backup_and_restore_point_to_pg_dump(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CPF_TUI_DB_URL", "postgres://cpf@127.0.0.1:9/cpf")
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    target = tmp_path / "cpf.dump"
    assert cli.main(["sauvegarde", str(target)]) == 1
    err = capsys.readouterr().err
    assert "PostgreSQL" in err and "pg_dump" in err
    assert not target.exists()
    target.write_bytes(backup.SQLITE_HEADER)
    assert cli.main(["restauration", str(target)]) == 1
    assert "pg_restore" in capsys.readouterr().err


@sqlite_only
def test_disk_full_during_a_backup_leaves_no_file(db_url, tmp_path, children):
    _filled(db_url, children)
    assert _path(db_url).stat().st_size > 64 * 1024
    target = tmp_path / "plein" / "cpf.sqlite3"

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, 32 * 1024))

    done = _cpf_tui(db_url, "sauvegarde", str(target), preexec_fn=small_files)
    assert done.returncode == 1
    assert "Sauvegarde impossible (erreur d'écriture sur le disque : disque plein" in done.stderr and "aucun fichier" in done.stderr
    assert list(target.parent.iterdir()) == []


@sqlite_only
def test_restore_refuses_a_database_in_use(db_url, tmp_path, children):
    _filled(db_url, children)
    saved = tmp_path / "cpf-sauvegarde.sqlite3"
    assert _cpf_tui(db_url, "sauvegarde", str(saved)).returncode == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
         " c.execute('SELECT count(*) FROM account').fetchall(); print('ouverte', flush=True); sys.stdin.read()",
         str(_path(db_url))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(holder)
    _wait_for_line(holder, lambda line: line == "ouverte")
    before = _path(db_url).read_bytes()
    refused = _cpf_tui(db_url, "restauration", str(saved))
    assert refused.returncode == 1
    assert "en cours d'utilisation" in refused.stderr and f"processus {holder.pid}" in refused.stderr
    assert "Rien n'a été modifié" in refused.stderr
    assert _path(db_url).read_bytes() == before
    assert sorted(p.name for p in _path(db_url).parent.iterdir() if "restauration" in p.name or "partial" in p.name) == []
    holder.stdin.close()
    holder.wait(timeout=30)
    again = _cpf_tui(db_url, "restauration", str(saved))
    assert again.returncode == 0, again.stderr
    kept = [p for p in _path(db_url).parent.iterdir() if ".avant-restauration-" in p.name]
    assert len(kept) == 1 and stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    assert _rows(kept[0], "SELECT count(*) FROM hours_movement") == [(30,)]


@sqlite_only
def test_restore_refuses_a_backup_whose_journal_was_altered(db_url, tmp_path, children):
    _filled(db_url, children)
    saved = tmp_path / "cpf-sauvegarde.sqlite3"
    assert _cpf_tui(db_url, "sauvegarde", str(saved)).returncode == 0
    conn = sqlite3.connect(saved)
    conn.execute("UPDATE audit_event SET target_label = 'X' WHERE seq = 5")
    conn.commit()
    conn.close()
    target_url = f"sqlite://{tmp_path / 'cible' / 'cpf.sqlite3'}"
    refused = _cpf_tui(target_url, "restauration", str(saved))
    assert refused.returncode == 1
    assert "journal d'audit" in refused.stderr and "n° 5" in refused.stderr
    assert "Rien n'a été modifié" in refused.stderr
    assert not _path(target_url).exists() or _path(target_url).stat().st_size == 0
    assert [p.name for p in _path(target_url).parent.iterdir() if p.name != "cpf.sqlite3"] == []


@sqlite_only
def test_restore_refuses_a_newer_schema_and_a_file_that_is_no_backup(db_url, tmp_path, children):
    _filled(db_url, children, count=10)
    saved = tmp_path / "cpf-sauvegarde.sqlite3"
    assert _cpf_tui(db_url, "sauvegarde", str(saved)).returncode == 0
    conn = sqlite3.connect(saved)
    conn.execute("INSERT INTO tortoise_migrations (app, name, applied_at) VALUES ('models', '9999_future', '2030-01-01')")
    conn.commit()
    conn.close()
    target_url = f"sqlite://{tmp_path / 'cible' / 'cpf.sqlite3'}"
    refused = _cpf_tui(target_url, "restauration", str(saved))
    assert refused.returncode == 1 and "version plus récente" in refused.stderr and "9999_future" in refused.stderr
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("bonjour", encoding="utf-8")
    refused = _cpf_tui(target_url, "restauration", str(not_sqlite))
    assert refused.returncode == 1 and "n'est pas une sauvegarde SQLite" in refused.stderr
    refused = _cpf_tui(target_url, "restauration", str(tmp_path / "absente.sqlite3"))
    assert refused.returncode == 1 and "Sauvegarde introuvable" in refused.stderr


@sqlite_only
def test_disk_full_while_writing_the_database_is_a_french_message_and_nothing_half_written(db_url, tmp_path,
                                                                                          children):
    """A writer whose files may not grow past 256 KiB (RLIMIT_FSIZE): every refused write is a French
    message, the process goes on (it still reads), and what was acknowledged is whole."""
    writer = subprocess.Popen([sys.executable, "-m", "tests.writer_process", db_url, "2000", "--limite-octets",
                               str(256 * 1024)], env=_environment(db_url), cwd=ROOT, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(writer)
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    lines = out.splitlines()
    full = [line for line in lines if line.startswith("plein: ")]
    assert len(full) == 5
    assert all("le disque du serveur est plein" in line and "Rien n'a été enregistré" in line for line in full)
    assert lines[-1] == "lecture 400"  # the process still works after the refusals
    acknowledged = max(int(line) for line in lines if line.isdigit())
    assert 0 < acknowledged < 2000

    path = _path(db_url)
    assert _rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(path, "SELECT count(*) FROM hours_movement") == [(acknowledged,)]
    assert _rows(path, "SELECT count(*) FROM audit_event WHERE action = 'holder.cpf_acquisition'") == [(acknowledged,)]
    for command in (["check"], ["audit", "verify"]):
        done = _cpf_tui(db_url, *command)
        assert done.returncode == 0, done.stdout + done.stderr
