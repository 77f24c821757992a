"""The command line: French help and errors, init, create-operator, demo (--reset) on its own database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cpf_tui import cli
from cpf_tui.services import passwords, sandbox
from tests.databases import dump_database


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir in tmp_path and no outside configuration."""
    for name in ("CPF_TUI_CONFIG", "CPF_TUI_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CPF_TUI_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_help_is_in_french():
    out = subprocess.run([sys.executable, "-m", "cpf_tui", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("utilisation : cpf-tui")
    assert "options:" in out.stdout and "afficher cette aide et quitter" in out.stdout
    assert "usage:" not in out.stdout and "show this help" not in out.stdout
    assert "positional arguments" not in out.stdout


def test_unknown_command_is_a_french_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["inconnue"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "erreur : argument COMMANDE: choix invalide" in err and "valeurs possibles" in err


def test_missing_option_is_a_french_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["create-operator", "--nom", "Martin"])
    assert exit_info.value.code == 2
    assert "arguments obligatoires manquants" in capsys.readouterr().err


def test_bad_config_file_gives_a_french_error(env, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[security]\ntemp_password_days = 'sept'\n", encoding="utf-8")
    assert cli.main(["--config", str(bad), "config"]) == 1
    assert "Erreur : Paramètre security.temp_password_days" in capsys.readouterr().err
    assert cli.main(["--config", str(tmp_path / "absent.toml"), "init"]) == 1
    assert "Fichier de configuration introuvable" in capsys.readouterr().err
    assert not (env / "cpf-tui.sqlite3").exists()


def test_init_then_create_operator(env, capsys):
    assert cli.main(["init"]) == 0
    out = capsys.readouterr().out
    assert "Migration appliquée : 0001_initial" in out and "1 version(s) de CGU et 9 ligne(s)" in out
    assert cli.main(["init"]) == 0
    assert "0 version(s) de CGU et 0 ligne(s)" in capsys.readouterr().out

    assert cli.main(["create-operator", "--nom", "Martin", "--prenom", "Lucie",
                     "--email", "lucie.martin@caissedesdepots.example"]) == 0
    out = capsys.readouterr().out
    identifier = out.split("Identifiant : ")[1].split()[0]
    database = env / "cpf-tui.sqlite3"
    assert _rows(database, "SELECT identifier, role, password_is_temporary FROM account") == [
        (identifier, "operator", 1)]
    (body, secret), = _rows(database, "SELECT body, contains_secret FROM outbox_email")
    assert secret == 1 and identifier in body
    password = body.split("mot de passe temporaire : ")[1].split()[0]
    assert password not in out
    (password_hash,), = _rows(database, "SELECT password_hash FROM account")
    assert passwords.verify(password_hash, password)
    (action, after), = _rows(database, "SELECT action, after FROM audit_event WHERE action = 'operator.create'")
    assert identifier in after and password not in after and "password" not in after


def test_create_operator_rejects_bad_input_in_french(env, capsys):
    assert cli.main(["init"]) == 0
    capsys.readouterr()
    assert cli.main(["create-operator", "--nom", "Martin", "--prenom", "Lucie", "--email", "pas-une-adresse"]) == 1
    assert "Erreur : E-mail : adresse e-mail invalide" in capsys.readouterr().err
    assert cli.main(["create-operator", "--nom", "[b]Martin[/b]", "--prenom", "Lucie",
                     "--email", "lucie@example.com"]) == 1
    assert "Erreur : Nom" in capsys.readouterr().err
    assert _rows(env / "cpf-tui.sqlite3", "SELECT count(*) FROM account") == [(0,)]


def test_create_operator_on_a_database_behind_says_to_migrate(env, capsys):
    assert cli.main(["create-operator", "--nom", "Martin", "--prenom", "Lucie", "--email", "l@example.com"]) == 1
    assert "cpf-tui migrate" in capsys.readouterr().err


class _AppRuns:
    """Replaces CpfApp.run: records the settings the app was opened with."""

    def __init__(self) -> None:
        self.settings: list = []

    def method(self):
        def run(app, *args, **kwargs):
            self.settings.append(app.settings)

        return run


def test_demo_builds_its_own_database_and_reset_restores_it(env, monkeypatch, capsys):
    from cpf_tui.app import CpfApp

    runs = _AppRuns()
    monkeypatch.setattr(CpfApp, "run", runs.method())
    monkeypatch.setattr(cli, "has_terminal", lambda: True)
    sandbox_file = env / "sandbox.sqlite3"

    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Création de la base de formation" in out
    for row in sandbox.training_accounts():
        assert row.identifier in out
    settings = runs.settings[-1]
    assert settings.sandbox is True
    assert settings.database.url == f"sqlite://{sandbox_file}"
    assert settings.mail.delivery == "spool" and settings.spool_path == env / "sandbox-spool"
    assert not (env / "cpf-tui.sqlite3").exists()  # the configured database is left alone
    original = dump_database(sandbox_file)

    _rows_exec(sandbox_file, "UPDATE holder SET email = 'change@example.com' WHERE id = 1")
    assert cli.main(["demo"]) == 0
    assert "Création de la base" not in capsys.readouterr().out
    assert dump_database(sandbox_file) != original

    assert cli.main(["demo", "--reset"]) == 0
    assert "Création de la base de formation" in capsys.readouterr().out
    assert dump_database(sandbox_file) == original
    assert len(runs.settings) == 3


def test_demo_refuses_the_configured_database(env, monkeypatch, capsys):
    from cpf_tui.app import CpfApp

    runs = _AppRuns()
    monkeypatch.setattr(CpfApp, "run", runs.method())
    monkeypatch.setattr(cli, "has_terminal", lambda: True)
    assert cli.main(["demo", "--db", str(env / "cpf-tui.sqlite3")]) == 1
    assert "distincte de la base configurée" in capsys.readouterr().err
    assert runs.settings == []


def _rows_exec(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()




def _cpf_tui(args: list[str], env: Path) -> subprocess.CompletedProcess[str]:
    """`cpf-tui ARGS` as a script runs it: stdin /dev/null, output to pipes (no terminal at all)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CPF_TUI_")}
    environment["CPF_TUI_DATA_DIR"] = str(env)
    return subprocess.run([sys.executable, "-m", "cpf_tui", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=environment, timeout=120)


def test_without_a_terminal_the_app_refuses_instead_of_spinning(env):
    for args in (["demo"], []):
        done = _cpf_tui(args, env)
        assert done.returncode == 2, done
        assert "cpf-tui a besoin d'un terminal" in done.stderr
    assert "cpf-tui demo --build-only" in _cpf_tui(["demo"], env).stderr
    assert not (env / "sandbox.sqlite3").exists()  # refused before building anything


def test_demo_build_only_builds_the_sandbox_without_opening_it(env, tmp_path):
    target = tmp_path / "poste-1" / "formation.sqlite3"
    target.parent.mkdir()
    done = _cpf_tui(["demo", "--build-only", "--db", str(target)], env)
    assert done.returncode == 0, done.stderr
    assert "Création de la base de formation" in done.stdout
    assert f"Base de formation prête : {target}" in done.stdout
    assert "\x1b[" not in done.stdout  # no application drawn
    original = dump_database(target)
    again = _cpf_tui(["demo", "--build-only", "--db", str(target)], env)
    assert again.returncode == 0 and "Création" not in again.stdout
    assert dump_database(target) == original
