"""The real `cpf-tui demo` in tmux at 80x24, driven with keys only, from login to a clean quit.

The sandbox is built once per module; each test works on its own copy (the app writes to it).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpf_tui.services.sandbox import training_accounts
from tests.e2e.tmux import (
    TmuxTerminal,
    app_env,
    build_sandbox_file,
    copy_sandbox,
    cpf_tui_command,
    requires_tmux,
)

pytestmark = [requires_tmux, pytest.mark.slow]

START_TIMEOUT = 90.0
STEP_TIMEOUT = 45.0


def password_of(identifier: str) -> str:
    return next(account.password for account in training_accounts() if account.identifier == identifier)


@pytest.fixture(scope="module")
def pristine_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sandbox_file(tmp_path_factory.mktemp("sandbox") / "sandbox.sqlite3")


@pytest.fixture
def sandbox_copy(pristine_sandbox: Path, tmp_path: Path) -> Path:
    return copy_sandbox(pristine_sandbox, tmp_path / "db")


@pytest.fixture
def terminal(sandbox_copy: Path, tmp_path: Path) -> Iterator[TmuxTerminal]:
    term = TmuxTerminal([cpf_tui_command(), "demo", "--db", str(sandbox_copy)], env=app_env(tmp_path), cwd=tmp_path)
    term.start()
    try:
        yield term
    finally:
        term.close()


def log_in(term: TmuxTerminal, identifier: str, password: str) -> None:
    """Type identifier, Enter, password, Enter on the login screen (waiting for each field's focus)."""
    term.wait_for("Connexion à l'espace de gestion CPF", START_TIMEOUT)
    term.type(identifier)  # the identifier field has the focus from the first frame
    term.wait_for(identifier, STEP_TIMEOUT)
    term.send("Enter")
    term.wait_cursor_below("Mot de passe", timeout=STEP_TIMEOUT)
    term.type(password)
    term.wait_for("•" * len(password), STEP_TIMEOUT)
    term.send("Enter")


def quit_cleanly(term: TmuxTerminal) -> None:
    """Ctrl+Q, confirm with `o`: exit code 0 and the shell's normal screen back."""
    term.send("C-q")
    term.wait_for("Quitter l'application ?", STEP_TIMEOUT)
    term.send("o")
    assert term.wait_exit(STEP_TIMEOUT) == 0
    assert not term.alternate_on()
    after = term.screen()
    assert "Traceback" not in after
    # Back on the shell's screen: what `cpf-tui demo` printed before opening the application.
    assert "GSTN6NEW" in after and "première connexion" in after  # the last line of the accounts table


def query(db_file: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db_file) as conn:
        return conn.execute(sql, params).fetchall()


@requires_tmux
def test_first_login_goes_through_cgu_and_password_change_to_home(terminal: TmuxTerminal,
                                                                  sandbox_copy: Path) -> None:
    identifier = "GSTN6NEW"
    assert query(sandbox_copy, "SELECT password_is_temporary FROM account WHERE identifier = ?", identifier) == [(1,)]
    log_in(terminal, identifier, password_of(identifier))

    terminal.wait_for("Conditions générales d'utilisation — version", STEP_TIMEOUT)
    assert "n Je refuse" in terminal.wait_for("o J'accepte", STEP_TIMEOUT)
    terminal.wait_for("Article 1", STEP_TIMEOUT)  # the text is loaded: acceptance is possible
    terminal.send("End")
    terminal.wait_for("Article 8", STEP_TIMEOUT)  # read to the end with the keyboard
    terminal.send("o")

    terminal.wait_for("Choisissez votre mot de passe personnel", STEP_TIMEOUT)
    terminal.wait_for("f10 Se déconnecter", STEP_TIMEOUT)  # mandatory change: no way back, only logout
    new_password = "Tournesol-Bleu-Marine-42"
    terminal.type(new_password)  # the new password field has the focus when the screen opens
    terminal.wait_for("Robustesse : Excellente", STEP_TIMEOUT)
    terminal.send("Enter")
    terminal.wait_cursor_below("Confirmation", timeout=STEP_TIMEOUT)
    terminal.type(new_password)
    terminal.wait_for("✔ Confirmation identique", STEP_TIMEOUT)
    terminal.send("Enter")

    assert "Profil : Création" in terminal.wait_for("Identifiant : GSTN6NEW", STEP_TIMEOUT)
    terminal.wait_for("x Se déconnecter", STEP_TIMEOUT)
    quit_cleanly(terminal)

    assert query(sandbox_copy, "SELECT password_is_temporary, cgu_version_accepted IS NOT NULL FROM account "
                               "WHERE identifier = ?", identifier) == [(0, 1)]


@requires_tmux
def test_administrator_creates_a_gestionnaire_from_the_user_tree(terminal: TmuxTerminal,
                                                                 sandbox_copy: Path) -> None:
    log_in(terminal, "PRNC2UNQ", password_of("PRNC2UNQ"))
    terminal.wait_for("1 Utilisateurs", STEP_TIMEOUT)  # the numbered sections menu, beside the work queues
    terminal.send("Enter")  # the first section of an administrator is the user tree
    terminal.wait_for("├── ▶ Siège — Paris · ", STEP_TIMEOUT)  # the tree is loaded
    terminal.send("Down")  # from the organisation to its first establishment
    terminal.send("n")
    terminal.wait_for("Nouveau compte — Siège — Paris", STEP_TIMEOUT)

    # Rôle is focused: Tab to Profil, open it, pick Validation.
    terminal.send("Tab")
    terminal.send("Enter")
    terminal.wait_for("Clôture", STEP_TIMEOUT)  # the profile list is open...
    terminal.wait_for("esc Fermer la liste", STEP_TIMEOUT)  # ...and has the focus (its footer shows how to close it)
    terminal.send("Down", "Down", "Enter")
    terminal.wait_until(lambda: "Validation" in terminal.screen().splitlines()[terminal.row_of("Profil (gest")],
                        "profil Validation choisi", STEP_TIMEOUT)
    terminal.wait_for("esc Annuler", STEP_TIMEOUT)  # the list is closed, the form has the keys again
    terminal.send("Tab")
    for label, value in (("Nom", "Garnier"), ("Prénom", "Élodie"), ("E-mail", "elodie.garnier@example.fr"),
                         ("Téléphone", "06 12 34 56 78"), ("Service", "Financement")):
        terminal.wait_cursor_on(label, timeout=STEP_TIMEOUT)
        terminal.type(value)
        terminal.wait_for(value, STEP_TIMEOUT)
        terminal.send("Enter")  # next field; on the last one, save

    created = terminal.wait_for("Compte créé", STEP_TIMEOUT)
    assert "Élodie Garnier" in created
    terminal.send("Escape")
    terminal.wait_gone("Compte créé", STEP_TIMEOUT)
    terminal.wait_for("Garnier", STEP_TIMEOUT)  # the new account's fiche
    quit_cleanly(terminal)

    rows = query(sandbox_copy, "SELECT role, profile, status, email, password_is_temporary FROM account "
                               "WHERE nom = 'Garnier' AND prenom = 'Élodie'")
    assert rows == [("gestionnaire", "validation", "active", "elodie.garnier@example.fr", 1)]


@requires_tmux
def test_validation_gestionnaire_validates_a_training_file(terminal: TmuxTerminal, sandbox_copy: Path) -> None:
    log_in(terminal, "GSTN4VAD", password_of("GSTN4VAD"))
    home = terminal.wait_for("2 Dossiers de formation", STEP_TIMEOUT)
    # Move down the menu (its lines start with the section's number) to "Dossiers de formation", then open it.
    sections = [line for line in home.splitlines() if re.match(r"\s*▊ \d ", line)]
    position = next(i for i, line in enumerate(sections) if "Dossiers de formation" in line)
    terminal.send(*(["Down"] * position))
    terminal.send("Enter")
    listing = terminal.wait_for("dossier(s)", STEP_TIMEOUT)
    # The Statut column is fitted to 80 columns: « En cours d… » (screens/widgets/table.fitted_widths), unlike Validé and Clos.
    draft_line = next(line for line in listing.splitlines() if "En cours d" in line)
    number = draft_line.split()[0]
    assert number.startswith("DF-")
    assert query(sandbox_copy, "SELECT status FROM dossier WHERE number = ?", number) == [("draft",)]

    draft_row = terminal.row_of(number)
    first_row = next(row for row, line in enumerate(listing.splitlines()) if line.strip().startswith("DF-"))
    terminal.send(*(["Down"] * (draft_row - first_row)))
    terminal.send("Enter")
    terminal.wait_for(f"Dossier {number} — En cours d'élaboration", STEP_TIMEOUT)
    terminal.wait_for("f5 Valider", STEP_TIMEOUT)
    terminal.send("F5")
    terminal.wait_for(f"Valider le dossier {number}", STEP_TIMEOUT)
    terminal.send("o")
    terminal.wait_for(f"Dossier {number} validé", STEP_TIMEOUT)
    terminal.wait_for(f"Dossier {number} — Validé", STEP_TIMEOUT)
    quit_cleanly(terminal)

    assert query(sandbox_copy, "SELECT status FROM dossier WHERE number = ?", number) == [("validated",)]
