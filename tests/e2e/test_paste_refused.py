"""A paste holding an escape sequence, through a real pty: refused with a message, the field unchanged.

The real `cpf-tui demo` at 80x24. The terminal delivers a paste in bracketed-paste mode (ESC[200~ …
ESC[201~); Textual's own parser turned the escape sequences inside it into typed keys ("^[31mROUGE^[0m"
stored, issue 13): `textual_internals.WholePasteParser` gives the paste whole, and the screens' one text
rule (screens/base.py) refuses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cpf_tui.services.sandbox import training_accounts
from tests.e2e.tmux import PtySession, app_env, build_sandbox_file, copy_sandbox, cpf_tui_command

pytestmark = pytest.mark.slow

OPERATOR = "CDC2TRNG"
STEP_TIMEOUT = 60.0


@pytest.fixture
def session(tmp_path: Path) -> Iterator[PtySession]:
    database = copy_sandbox(build_sandbox_file(tmp_path / "pristine" / "sandbox.sqlite3"), tmp_path / "db")
    running = PtySession([cpf_tui_command(), "demo", "--db", str(database)], env=app_env(tmp_path), cwd=tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.close()


def paste(session: PtySession, text: str) -> None:
    session.send(b"\x1b[200~" + text.encode() + b"\x1b[201~")


def test_a_pasted_escape_sequence_is_refused_and_the_field_kept(session: PtySession) -> None:
    password = next(a.password for a in training_accounts() if a.identifier == OPERATOR)
    session.wait_for_text("Connexion à l'espace de gestion CPF", STEP_TIMEOUT)
    session.wait_for(b"\x1b[?2004h", STEP_TIMEOUT)  # bracketed paste switched on by the application
    session.wait_quiet()
    session.send(OPERATOR[:3].encode())
    paste(session, "\x1b[31mROUGE\x1b[0m")
    session.wait_for_text("Texte collé refusé", STEP_TIMEOUT)
    assert "ROUGE" not in session.screen.text()
    # The field kept "CDC": the rest of the identifier, pasted this time (an ordinary paste goes in), logs in.
    paste(session, OPERATOR[3:])
    session.send(f"\r{password}\r".encode())
    session.wait_for_text("Sections", STEP_TIMEOUT)
