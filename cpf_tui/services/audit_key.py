"""The key that signs the audit journal's chain (HMAC-SHA256): a 0600 file outside the database.

Someone who can write the database but not read this file cannot re-chain the journal after removing
or editing an event: `audit.verify_chain` recomputes every link with the key (docs/security.md, § 12).

Which key a process uses: the file named by its settings (`[audit] key_file`, default
`<data dir>/audit.key`), installed by the CLI and the App with `configure`; a process given no
settings (library use, test workers) reads the file named by `CPF_TUI_AUDIT__KEY_FILE`.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpf_tui.errors import ConfigError

from models import AuditEvent
KEY_BYTES = 32
ENV_VAR = "CPF_TUI_AUDIT__KEY_FILE"
_HEADER = (
    "# Clé du journal d'audit de cpf-tui : à garder secrète (mode 0600), hors de la base de données,\n"
    "# et à sauvegarder à part : sans elle le journal ne peut plus être vérifié.\n"
)


@dataclass(frozen=True)
class AuditKey:
    """The secret and the first event it signs (earlier events predate the key: plain SHA-256)."""

    secret: bytes
    keyed_from: int
    path: Path


_installed: AuditKey | None = None


def missing_message(path: Path) -> str:
    return (
        f"Clé du journal d'audit introuvable : {path}. Lancez « cpf-tui migrate » (ou « cpf-tui init » "
        "pour une base neuve) pour la créer, ou indiquez son chemin ([audit] key_file)."
    )


def read_key(path: str | os.PathLike[str]) -> AuditKey:
    """Read a key file; French ConfigError when it is missing, readable by others or malformed."""
    target = Path(path).expanduser()
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(missing_message(target)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Clé du journal d'audit illisible : {target} ({exc}).") from None
    if mode & 0o037:  # group read alone is allowed, for the several-accounts setup (docs/deploy.md § 3)
        raise ConfigError(
            f"Clé du journal d'audit accessible à d'autres utilisateurs : {target} (mode {mode:04o}). "
            "Rendez-la privée : chmod 600."
        )
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    try:
        secret = bytes.fromhex(values["key"])
        keyed_from = int(values["keyed_from"])
    except (KeyError, ValueError):
        raise ConfigError(f"Clé du journal d'audit invalide : {target}.") from None
    if len(secret) != KEY_BYTES or keyed_from < 1:
        raise ConfigError(f"Clé du journal d'audit invalide : {target}.")
    return AuditKey(secret, keyed_from, target)


def create_key(path: str | os.PathLike[str], keyed_from: int = 1) -> AuditKey:
    """Write a new random key (0600, never over an existing file) that signs events from `keyed_from` on."""
    from cpf_tui.private_files import create_private_exclusive

    target = Path(path).expanduser()
    secret = secrets.token_bytes(KEY_BYTES)
    text = f"{_HEADER}key = {secret.hex()}\nkeyed_from = {keyed_from}\n"
    create_private_exclusive(target, text.encode("utf-8"))
    return AuditKey(secret, keyed_from, target)


async def ensure_key(path: str | os.PathLike[str]) -> tuple[AuditKey, bool]:
    """The key at `path`, created if missing for the open database (True when created).

    A new key signs the events written after the current head of the journal; those before it (a
    database older than the key) keep their plain SHA-256 links, covered by the first signed event.
    """

    target = Path(path).expanduser()
    if target.exists():
        return read_key(target), False
    head = await AuditEvent.all().order_by("-seq").first()
    return create_key(target, (head.seq if head else 0) + 1), True


def install(key: AuditKey | None) -> None:
    """Use `key` for every event this process writes or verifies (None: back to the environment's)."""
    global _installed, _pending
    _installed = key
    _pending = None


_pending: Path | None = None
"""Where the key is to be created by the first event written, when the configured file is missing."""


def configure(settings: Any, *, create_missing: bool = True) -> AuditKey | None:
    """Install the key file named by `settings`.

    A missing file is created by the first event this process writes (`create_missing`, the App and
    the commands that write), or is a French ConfigError (`create_missing=False`: verifying needs the
    key that signed the journal, never a new one). Settings built in code rather than read by
    `load_settings` (tests) may name no existing key: the one named by `CPF_TUI_AUDIT__KEY_FILE` is
    used then. Returns the key installed, if any.
    """
    global _pending
    path = settings.audit_key_path
    if path.exists():
        key = read_key(path)
        install(key)
        return key
    if os.environ.get(ENV_VAR):
        return None
    if not create_missing:
        raise ConfigError(missing_message(path))
    install(None)
    _pending = path
    return None


def _environment_key_path() -> Path:
    """The key file of this process's environment (`CPF_TUI_AUDIT__KEY_FILE`, else its configuration)."""
    named = os.environ.get(ENV_VAR, "")
    if named:
        return Path(named).expanduser()
    if _pending is not None:
        return _pending
    from cpf_tui.config import load_settings

    return load_settings().audit_key_path


def active(*, head_seq: int | None = None) -> AuditKey:
    """The key of this process: installed, else the one named by the environment or configuration.

    A writer passes the journal's current `head_seq`: a missing key file is then created, signing
    the events that follow (docs/security.md § 13); a reader gets a French ConfigError instead.
    """
    if _installed is not None:
        return _installed
    path = _environment_key_path()
    if not path.exists() and head_seq is not None and not os.environ.get(ENV_VAR):
        try:
            key = create_key(path, head_seq + 1)
        except FileExistsError:  # created meanwhile by another process
            key = read_key(path)
    else:
        key = read_key(path)
    install(key)
    return key
