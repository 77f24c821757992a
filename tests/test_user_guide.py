"""The user guide (docs/guide-utilisateur.md) cannot drift silently from the application.

It must keep one part per role and per gestionnaire profile, a filled block for every screen capture
that `docs/make_guide.py` takes, key tables that match the screens' BINDINGS (key and footer label,
both ways), and the CDC contact of the help screen.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from textual.binding import Binding

from screens.help import CDC_CONTACT, key_label

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guide-utilisateur.md"
SCRIPT = ROOT / "docs" / "make_guide.py"

PARTS = (
    "Opérateur CDC",
    "Administrateur principal",
    "Administrateur délégué",
    "Gestionnaire — profil Consultation",
    "Gestionnaire — profil Création",
    "Gestionnaire — profil Validation",
    "Gestionnaire — profil Clôture",
    "Le mode formation",
    "Contact",
)
REQUIRED_CAPTURES = {
    "login", "cgu", "password", "lock", "home-operator", "home-principal", "home-delegated",
    "home-consultation", "user-tree", "account-form", "identifier", "holders", "holder-page", "dossiers",
    "dossier-new", "bulk-errors", "bulk-done", "help", "palette", "exercises", "training-accounts", "journal",
    "planning",
}
CAPTURE = re.compile(r"<!-- capture:([a-z0-9-]+) -->\n(.*?)<!-- /capture -->", re.S)
KEY_TABLE = re.compile(r"<!-- keys:([\w.]+) -->\n(.*?)<!-- /keys -->", re.S)


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def captures() -> dict[str, str]:
    return {name: body for name, body in CAPTURE.findall(guide_text())}


def key_tables() -> dict[str, list[tuple[str, str]]]:
    """Each `<!-- keys:module.Class -->` table as (key, footer label) rows."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for target, body in KEY_TABLE.findall(guide_text()):
        rows = []
        for line in body.splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) < 2 or cells[0] in ("Touche", "") or set(cells[0]) <= {"-"}:
                continue
            rows.append((cells[0].strip("`"), cells[1]))
        tables[target] = rows
    return tables


def screen_keys(target: str) -> dict[str, str]:
    """Key (as the help screen writes it) → footer label, from the screen class's BINDINGS."""
    module_name, _, class_name = target.rpartition(".")
    screen = getattr(importlib.import_module(module_name), class_name)
    keys: dict[str, str] = {}
    for binding in screen.BINDINGS:
        assert isinstance(binding, Binding), f"{target}: binding {binding!r} is not a Binding"
        for key in binding.key.split(","):
            keys[key_label(key.strip())] = binding.description
    return keys


def test_one_part_per_role_and_profile() -> None:
    headings = [line.lstrip("#").strip() for line in guide_text().splitlines() if line.startswith("## ")]
    titles = [re.sub(r"^\d+\.\s*", "", heading) for heading in headings]
    for part in PARTS:
        assert part in titles, f"part « {part} » missing from the guide headings: {titles}"


def test_every_capture_block_is_filled() -> None:
    found = captures()
    assert REQUIRED_CAPTURES <= set(found), f"missing capture markers: {sorted(REQUIRED_CAPTURES - set(found))}"
    for name, body in found.items():
        match = re.fullmatch(r"```text\n(.*)\n```\n", body, re.S)
        assert match, f"capture {name}: expected one ```text block (run `make guide`)"
        screen = match.group(1)
        assert screen.strip(), f"capture {name} is empty (run `make guide`)"
        lines = screen.splitlines()
        assert len(lines) <= 24, f"capture {name}: {len(lines)} lines, more than a 24-line terminal"
        assert max(len(line) for line in lines) <= 80, f"capture {name}: wider than 80 columns"


def test_capture_markers_are_those_the_script_takes() -> None:
    taken = set(re.findall(r"walk\.capture\(\w+, \"([a-z0-9-]+)\"", SCRIPT.read_text(encoding="utf-8")))
    assert taken, "no capture found in docs/make_guide.py"
    assert set(captures()) == taken


def test_the_user_tree_keys_are_documented() -> None:
    assert "screens.user_tree.UserTreeScreen" in key_tables()


@pytest.mark.parametrize("target", sorted(key_tables()))
def test_key_table_matches_the_screen_bindings(target: str) -> None:
    documented = key_tables()[target]
    actual = screen_keys(target)
    assert documented, f"{target}: empty key table"
    for key, label in documented:
        assert key in actual, f"{target}: the guide lists key {key!r}, the screen has {sorted(actual)}"
        assert label == actual[key], f"{target}: key {key!r} shows « {actual[key]} », the guide says « {label} »"
    missing = set(actual) - {key for key, _ in documented}
    assert not missing, f"{target}: keys of the screen missing from the guide: {sorted(missing)}"


def test_the_cdc_contact_is_the_help_screen_one() -> None:
    text = guide_text()
    for line in CDC_CONTACT:
        assert line.replace("Courriel : ", "") in text, f"contact line « {line} » missing from the guide"
