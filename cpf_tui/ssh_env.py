"""The environment of an app process started for an SSH session, and the RequestContext read back from it.

Kept free of asyncssh and textual: `cpf-tui` imports it at every start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from cpf_tui.services.context import RequestContext

SSH_USER_VAR = "CPF_TUI_SSH_USER"
SSH_KEY_FINGERPRINT_VAR = "CPF_TUI_SSH_KEY_FINGERPRINT"
SSH_PEER_VAR = "CPF_TUI_SSH_PEER"
DROP_DIR_VAR = "CPF_TUI_DROP_DIR"
SESSION_VARS = (SSH_USER_VAR, SSH_KEY_FINGERPRINT_VAR, SSH_PEER_VAR, DROP_DIR_VAR)

SERVER_VARS = ("PATH", "HOME", "USER", "LOGNAME", "TZ", "TMPDIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
               "XDG_CACHE_HOME", "VIRTUAL_ENV")
"""Variables of the server's own environment handed to every app process (trusted side)."""

CLIENT_VARS = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_TIME", "LC_NUMERIC", "LC_COLLATE",
               "COLORTERM", "NO_COLOR")
"""Variables an SSH client may set for its session (`SendEnv`); anything else it sends is dropped."""

NEVER_VARS = ("COLUMNS", "LINES")
"""`shutil.get_terminal_size()` prefers these to the terminal: the app would never see a resize."""

_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.,:@+=/-]{0,64}")
_SAFE_TERM = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
DEFAULT_TERM = "xterm-256color"


def safe_term(term: str) -> str:
    """The TERM asked for in the pty request, or a sane default when it is empty or odd."""
    return term if _SAFE_TERM.fullmatch(term or "") else DEFAULT_TERM


def session_environment(
    *,
    term: str,
    server_env: Mapping[str, str],
    client_env: Mapping[str, str],
    ssh_user: str,
    key_fingerprint: str,
    peer: str,
    drop_dir: str,
) -> dict[str, str]:
    """The whole environment of one app process: built from whitelists, never inherited as a block.

    The server's `CPF_TUI_*` settings (database URL, data folder...) pass through; the SSH identity
    variables are always set by the server, so a client cannot forge them.
    """
    env: dict[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    for name in SERVER_VARS:
        if server_env.get(name):
            env[name] = server_env[name]
    for name, value in server_env.items():
        if name.startswith("CPF_TUI_") and name not in SESSION_VARS:
            env[name] = value
    for name in CLIENT_VARS:
        value = client_env.get(name)
        if isinstance(value, str) and _SAFE_VALUE.fullmatch(value):
            env[name] = value
    env.update({
        "TERM": safe_term(term),
        "PYTHONUTF8": "1",
        SSH_USER_VAR: ssh_user,
        SSH_KEY_FINGERPRINT_VAR: key_fingerprint,
        SSH_PEER_VAR: peer,
        DROP_DIR_VAR: drop_dir,
    })
    for name in NEVER_VARS:
        env.pop(name, None)
    return env


def request_context_from_env(env: Mapping[str, str] | None = None) -> RequestContext:
    """Where this app process is used from: the SSH identity set by `ssh-serve` (or the OpenSSH wrapper)."""
    env = os.environ if env is None else env
    return RequestContext(
        ssh_user=env.get(SSH_USER_VAR, "")[:64],
        ssh_key_fingerprint=env.get(SSH_KEY_FINGERPRINT_VAR, "")[:128],
        peer=env.get(SSH_PEER_VAR, "")[:64],
        terminal=env.get("TERM", ""),
    )
