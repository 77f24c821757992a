"""Settings precedence (defaults < TOML < environment) and French errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpf_tui.config import Settings, load_settings, mask_url, masked_dict
from cpf_tui.errors import ConfigError


def _toml(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "cpf-tui.toml"
    path.write_text(content, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment(tmp_path):
    settings = load_settings(env={"CPF_TUI_DATA_DIR": str(tmp_path)})
    assert settings.security.temp_password_days == 7
    assert settings.security.idle_timeout_admin_minutes == 15
    assert settings.security.idle_timeout_gestionnaire_minutes == 30
    assert settings.mail.delivery == "spool"
    assert settings.database_url == f"sqlite://{tmp_path / 'cpf-tui.sqlite3'}"
    assert settings.spool_path == tmp_path / "spool"
    assert settings.sandbox is False and settings.config_file == ""


def test_toml_overrides_defaults_and_environment_overrides_toml(tmp_path):
    path = _toml(tmp_path, """
data_dir = "/srv/cpf"
[security]
temp_password_days = 3
idle_timeout_admin_minutes = 10
[mail]
delivery = "smtp"
[smtp]
host = "smtp.interne"
port = 587
[ui]
mouse = false
""")
    from_file = load_settings(path, env={})
    assert from_file.security.temp_password_days == 3
    assert from_file.smtp.port == 587 and from_file.ui.mouse is False
    assert from_file.config_file == str(path)
    assert from_file.database_url == "sqlite:///srv/cpf/cpf-tui.sqlite3"

    env = {
        "CPF_TUI_SECURITY__TEMP_PASSWORD_DAYS": "5",
        "CPF_TUI_SMTP__HOST": "relais.example",
        "CPF_TUI_UI__MOUSE": "oui",
        "CPF_TUI_DB_URL": "postgres://cpf:secret@db:5432/cpf",
    }
    merged = load_settings(path, env=env)
    assert merged.security.temp_password_days == 5          # env beats TOML
    assert merged.security.idle_timeout_admin_minutes == 10  # TOML beats default
    assert merged.smtp.host == "relais.example" and merged.smtp.port == 587
    assert merged.ui.mouse is True
    assert merged.database_url == "postgres://cpf:secret@db:5432/cpf"


def test_config_file_can_come_from_the_environment(tmp_path):
    path = _toml(tmp_path, "[bulk]\nmin_rows = 12\n")
    assert load_settings(env={"CPF_TUI_CONFIG": str(path)}).bulk.min_rows == 12


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("[security]\ntemp_password_days = 'sept'\n", {}, "security.temp_password_days : « sept » n'est pas un nombre entier"),
        ("[security]\ntemp_password_days = 0\n", {}, "strictement positif"),
        ("[mail]\ndelivery = 'pigeon'\n", {}, "valeurs possibles « spool » ou « smtp »"),
        ("[inconnu]\nx = 1\n", {}, "Paramètre inconnu dans la configuration : inconnu"),
        ("[security]\nlockout_lock_after = 3\n", {}, "doit dépasser security.lockout_delay_after"),
        ("sandbox = true\n", {}, "Paramètre inconnu dans la configuration : sandbox"),
        ("security = 3\n", {}, "La section [security] doit être une table"),
        ("[database\n", {}, "Fichier de configuration invalide"),
        ("", {"CPF_TUI_UI__MOUSE": "peut-être"}, "ui.mouse : « peut-être » n'est pas un booléen"),
        ("", {"CPF_TUI_DB_URL": "mysql://x"}, "adresse non reconnue"),
    ],
)
def test_bad_values_raise_a_french_config_error(tmp_path, content, env, message):
    path = _toml(tmp_path, content)
    with pytest.raises(ConfigError) as error:
        load_settings(path, env=env)
    assert message in error.value.message


def test_missing_file_is_a_french_error(tmp_path):
    with pytest.raises(ConfigError, match="Fichier de configuration introuvable"):
        load_settings(tmp_path / "absent.toml", env={})


def test_secrets_are_masked_for_display():
    settings = Settings()
    settings.smtp.password = "hunter2"
    settings.database.url = "postgres://cpf:motdepasse@db/cpf"
    shown = masked_dict(settings)
    assert shown["smtp"]["password"] == "********"
    assert "motdepasse" not in repr(shown)
    assert mask_url("postgres://cpf:motdepasse@db/cpf") == "postgres://cpf:********@db/cpf"
