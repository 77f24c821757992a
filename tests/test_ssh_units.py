"""Pieces of `ssh-serve` checked in-process: session environment, identity read back, keys, options."""

from __future__ import annotations

import argparse
import os
import sys

import asyncssh
import pytest

from cpf_tui.errors import ConfigError
from cpf_tui.ssh_cli import app_command
from cpf_tui.ssh_drop import valid_ssh_user
from cpf_tui.ssh_env import request_context_from_env, session_environment
from cpf_tui.ssh_server import AuthorizedKeys, load_or_create_host_key


def make_env(**overrides):
    values = dict(
        term="xterm-256color",
        server_env={"PATH": "/opt/bin:/usr/bin", "HOME": "/srv/cpf", "CPF_TUI_DB_URL": "sqlite:///srv/cpf.db",
                    "COLUMNS": "80", "LINES": "24", "SECRET_TOKEN": "s3cr3t", "CPF_TUI_SSH_USER": "forged"},
        client_env={"LANG": "fr_FR.UTF-8", "COLORTERM": "truecolor", "LD_PRELOAD": "/tmp/evil.so",
                    "CPF_TUI_SSH_USER": "root", "COLUMNS": "200", "LC_TIME": "$(reboot)"},
        ssh_user="alice", key_fingerprint="SHA256:abc", peer="192.0.2.7:50022", drop_dir="/srv/depot/alice",
    )
    values.update(overrides)
    return session_environment(**values)


def test_session_environment_is_built_from_whitelists():
    env = make_env()
    assert env["TERM"] == "xterm-256color"
    assert env["PYTHONUTF8"] == "1"
    assert env["PATH"] == "/opt/bin:/usr/bin" and env["HOME"] == "/srv/cpf"
    assert env["CPF_TUI_DB_URL"] == "sqlite:///srv/cpf.db"  # the server's own settings pass through
    assert env["LANG"] == "fr_FR.UTF-8" and env["COLORTERM"] == "truecolor"
    assert "COLUMNS" not in env and "LINES" not in env
    assert "SECRET_TOKEN" not in env and "LD_PRELOAD" not in env
    assert "LC_TIME" not in env  # odd values from the client are dropped
    # The identity variables come from the server only: neither side can forge them.
    assert env["CPF_TUI_SSH_USER"] == "alice"
    assert env["CPF_TUI_SSH_KEY_FINGERPRINT"] == "SHA256:abc"
    assert env["CPF_TUI_SSH_PEER"] == "192.0.2.7:50022"
    assert env["CPF_TUI_DROP_DIR"] == "/srv/depot/alice"


def test_odd_or_missing_term_gets_a_default():
    assert make_env(term="")["TERM"] == "xterm-256color"
    assert make_env(term="xterm\x1b[2J")["TERM"] == "xterm-256color"
    assert make_env(term="tmux-256color")["TERM"] == "tmux-256color"


def test_request_context_is_read_from_the_environment():
    ctx = request_context_from_env({"CPF_TUI_SSH_USER": "alice", "CPF_TUI_SSH_KEY_FINGERPRINT": "SHA256:abc",
                                    "CPF_TUI_SSH_PEER": "192.0.2.7:50022", "TERM": "xterm"})
    assert (ctx.ssh_user, ctx.ssh_key_fingerprint, ctx.peer, ctx.terminal) == (
        "alice", "SHA256:abc", "192.0.2.7:50022", "xterm")
    assert ctx.account_id is None
    logged_in = ctx.as_account(42, "jeton")
    assert (logged_in.account_id, logged_in.peer, logged_in.ssh_user) == (42, "192.0.2.7:50022", "alice")
    local = request_context_from_env({})
    assert (local.ssh_user, local.peer) == ("", "")


def test_host_key_is_created_private_and_kept(tmp_path):
    path = tmp_path / "ssh" / "host_ed25519_key"
    first = load_or_create_host_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ssh" / "host_ed25519_key.pub").exists()
    again = load_or_create_host_key(path)
    assert again.get_fingerprint("sha256") == first.get_fingerprint("sha256")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_host_key(path)


def test_authorized_keys_file_or_folder(tmp_path):
    private = asyncssh.generate_private_key("ssh-ed25519")
    key = asyncssh.import_public_key(private.export_public_key())
    other = asyncssh.import_public_key(asyncssh.generate_private_key("ssh-ed25519").export_public_key())
    missing = AuthorizedKeys(tmp_path / "absent")
    with pytest.raises(ConfigError, match="introuvable"):
        missing.check()

    single = tmp_path / "authorized_keys"
    single.write_bytes(b'from="127.0.0.1" ' + key.export_public_key())
    single.chmod(0o666)
    with pytest.raises(ConfigError, match="chmod go-w"):
        AuthorizedKeys(single).check()
    single.chmod(0o600)
    AuthorizedKeys(single).check()
    keys = AuthorizedKeys(single).for_user("alice")
    assert keys.validate(key, "127.0.0.1", "127.0.0.1") is not None
    assert keys.validate(key, "192.0.2.1", "192.0.2.1") is None  # from= is honoured
    assert keys.validate(other, "127.0.0.1", "127.0.0.1") is None

    folder = tmp_path / "keys.d"
    folder.mkdir(mode=0o700)
    (folder / "alice").write_bytes(key.export_public_key())
    per_user = AuthorizedKeys(folder)
    assert per_user.for_user("alice").validate(key, "127.0.0.1", "127.0.0.1") is not None
    assert per_user.for_user("bob") is None
    assert per_user.for_user("../keys.d/alice") is None


def test_ssh_user_names_usable_as_folder_names():
    assert valid_ssh_user("alice") and valid_ssh_user("j.dupont-2") and valid_ssh_user("_svc")
    for bad in ("", ".", "..", ".cache", "a/b", "a b", "x" * 65, "é"):
        assert not valid_ssh_user(bad), bad


def test_app_command_defaults_to_this_python_with_the_same_config(tmp_path):
    config = tmp_path / "cpf.toml"
    args = argparse.Namespace(app_command=None, config=str(config), no_mouse=True)
    assert app_command(args) == [sys.executable, "-m", "cpf_tui", "--config", str(config.resolve()), "--no-mouse"]
    custom = argparse.Namespace(app_command="sh -c 'exit 3'", config=None)
    argv = app_command(custom)
    assert os.path.isabs(argv[0]) and argv[1:] == ["-c", "exit 3"]
    with pytest.raises(ConfigError, match="introuvable"):
        app_command(argparse.Namespace(app_command="commande-qui-n-existe-pas", config=None))
    with pytest.raises(ConfigError, match="illisible"):
        app_command(argparse.Namespace(app_command="'non fermé", config=None))


def test_ssh_serve_refuses_bad_options_in_french(tmp_path, capsys):
    from cpf_tui.cli import main

    env_keys = tmp_path / "absent"
    code = main(["ssh-serve", "--port", "0", "--authorized-keys", str(env_keys), "--host-key",
                 str(tmp_path / "hk"), "--drop-root", str(tmp_path / "depot")])
    assert code == 1
    assert "Fichier des clés autorisées introuvable" in capsys.readouterr().err
    code = main(["ssh-serve", "--max-sessions", "0", "--authorized-keys", str(env_keys)])
    assert code == 1
    assert "--max-sessions" in capsys.readouterr().err


@pytest.fixture
def ssh_log(caplog):
    """Records of ssh-serve's logger (it does not propagate: it writes its own file)."""
    import logging

    logger = logging.getLogger("cpf_tui.ssh")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def test_authorized_keys_options_policy(tmp_path, ssh_log):
    import time as time_module

    from cpf_tui.ssh_server import parse_expiry

    assert parse_expiry("20200101Z") == 1577836800.0
    assert parse_expiry("202001011230Z") == 1577881800.0
    assert parse_expiry("20200101123015Z") == 1577881815.0
    assert parse_expiry("2020-01-01") is None and parse_expiry("20201301") is None

    private = asyncssh.generate_private_key("ssh-ed25519")
    key = asyncssh.import_public_key(private.export_public_key())
    line = key.export_public_key().decode()
    folder = tmp_path / "keys.d"
    folder.mkdir(mode=0o700)
    file = folder / "alice"

    def entry_for(options: str):
        file.write_text(f"{options} {line}")
        file.chmod(0o600)
        keys = AuthorizedKeys(folder).for_user("alice")
        return None if keys is None else keys.match(key, "127.0.0.1", "127.0.0.1")

    assert entry_for('command="/bin/sh"') is None
    assert entry_for("permitopen=\"h:1\",no-pty") is None
    assert "option non prise en charge : command" in ssh_log.text
    assert entry_for('expiry-time="20200101"') is None
    assert "expirée (expiry-time)" in ssh_log.text
    assert entry_for('expiry-time="demain"') is None
    future = time_module.strftime("%Y%m%d", time_module.localtime(time_module.time() + 86400 * 400))
    assert entry_for(f'expiry-time="{future}"') is not None
    assert entry_for('from="192.0.2.1"') is None
    assert entry_for("restrict,no-port-forwarding").no_pty is True
    assert entry_for("restrict,pty").no_pty is False
    assert entry_for("no-pty").no_pty is True
    assert entry_for("").no_pty is False
    file.chmod(0o620)  # group-writable: refused at the next login, reason logged
    assert AuthorizedKeys(folder).for_user("alice") is None
    assert "est modifiable par d'autres comptes (droits 620)" in ssh_log.text


def test_a_user_name_that_cannot_be_one_is_kept_written_out():
    """asyncssh already refuses most control characters (SASLprep); whatever gets through is logged inert
    and can never name a key file or a drop folder."""
    from cpf_tui.ssh_server import CpfSSHServer

    server = CpfSSHServer(None)  # type: ignore[arg-type]
    server.begin_auth("alice")
    assert server.ssh_user == "alice"
    server.begin_auth("a\u200bb\x1b]2;x")
    assert server.ssh_user == "a\\u200bb\\x1b]2;x" and not valid_ssh_user(server.ssh_user)
