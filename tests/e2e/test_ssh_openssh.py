"""The real OpenSSH client, in a real terminal (tmux), logs in to the app through `ssh-serve`."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.e2e.tmux import TMUX, TmuxTerminal, app_env
from tests.factories import DEFAULT_PASSWORD
from tests.test_ssh_harness import SshServer, seed_accounts

SSH = shutil.which("ssh")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux n'est pas installé : test en terminal réel ignoré"),
    pytest.mark.skipif(SSH is None, reason="le client OpenSSH (ssh) n'est pas installé : test ignoré"),
]


def cursor_row(term: TmuxTerminal) -> int:
    return int(term._tmux("display-message", "-p", "-t", term.session, "#{cursor_y}").stdout.strip() or -1)


def test_openssh_client_logs_in_and_quits(tmp_path, db_url):
    identifier = seed_accounts(db_url, nom="Martin", prenom="Claire")[0]
    server = SshServer(tmp_path, db_url).start()
    key_file = tmp_path / "id_alice"
    server.client_keys["alice"].write_private_key(key_file)
    key_file.chmod(0o600)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    command = [
        SSH or "ssh", "-F", "/dev/null", "-p", str(server.port), "-i", str(key_file),
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}", "alice@127.0.0.1",
    ]
    term = TmuxTerminal(command, env=app_env(tmp_path), cwd=tmp_path)
    term.start()
    try:
        term.wait_for("Connexion à l'espace de gestion CPF")
        term.type(identifier)
        term.wait_for(identifier)
        # Textual moves the terminal cursor to the input's cursor: wait for it to reach the password.
        identifier_row = cursor_row(term)
        term.send("Tab")
        deadline = time.monotonic() + 20
        while cursor_row(term) == identifier_row and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cursor_row(term) > identifier_row, term.screen()
        term.type(DEFAULT_PASSWORD)
        term.send("Enter")
        screen = term.wait_for("Se déconnecter")
        assert "Claire Martin" in screen
        assert term.alternate_on()
        term.send("C-q")
        term.wait_for("Quitter l'application")
        term.send("o")
        assert term.wait_exit() == 0  # ssh's own exit code is the app's
        assert not term.alternate_on()
    finally:
        term.close()
        assert server.stop() == 0
    assert "type=application" in server.log() and "fin=statut 0" in server.log()
