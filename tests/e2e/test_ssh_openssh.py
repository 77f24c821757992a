"""The real OpenSSH client, in a real terminal (tmux), logs in to the app through `ssh-serve`."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.e2e.tmux import TMUX, TmuxTerminal, app_env
from tests.factories import DEFAULT_PASSWORD
from tests.ssh_harness import SshServer, seed_accounts

SSH = shutil.which("ssh")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux n'est pas installé : test en terminal réel ignoré"),
    pytest.mark.skipif(SSH is None, reason="le client OpenSSH (ssh) n'est pas installé : test ignoré"),
]


def cursor_row(term: TmuxTerminal) -> int:
    return int(term._tmux("display-message", "-p", "-t", term.session, "#{cursor_y}").stdout.strip() or -1)


def wait_cursor_on_row(term: TmuxTerminal, row: int, timeout: float = 20.0) -> None:
    """Textual leaves the terminal cursor on the focused input; a frame being drawn moves it briefly,
    so the row must be read twice in a row."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        seen = seen + 1 if cursor_row(term) == row else 0
        if seen >= 2:
            return
        time.sleep(0.1)
    raise AssertionError(f"le curseur n'est pas arrivé ligne {row} :\n{term.screen()}")


def input_row(screen: str, label: str) -> int:
    """The text row of the input under `label` (label, top border, then the text)."""
    lines = screen.splitlines()
    return next(i for i, line in enumerate(lines) if label in line) + 2


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
        screen = term.wait_for(identifier)
        # Typing ahead would reach the identifier field: wait for the cursor to move to the password.
        wait_cursor_on_row(term, input_row(screen, "Identifiant"))
        term.send("Tab")
        wait_cursor_on_row(term, input_row(screen, "Mot de passe"))
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
