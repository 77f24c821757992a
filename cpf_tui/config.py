"""Settings: defaults, then a TOML file (`--config` / `CPF_TUI_CONFIG`), then `CPF_TUI_*` variables.

Plain dataclasses and `tomllib` rather than pydantic-settings: the configuration is read before the
first frame is drawn, and pydantic would add about 0.2 s to every start (see docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from cpf_tui.errors import ConfigError

ENV_PREFIX = "CPF_TUI_"


def default_data_dir() -> Path:
    """The user data directory that holds the default SQLite database and the mail spool."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("cpf-tui", appauthor=False))


@dataclass
class DatabaseSettings:
    """Where the data lives."""

    url: str = ""
    """Database URL: `sqlite:///chemin/fichier.sqlite3` or `postgres://user:pass@host:5432/db`; empty = user data dir."""


@dataclass
class SmtpSettings:
    """Real e-mail delivery; used when `mail.delivery = "smtp"`."""

    host: str = "localhost"
    """SMTP server host name."""
    port: int = 25
    """SMTP server port."""
    security: str = "none"
    """`none`, `starttls` or `tls`."""
    username: str = ""
    """Login, if the server asks for one."""
    password: str = ""
    """Password for the login (secret)."""
    timeout: float = 10.0
    """Seconds before a connection attempt is abandoned."""


@dataclass
class MailSettings:
    """Outbox delivery."""

    delivery: str = "spool"
    """`spool` (files in `spool_dir`) or `smtp`."""
    spool_dir: str = ""
    """Folder of delivered messages for the embedded delivery; empty = `<data dir>/spool`."""
    sender: str = "CPF-gestion <no-reply@cpf-tui.invalid>"
    """From: address of every message."""
    max_attempts: int = 8
    """Attempts before a message is marked failed."""
    retry_base_seconds: int = 30
    """First retry delay; doubles on every failure."""


@dataclass
class SecuritySettings:
    """Login, session and password parameters (see docs/security.md)."""

    idle_timeout_admin_minutes: int = 15
    """Minutes without a key press before the screen locks, for operators and administrators."""
    idle_timeout_gestionnaire_minutes: int = 30
    """Minutes without a key press before the screen locks, for gestionnaires."""
    session_max_hours: int = 12
    """A session never lasts longer than this."""
    lockout_delay_after: int = 5
    """Consecutive failures after which each new attempt waits a growing delay."""
    lockout_lock_after: int = 10
    """Consecutive failures after which the account is locked."""
    lockout_base_delay_seconds: int = 2
    """First delay after `lockout_delay_after` failures; doubles with each further failure."""
    temp_password_days: int = 7
    """Lifetime of a temporary password, in days."""
    zxcvbn_min_score: int = 3
    """Minimum zxcvbn score (0-4) of a chosen password."""
    password_history: int = 5
    """How many previous passwords cannot be chosen again."""


@dataclass
class BulkSettings:
    """Bulk habilitation by Excel file."""

    min_rows: int = 30
    """Files with this many rows or fewer are refused (manual habilitation); 0 disables the check."""
    max_rows: int = 10000
    """Largest number of data rows accepted in one file."""
    max_bytes: int = 10 * 1024 * 1024
    """Largest file size accepted, in bytes."""


@dataclass
class AuditSettings:
    """The audit journal's key (see docs/security.md, § 12)."""

    key_file: str = ""
    """File of the key that signs the journal's chain (HMAC), mode 0600, outside the database; empty = `<data dir>/audit.key`."""


@dataclass
class UiSettings:
    """Terminal behaviour."""

    mouse: bool = True
    """Mouse reporting; turn it off for slow links (`--no-mouse`)."""
    changed_lines_only: bool = True
    """Write only the screen lines that changed (`cpf_tui/screen_memory.py`); false sends every redraw."""


@dataclass
class Settings:
    """Effective configuration of one run."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    bulk: BulkSettings = field(default_factory=BulkSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    data_dir: str = ""
    """Folder for the default database, spool and generated files; empty = the user data directory."""
    sandbox: bool = False
    """Training mode (set by `cpf-tui demo`, never from a file)."""
    config_file: str = ""
    """Path of the TOML file that was read, if any."""

    # -- derived values -------------------------------------------------------------------
    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite://{self.data_path / 'cpf-tui.sqlite3'}"

    @property
    def audit_key_path(self) -> Path:
        return Path(self.audit.key_file).expanduser() if self.audit.key_file else self.data_path / "audit.key"

    @property
    def spool_path(self) -> Path:
        return Path(self.mail.spool_dir).expanduser() if self.mail.spool_dir else self.data_path / "spool"


SECRET_KEYS = {("smtp", "password")}
SECTIONS = ("database", "mail", "smtp", "security", "bulk", "ui", "audit")


def _coerce(value: Any, target: Any, name: str) -> Any:
    """Convert a TOML or environment value to the type of the default, with a French error."""
    kind = type(target)
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "oui", "on"}:
            return True
        if text in {"0", "false", "no", "non", "off", ""}:
            return False
        raise ConfigError(f"Paramètre {name} : « {value} » n'est pas un booléen (true/false).")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"Paramètre {name} : un nombre entier est attendu.")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"Paramètre {name} : « {value} » n'est pas un nombre entier.") from None
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"Paramètre {name} : « {value} » n'est pas un nombre.") from None
    if not isinstance(value, str):
        raise ConfigError(f"Paramètre {name} : une chaîne de caractères est attendue.")
    return value


def _apply(obj: Any, values: Mapping[str, Any], prefix: str) -> None:
    known = {f.name: f for f in fields(obj)}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in known or key in {"sandbox", "config_file"}:
            raise ConfigError(f"Paramètre inconnu dans la configuration : {name}.")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"La section [{name}] doit être une table.")
            _apply(current, value, f"{name}.")
        else:
            setattr(obj, key, _coerce(value, current, name))


def load_settings(config_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings: defaults < TOML file < environment variables."""
    env = os.environ if env is None else env
    settings = Settings()
    path = config_path or env.get(f"{ENV_PREFIX}CONFIG") or ""
    if path:
        file = Path(path).expanduser()
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Fichier de configuration introuvable : {file}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Fichier de configuration illisible : {file} ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Fichier de configuration invalide : {file} ({exc})") from None
        _apply(settings, data, "")
        settings.config_file = str(file)
    # Environment: CPF_TUI_DB_URL (short form), CPF_TUI_<SECTION>__<KEY>, CPF_TUI_DATA_DIR.
    if env.get(f"{ENV_PREFIX}DB_URL"):
        settings.database.url = env[f"{ENV_PREFIX}DB_URL"]
    if env.get(f"{ENV_PREFIX}DATA_DIR"):
        settings.data_dir = env[f"{ENV_PREFIX}DATA_DIR"]
    for section in SECTIONS:
        obj = getattr(settings, section)
        for f in fields(obj):
            var = f"{ENV_PREFIX}{section.upper()}__{f.name.upper()}"
            if var in env:
                setattr(obj, f.name, _coerce(env[var], getattr(obj, f.name), f"{section}.{f.name}"))
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if settings.mail.delivery not in {"spool", "smtp"}:
        raise ConfigError("Paramètre mail.delivery : valeurs possibles « spool » ou « smtp ».")
    if settings.smtp.security not in {"none", "starttls", "tls"}:
        raise ConfigError("Paramètre smtp.security : valeurs possibles « none », « starttls » ou « tls ».")
    sec = settings.security
    for name in ("idle_timeout_admin_minutes", "idle_timeout_gestionnaire_minutes", "session_max_hours",
                 "lockout_delay_after", "lockout_lock_after", "temp_password_days"):
        if getattr(sec, name) <= 0:
            raise ConfigError(f"Paramètre security.{name} : un nombre strictement positif est attendu.")
    if sec.lockout_lock_after <= sec.lockout_delay_after:
        raise ConfigError("Paramètre security.lockout_lock_after : doit dépasser security.lockout_delay_after.")
    if not 0 <= sec.zxcvbn_min_score <= 4:
        raise ConfigError("Paramètre security.zxcvbn_min_score : valeur entre 0 et 4.")
    if settings.bulk.min_rows < 0 or settings.bulk.max_rows <= 0 or settings.bulk.max_bytes <= 0:
        raise ConfigError("Paramètres bulk : valeurs positives attendues.")
    url = settings.database.url
    if url and not url.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
        raise ConfigError(
            "Paramètre database.url : adresse non reconnue (attendu sqlite://… ou postgres://…)."
        )


def masked_dict(settings: Settings) -> dict[str, Any]:
    """The effective settings as a nested dict, secrets masked (for `cpf-tui config`)."""
    out: dict[str, Any] = {}
    for section in SECTIONS:
        obj = getattr(settings, section)
        values = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if (section, f.name) in SECRET_KEYS and value:
                value = "********"
            values[f.name] = value
        out[section] = values
    url = settings.database_url
    out["database"]["effective_url"] = mask_url(url)
    out["database"]["url"] = mask_url(settings.database.url)
    out["data_dir"] = str(settings.data_path)
    out["config_file"] = settings.config_file or "(aucun)"
    return out


def mask_url(url: str) -> str:
    """Hide the password of a database URL."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":********@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
