"""Bursts of 200 keys in one write through a real pty fill three forms with exactly the typed values.

The real `cpf-tui demo` in a pseudo-terminal at 80x24, as an operator. Each burst is one `write`: the
key that opens the form, then every field with Entrée or Tab between them, then the last Entrée that
saves. The application reads it as one chunk (as SSH delivers a fast typist's keys); the App's KeyGate
(screens/widgets/typeahead.py) must deliver each key to the field it was typed for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpf_tui.services.sandbox import training_accounts
from tests.e2e.tmux import PtySession, app_env, build_sandbox_file, copy_sandbox, cpf_tui_command
from tests.factories import make_siren, make_siret

pytestmark = pytest.mark.slow

OPERATOR = "CDC2TRNG"
BURST_KEYS = 200
STEP_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def pristine_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sandbox_file(tmp_path_factory.mktemp("sandbox") / "sandbox.sqlite3")


@pytest.fixture
def app(pristine_sandbox: Path, tmp_path: Path) -> Iterator[tuple[PtySession, Path]]:
    database = copy_sandbox(pristine_sandbox, tmp_path / "db")
    session = PtySession([cpf_tui_command(), "demo", "--db", str(database)], env=app_env(tmp_path), cwd=tmp_path)
    session.start()
    try:
        yield session, database
    finally:
        session.close()


def query(database: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql, params).fetchall()


def padded(prefix: str, length: int) -> str:
    """`prefix` followed by words, exactly `length` characters long (no space at either end)."""
    words = "formation continue des métiers du bois et de la forêt en région Pays de la Loire".split()
    text, index = prefix, 0
    while len(text) < length:
        text += " " + words[index % len(words)]
        index += 1
    text = text[:length].rstrip()
    return text + "x" * (length - len(text))


def burst(opener: str, fields: list[str], separators: list[str], *, stretch: int) -> tuple[str, list[str]]:
    """BURST_KEYS keys: `opener`, then each field and its separator; field `stretch` (a prefix) is
    lengthened so that the whole is exactly BURST_KEYS characters. Returns the keys and the fields."""
    others = len(opener) + sum(len(v) for i, v in enumerate(fields) if i != stretch) + len("".join(separators))
    fields = [*fields]
    fields[stretch] = padded(fields[stretch], BURST_KEYS - others)
    text = opener + "".join(value + separator for value, separator in zip(fields, separators, strict=True))
    assert len(text) == BURST_KEYS
    return text, fields


def test_three_forms_filled_by_bursts_of_200_keys(app: tuple[PtySession, Path]) -> None:
    session, database = app
    password = next(a.password for a in training_accounts() if a.identifier == OPERATOR)
    session.wait_for_text("Connexion à l'espace de gestion CPF", STEP_TIMEOUT)
    session.send(f"{OPERATOR}\r{password}\r".encode())
    session.wait_for_text("Sections", STEP_TIMEOUT)
    session.wait_quiet()
    session.send(b"\r")  # Organismes: the operator's first section
    session.wait_for_text("Organismes inscrits", STEP_TIMEOUT)
    session.wait_quiet()

    # 1. Register an organisation: `n`, nine fields (Tab leaves the structure choice as it is).
    siren = make_siren(4242)
    siret = make_siret(siren, 1)
    keys, org = burst("n", ["Bois Loire", siret, "12 rue des Forges", "contact@boisloire.fr", "", "Morel",
                            "Hélène", "helene.morel@boisloire.fr", "0240000000"],
                      ["\r", "\r", "\r", "\r", "\t", "\r", "\r", "\r", "\r"], stretch=0)
    session.send(keys.encode())
    session.wait_for_text("Organisme inscrit", STEP_TIMEOUT)
    assert query(database, "SELECT raison_sociale, siret, address, contact_email FROM organisation "
                           "WHERE siret = ?", siret) == [(org[0], siret, org[2], org[3])]
    assert query(database, "SELECT nom, prenom, email, phone FROM account WHERE email = ?", org[7]) == [
        ("Morel", "Hélène", org[7], "+33240000000")]
    session.wait_quiet()
    session.send(b"\x1b")
    session.wait_quiet()

    # The new organisation alone in the list (searched), then 2. a secondary establishment: `a`.
    session.send(f"/{siren}\r".encode())
    session.wait_for_text("1 organisme(s)", STEP_TIMEOUT)
    session.wait_quiet()
    second = make_siret(siren, 2)
    # The SIRET field starts with the SIREN: the NIC is typed after it.
    keys, establishment = burst("a", [second[9:], "Atelier de Saint-Nazaire", "3 quai des Charpentiers"],
                                ["\r", "\r", "\r"], stretch=2)
    session.send(keys.encode())
    session.wait_quiet()
    assert query(database, "SELECT siret, name, address FROM establishment WHERE siret = ?", second) == [
        (second, *establishment[1:])]

    # 3. Another CDC operator: `o`, four fields.
    email = "operateur.burst@caissedesdepots.fr"
    keys, operator = burst("o", [padded("Lefebvre", 80), "Anne-Sophie", email, "0240000000"],
                           ["\r", "\r", "\r", "\r"], stretch=1)  # names: 100 characters at most
    session.send(keys.encode())
    session.wait_for_text("Opérateur créé", STEP_TIMEOUT)
    assert query(database, "SELECT nom, prenom, email, phone FROM account WHERE email = ?", email) == [
        (operator[0], operator[1], email, "+33240000000")]


def test_the_terminal_cursor_shows_in_the_focused_field_only(app: tuple[PtySession, Path]) -> None:
    from tests.vt import cursor_in_field_below

    session, _database = app
    session.wait_for_text("Connexion à l'espace de gestion CPF", STEP_TIMEOUT)
    session.wait_quiet()
    output = bytes(session.output)
    assert output.rfind(b"\x1b[?25h") > output.rfind(b"\x1b[?25l")  # shown: a text field has the focus
    rows = session.screen.text().splitlines()
    label_row = next(i for i, row in enumerate(rows) if "Identifiant" in row)
    assert cursor_in_field_below(session.screen, label_row)
    password = next(a.password for a in training_accounts() if a.identifier == OPERATOR)
    session.send(f"{OPERATOR}\r{password}\r".encode())
    session.wait_for_text("Sections", STEP_TIMEOUT)
    session.wait_quiet()
    output = bytes(session.output)
    assert output.rfind(b"\x1b[?25l") > output.rfind(b"\x1b[?25h")  # home: a menu, no text field
