"""Confinement through a real `ssh-serve` and the real OpenSSH client (`ssh` in tmux, `sftp` in batch mode):
alice's application and file drop reach her drop folder only, and terminal output stays inert."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cpf_tui import db as db_module
from tests.e2e.tmux import TMUX, TmuxTerminal, app_env, cpf_tui_command
from tests.factories import DEFAULT_PASSWORD
from tests.bulk_support import valid_rows, write_book
from tests.ssh_harness import SshServer

SSH = shutil.which("ssh")
SFTP = shutil.which("sftp")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux n'est pas installé : test en terminal réel ignoré"),
    pytest.mark.skipif(SSH is None or SFTP is None, reason="le client OpenSSH (ssh, sftp) n'est pas installé"),
]

KEY_VAR = "CPF_TUI_AUDIT__KEY_FILE"
"""The test run's audit key (tests/conftest.py): the harness drops CPF_TUI_* variables, so it is handed on."""
TITLE = "\x1b]2;PWNED\x07X"
CLEAR = "\x1b[2J\x1b[HFAUX"


def in_database(db_url: str, make):
    async def go():
        await db_module.open_database(db_url)
        try:
            return await make()
        finally:
            await db_module.close_database()

    return asyncio.run(go())


async def principal_admin() -> str:
    from models import Role
    from tests.factories import make_account, make_organisation

    organisation = await make_organisation("Organisme SSH")
    return (await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)).identifier


def section_downs(role, label: str) -> list[str]:
    """The Down presses that select `label` on home for `role` (the first section is selected)."""
    from screens.sections import sections_for

    class Rights:
        profile = None

    Rights.role = role
    return ["Down"] * [section.label for section in sections_for(Rights())].index(label)


def log_in(term: TmuxTerminal, identifier: str) -> None:
    term.wait_for("Connexion à l'espace de gestion CPF", 60)
    term.type(identifier)
    term.wait_for(identifier)
    term.wait_cursor_below("Identifiant")  # typing ahead would reach the identifier field
    term.send("Tab")
    term.wait_cursor_below("Mot de passe")
    term.type(DEFAULT_PASSWORD)
    term.send("Enter")
    term.wait_for("Se déconnecter", 60)


def ssh_command(server: SshServer, tmp_path: Path, user: str, program: str = "ssh") -> list[str]:
    key_file = tmp_path / f"id_{user}"
    if not key_file.exists():
        server.client_keys[user].write_private_key(key_file)
        key_file.chmod(0o600)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    port = ["-P" if program == "sftp" else "-p", str(server.port)]
    return [
        shutil.which(program) or program, "-F", "/dev/null", *port, "-i", str(key_file),
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}", f"{user}@127.0.0.1",
    ]


class KeyedServer(SshServer):
    def environment(self) -> dict[str, str]:
        return {**super().environment(), KEY_VAR: os.environ[KEY_VAR]}


@pytest.fixture
def server(tmp_path, db_url):
    srv = KeyedServer(tmp_path, db_url, users=("alice", "bob"), extra_args=("--drop-quota", "1")).start()
    try:
        yield srv
    finally:
        assert srv.stop() == 0


def test_alice_cannot_reach_bobs_folder_or_the_disk_from_the_application(server, tmp_path, db_url):
    from models import Role

    identifier = in_database(db_url, principal_admin)
    alice, bob = server.drop_root / "alice", server.drop_root / "bob"
    for folder in (alice, bob):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_book(bob / "liste-de-bob.xlsx", valid_rows(40))
    write_book(alice / "a-habilitations.xlsx", valid_rows(31))
    term = TmuxTerminal(ssh_command(server, tmp_path, "alice"), env=app_env(tmp_path), cwd=tmp_path)
    term.start()
    try:
        log_in(term, identifier)
        term.send(*section_downs(Role.PRINCIPAL_ADMIN, "Habilitation en masse"), "Enter")
        term.wait_for("Chemin du classeur")
        term.wait_cursor_on("Chemin du classeur")

        # The picker: rooted in alice's folder, Backspace does not climb to depot/ (bob stays unseen).
        term.send("C-o")
        term.wait_for("Dans votre dossier de dépôt")
        term.wait_for("a-habilitations.xlsx")
        term.send("BSpace", "BSpace")
        screen = term.wait_for("a-habilitations.xlsx")
        assert "bob" not in screen and "depot" not in screen
        term.send("Escape")
        term.wait_gone("Dans votre dossier de dépôt")

        # Typed paths: bob's file and server files are refused alike, nothing tells whether they exist.
        attempts = [
            ("../bob/liste-de-bob.xlsx", "Chemin refusé"),
            ("absent.xlsx", "Aucun fichier « absent.xlsx » dans votre dossier de dépôt"),
            (str(bob / "liste-de-bob.xlsx"), "Chemin refusé"),
            ("absent-2.xlsx", "Aucun fichier"),
            ("/etc/passwd", "Chemin refusé"),
            ("a-habilitations.xlsx", "valide : 31 compte(s) à créer"),  # a bare name: alice's own folder
        ]
        for typed, expected in attempts:
            term.send("C-u")
            term.wait_for("Chemin du classeur .xlsx (Ctrl+O")  # the field is empty (placeholder shown)
            term.type(typed)
            term.wait_for(typed[-20:])  # the keys reached the field (Textual moves focus after queued keys)
            term.send("Enter")
            screen = term.wait_for(expected)
            assert "40 compte(s)" not in screen and "n'est pas un classeur" not in screen, screen
            assert str(server.drop_root) not in screen  # no server path is ever shown
        # Choosing with the picker gives the same file, named relative to the folder.
        term.send("C-u", "C-o")
        term.wait_for("Dans votre dossier de dépôt")
        term.wait_for("a-habilitations.xlsx")
        term.send("Down", "Enter")
        term.wait_gone("Dans votre dossier de dépôt")
        term.wait_for("valide : 31 compte(s) à créer")
    finally:
        term.close()


def sftp_batch(server: SshServer, tmp_path: Path, user: str, commands: str) -> subprocess.CompletedProcess[str]:
    batch = tmp_path / "batch.txt"
    batch.write_text(commands)
    return subprocess.run([*ssh_command(server, tmp_path, user, "sftp")[:-1], "-b", str(batch),
                           f"{user}@127.0.0.1"], capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_openssh_sftp_over_quota_and_planted_links(server, tmp_path):
    big = tmp_path / "gros.bin"
    big.write_bytes(os.urandom(1536 * 1024))
    done = sftp_batch(server, tmp_path, "alice", "put gros.bin\n")
    assert done.returncode != 0
    # The SFTP status alone shows as "Failure": the reason reaches the person's terminal too.
    assert "Quota du dossier de dépôt dépassé" in done.stderr, done.stderr
    assert "supprimé" in done.stderr
    alice = server.drop_root / "alice"
    assert not (alice / "gros.bin").exists()  # the partial file does not stay nor count

    secret = tmp_path / "hostname"
    secret.write_text("nom secret du serveur")
    os.link(secret, alice / "lien-dur.txt")  # planted from the server side
    done = sftp_batch(server, tmp_path, "alice", "get lien-dur.txt copie.txt\n")
    assert done.returncode != 0 and not (tmp_path / "copie.txt").exists()
    done = sftp_batch(server, tmp_path, "alice", "put gros.bin ../bob/gros.bin\n")
    assert done.returncode != 0 and not (server.drop_root / "bob" / "gros.bin").exists()


def test_journal_shows_escape_sequences_inert_in_a_real_terminal(tmp_path, db_url):
    """Rows holding a title-setting and a screen-clearing sequence: the terminal's title is unchanged,
    nothing is cleared, the text is shown written out, and nothing survives the logout."""
    from models import Role

    probe = TmuxTerminal(["printf", TITLE], env=app_env(tmp_path), cwd=tmp_path)
    probe.start()
    try:  # this tmux obeys OSC 2: the check below can fail
        probe.wait_until(lambda: "PWNED" in probe._tmux("display-message", "-p", "#{pane_title}").stdout,  # noqa: SLF001
                         "titre posé par OSC 2")
    finally:
        probe.close()

    async def seed() -> str:
        from cpf_tui.services import audit
        from tests.factories import make_account

        operator = await make_account(Role.OPERATOR)
        for payload in (TITLE, CLEAR):
            await audit.record("login", actor_identifier=payload, outcome="failure",
                               target_label=payload, after={"reason": "unknown_identifier"})
        return operator.identifier

    identifier = in_database(db_url, seed)
    env = app_env(tmp_path, CPF_TUI_DB_URL=db_url, **{KEY_VAR: os.environ[KEY_VAR]})
    term = TmuxTerminal([cpf_tui_command()], env=env, cwd=tmp_path)
    term.start()
    try:
        log_in(term, identifier)
        term.send(*section_downs(Role.OPERATOR, "Journal d'audit"), "Enter")
        screen = term.wait_for("\\x1b[2J")
        rows = screen.splitlines()
        # Nothing was cleared: the header, the filters and the key bar are all on screen.
        assert "Espace de gestion CPF" in rows[0] and "Acteur" in rows[1] and "Filtrer" in rows[-1], screen
        title = term._tmux("display-message", "-p", "#{pane_title}").stdout  # noqa: SLF001
        assert "PWNED" not in title
        assert "\\x1b]2;P" in screen  # both rows shown, written out
        # The detail of each event: the oldest (title sequence) is the last row, the clear-screen one above.
        term.send("C-End", "Enter")
        detail = term.wait_for("Avant :")
        assert "\\x1b]2;PWNED\\x07X" in detail and "FAUX" not in detail, detail
        term.send("Escape")
        term.wait_gone("Avant :")
        term.send("Up", "Enter")
        detail = term.wait_for("Avant :")
        assert "\\x1b[2J\\x1b[HFAUX" in detail, detail
        term.send("Escape")
        screen = term.wait_gone("Avant :")
        assert "Espace de gestion CPF" in screen.splitlines()[0] and "Filtrer" in screen.splitlines()[-1]
        term.send("Escape")
        term.wait_for("Se déconnecter")
        term.send("x")
        term.wait_for("Se déconnecter ?")
        term.send("o")
        screen = term.wait_for("Connexion à l'espace de gestion CPF")
        assert "FAUX" not in screen and "PWNED" not in screen
        assert "PWNED" not in term._tmux("display-message", "-p", "#{pane_title}").stdout  # noqa: SLF001
    finally:
        term.close()


def test_openssh_client_with_a_no_pty_key_gets_the_file_drop_only(server, tmp_path):
    """authorized_keys `no-pty`: the real client's terminal request is refused, the application is not
    started (it explains why), the file drop still works."""
    line = server.client_keys["bob"].export_public_key().decode()
    (server.authorized / "bob").write_text(f'no-pty,expiry-time="29991231" {line}')
    term = TmuxTerminal(ssh_command(server, tmp_path, "bob"), env=app_env(tmp_path), cwd=tmp_path)
    term.start()  # a real terminal: the client asks for a pty, is refused, and goes on without one
    try:
        screen = term.wait_for("cpf-tui a besoin d'un terminal")
        assert "PTY allocation request failed" in screen
        assert term.wait_exit() == 2
        assert server.apps() == []
    finally:
        term.close()
    (tmp_path / "depose.txt").write_text("x")
    assert sftp_batch(server, tmp_path, "bob", "put depose.txt\n").returncode == 0
    assert (server.drop_root / "bob" / "depose.txt").exists()
    assert "Terminal refusé : utilisateur=bob" in server.log()
