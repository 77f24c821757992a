"""`--db FICHIER` on every command that opens a database (check, audit, mail, cgu, habilitation), like `demo`:
the command works on that SQLite file (and its journal key next to it), never on the configured database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cpf_tui import cli


@pytest.fixture
def sandbox_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A training database built by `demo --build-only --db`, with a configured data dir left empty."""
    for name in ("CPF_TUI_CONFIG", "CPF_TUI_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CPF_TUI_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "formation" / "bac.sqlite3"
    path.parent.mkdir()
    assert cli.main(["demo", "--build-only", "--db", str(path)]) == 0
    return path


def _configured(tmp_path: Path) -> Path:
    return tmp_path / "data" / "cpf-tui.sqlite3"


def test_check_reads_the_file_given_by_db(sandbox_file, tmp_path, capsys):
    capsys.readouterr()
    assert cli.main(["check", "--db", str(sandbox_file)]) == 0
    assert "Comptes d'heures cohérents" in capsys.readouterr().out
    conn = sqlite3.connect(sandbox_file)
    with conn:
        conn.execute("UPDATE holder SET cpf_acquired_minutes = cpf_acquired_minutes + 60 WHERE id = 1")
    conn.close()
    assert cli.main(["check", "--db", str(sandbox_file)]) == 1
    assert "incohérence" in capsys.readouterr().err
    assert not _configured(tmp_path).exists()


@pytest.mark.parametrize("argv", [["audit", "verify", "--db", "{db}"], ["audit", "--db", "{db}", "anchor"]])
def test_audit_verifies_the_file_given_by_db_with_its_own_key(sandbox_file, tmp_path, capsys, argv):
    capsys.readouterr()
    assert cli.main([part.format(db=sandbox_file) for part in argv]) == 0
    assert "1:" in capsys.readouterr().out
    assert not _configured(tmp_path).exists()


def test_mail_sends_the_outbox_of_the_file_given_by_db(sandbox_file, tmp_path, capsys):
    capsys.readouterr()
    assert cli.main(["mail", "send", "--db", str(sandbox_file)]) == 0
    assert "Envoi des courriels" in capsys.readouterr().out
    assert not _configured(tmp_path).exists()


def test_cgu_publish_goes_to_the_file_given_by_db(sandbox_file, tmp_path, capsys):
    text = tmp_path / "cgu.txt"
    text.write_text("Conditions générales, version de test.\n", encoding="utf-8")
    before = sqlite3.connect(sandbox_file).execute("SELECT MAX(version) FROM cgu_version").fetchone()[0]
    assert cli.main(["cgu", "--db", str(sandbox_file), "publish", str(text)]) == 0
    after = sqlite3.connect(sandbox_file).execute("SELECT MAX(version) FROM cgu_version").fetchone()[0]
    assert after == before + 1
    assert not _configured(tmp_path).exists()


def test_habilitation_accepts_db(sandbox_file, tmp_path, capsys):
    siret = sqlite3.connect(sandbox_file).execute("SELECT siret FROM organisation ORDER BY id LIMIT 1").fetchone()[0]
    out = tmp_path / "modele.xlsx"
    assert cli.main(["habilitation", "template", "--siret", siret, "-o", str(out), "--db", str(sandbox_file)]) == 0
    assert out.is_file()
    assert not _configured(tmp_path).exists()


def test_a_missing_db_file_is_refused_in_french_and_not_created(sandbox_file, tmp_path, capsys):
    missing = tmp_path / "absent.sqlite3"
    for argv in (["check", "--db", str(missing)], ["audit", "verify", "--db", str(missing)],
                 ["mail", "--db", str(missing), "send"]):
        assert cli.main(argv) == 1
        assert "Base introuvable" in capsys.readouterr().err
    assert not missing.exists()
