"""`cpf-tui habilitation template|import`: headless, report on stdout, exit code 0 only when imported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cpf_tui import cli
from cpf_tui import db as db_module
from tests.factories import make_organisation
from tests.bulk_support import fill_template, valid_rows, write_book


def _in_db(url: str, coro_factory):
    async def go():
        await db_module.open_database(url)
        try:
            return await coro_factory()
        finally:
            await db_module.close_database()

    return asyncio.run(go())


async def _setup() -> str:
    organisation = await make_organisation("Organisme CLI", secondary=1)
    return organisation.siret


async def _summary() -> tuple[int, int, list[tuple[str, str]]]:
    from models import Account, AuditEvent

    events = await AuditEvent.filter(action="bulk.import").values_list("actor_identifier", "outcome")
    return await Account.all().count(), await AuditEvent.filter(action="account.create").count(), list(events)


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.setenv("CPF_TUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    monkeypatch.delenv("CPF_TUI_DROP_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return db_url


def test_template_dry_run_import_and_refusals(cli_env, tmp_path, capsys):
    siret = _in_db(cli_env, _setup)
    template = tmp_path / "modele.xlsx"
    assert cli.main(["habilitation", "template", "--siret", siret, "-o", str(template)]) == 0
    assert f"Modèle écrit : {template}" in capsys.readouterr().out
    filled = fill_template(template, tmp_path / "rempli.xlsx", valid_rows(40))

    assert cli.main(["habilitation", "import", str(filled), "--siret", siret, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "valide : 40 compte(s) à créer" in out and "aucun compte n'a été créé" in out
    assert _in_db(cli_env, _summary) == (0, 0, [])

    assert cli.main(["habilitation", "import", str(filled), "--siret", siret]) == 0
    out = capsys.readouterr().out
    assert "40 compte(s) créé(s)" in out
    result = Path(out.strip().splitlines()[-1].split(" : ", 1)[1])
    assert result.parent == tmp_path and result.exists()
    assert _in_db(cli_env, _summary) == (40, 40, [("cli", "ok")])

    assert cli.main(["habilitation", "import", str(filled), "--siret", siret]) == 1
    assert "déjà été importé" in capsys.readouterr().out
    assert _in_db(cli_env, _summary)[0] == 40


def test_bad_file_and_unknown_organisation_exit_non_zero(cli_env, tmp_path, capsys):
    siret = _in_db(cli_env, _setup)
    bad = tmp_path / "mauvais.xlsx"
    bad.write_text("ceci n'est pas un classeur", encoding="utf-8")
    assert cli.main(["habilitation", "import", str(bad), "--siret", siret]) == 1
    assert "n'est pas un classeur Excel .xlsx" in capsys.readouterr().out
    assert cli.main(["habilitation", "import", str(bad), "--siret", "73282932000074"]) == 1
    assert "Aucun organisme n'est enregistré avec le SIRET 73282932000074" in capsys.readouterr().err
    assert cli.main(["habilitation", "template", "--siret", "123"]) == 1
    assert "14 chiffres" in capsys.readouterr().err


def test_report_shows_bidi_and_control_characters_written_out(cli_env, tmp_path, capsys):
    """A refused value holding U+202E (right-to-left override) or a C1 CSI is echoed inert."""


    siret = _in_db(cli_env, _setup)
    rows = valid_rows(2)
    rows[0][0] = "Dupont\u202etnopuD"
    rows[1][0] = "Durand\x9b2J"
    book = write_book(tmp_path / "piege\u202exslx.xlsx", rows)
    assert cli.main(["habilitation", "import", str(book), "--siret", siret, "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "Dupont\\u202etnopuD" in out and "Durand\\x9b2J" in out
    assert "piege\\u202exslx.xlsx" in out
    assert "\u202e" not in out and "\x9b" not in out
