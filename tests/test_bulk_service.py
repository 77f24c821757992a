"""Bulk habilitation service: template → filled file → import → result workbook, rights and repeat imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from cpf_tui import clock
from cpf_tui.config import BulkSettings
from cpf_tui.errors import PermissionDenied
from cpf_tui.services import bulk
from cpf_tui.services.result_book import RESULT_HEADERS, write_result
from cpf_tui.services.context import RequestContext
from models import Account, AuditEvent, BulkImport, OutboxEmail, Profile, Role
from tests.factories import make_account, make_organisation
from tests.bulk_support import counts, fill_template, valid_rows, write_book


async def test_template_has_instructions_frozen_header_and_drop_down_lists(world, tmp_path):
    path = await bulk.generate_template(tmp_path, siret=world.organisation.siret, ctx=world.operator_ctx)
    assert path.name == f"habilitation-en-masse-{world.organisation.siret}.xlsx"
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Instructions", "Habilitations", "Établissements"]
    instructions = [c.value for c in workbook["Instructions"]["A"] if c.value]
    assert any("Habilitation en masse" in line and world.organisation.siret in line for line in instructions)
    assert any("Administrateur délégué ou Gestionnaire" in line for line in instructions)
    sheet = workbook["Habilitations"]
    assert [c.value for c in sheet[1]] == [
        "Nom", "Prénom", "E-mail", "Téléphone", "Rôle", "Profil", "SIRET de l'établissement", "Service",
    ]
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.bold and sheet.column_dimensions["C"].width == 34
    lists = {str(dv.sqref)[0]: dv.formula1 for dv in sheet.data_validations.dataValidation}
    assert lists["E"] == '"Administrateur délégué,Gestionnaire"'
    assert lists["F"] == '"Consultation,Création,Validation,Clôture"'
    assert lists["G"] == "'Établissements'!$A$2:$A$4"
    listed = [c.value for c in workbook["Établissements"]["A"][1:]]
    assert listed == [e.siret for e in world.establishments]


async def test_round_trip_fifty_rows_then_repeat_imports_create_nothing(world, tmp_path):
    template = await bulk.generate_template(tmp_path / "modele.xlsx", siret=world.organisation.siret,
                                            ctx=world.operator_ctx)
    secondary = world.establishments[1].siret
    rows = valid_rows(50, siret="")
    for row in rows[::5]:
        row[6] = secondary
    filled = fill_template(template, tmp_path / "rempli.xlsx", rows)
    before = await counts()
    seen: list[tuple[int, int]] = []

    result = await bulk.import_workbook(
        filled, siret=world.organisation.siret, ctx=world.operator_ctx, output_dir=tmp_path / "out",
        progress=lambda done, total: seen.append((done, total)),
    )

    accounts = await Account.filter(organisation=world.organisation, created_by_id=world.operator_ctx.account_id)
    assert result.created == 50 and len(accounts) == 50
    after = await counts()
    assert after[0] - before[0] == 50
    assert after[1] - before[1] == 50
    assert await AuditEvent.filter(action="account.create").count() == 50
    assert await AuditEvent.filter(action="bulk.import", target_id=str(result.bulk_import_id)).count() == 1
    assert after[2] - before[2] == 51 and after[3] - before[3] == 1
    assert seen[-1] == (50, 50) and len(seen) == 50
    mails = await OutboxEmail.filter(kind="account_created").order_by("id")
    assert {m.to_address for m in mails} == {a.email for a in accounts}
    by_email = {a.email: a for a in accounts}
    first = by_email["Agent.0@example.fr"]
    assert first.role == Role.DELEGATED_ADMIN and first.profile == Profile.CLOTURE
    assert first.establishment_id == world.establishments[1].id
    second = by_email["Agent.1@example.fr"]
    assert second.role == Role.GESTIONNAIRE and second.profile == Profile.CREATION
    assert second.establishment_id == world.establishments[0].id
    assert second.phone == "+33612340001" and second.service == "Service 1"

    # Result workbook: one row per account with its identifier.
    assert result.result_path.exists() and result.result_path.parent == tmp_path / "out"
    assert result.result_path.name.endswith("-20260115-100000.xlsx")  # 09:00 UTC: named in Paris time
    sheet = load_workbook(result.result_path)["Comptes créés"]
    header = [c.value for c in sheet[2]]
    assert header == [label for label, _width in RESULT_HEADERS]
    listed = {row[0]: row[3] for row in sheet.iter_rows(min_row=3, values_only=True)}
    assert len(listed) == 50
    assert listed == {a.identifier: a.email for a in accounts}
    record = await BulkImport.get(id=result.bulk_import_id)
    assert record.created_count == 50 and record.result_path == str(result.result_path)

    # The same file again: refused by its hash, nothing written.
    before_again = await counts()
    with pytest.raises(bulk.BulkImportRejected) as same:
        await bulk.import_workbook(filled, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   output_dir=tmp_path / "out")
    assert "déjà été importé" in same.value.report.lines()[1]
    # When, in Paris time (the stored moment is UTC, one or two hours earlier).
    assert f"importé le {clock.shown(record.imported_at, '%d/%m/%Y à %H:%M')} " in same.value.report.lines()[1]
    # Another file (different bytes) with the same e-mails: every row refused.
    other = write_book(tmp_path / "autre.xlsx", rows)
    with pytest.raises(bulk.BulkImportRejected) as again:
        await bulk.import_workbook(other, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   output_dir=tmp_path / "out")
    assert len(again.value.report.errors) == 50
    assert "déjà habilitée dans l'organisme (identifiant" in again.value.report.errors[0].reason
    assert await counts() == before_again


async def test_principal_admin_imports_for_own_organisation_only(world, tmp_path):
    rows = valid_rows(31)
    path = write_book(tmp_path / "f.xlsx", rows)
    other = await make_organisation("Autre organisme")
    with pytest.raises(PermissionDenied, match="périmètre"):
        await bulk.analyse_workbook(path, siret=other.siret, ctx=world.principal_ctx)
    assert await bulk.default_siret(world.principal_ctx) == world.organisation.siret
    result = await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.principal_ctx,
                                        output_dir=tmp_path)
    assert result.created == 31
    assert await Account.filter(created_by_id=world.principal.id).count() == 31
    event = await AuditEvent.get(action="bulk.import")
    assert event.actor_id == world.principal.id and event.organisation_id == world.organisation.id


async def test_delegated_admin_and_gestionnaire_cannot_import(world, tmp_path):
    path = write_book(tmp_path / "f.xlsx", valid_rows(31))
    for role in (Role.DELEGATED_ADMIN, Role.GESTIONNAIRE):
        account = await make_account(role, Profile.CLOTURE, organisation=world.organisation)
        with pytest.raises(PermissionDenied):
            await bulk.import_workbook(path, siret=world.organisation.siret, ctx=RequestContext(account_id=account.id),
                                       output_dir=tmp_path)
    assert await Account.filter(email__startswith="Agent.").count() == 0


async def test_threshold_is_configurable_and_zero_disables_it(world, tmp_path):
    path = write_book(tmp_path / "petit.xlsx", valid_rows(5))
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx)
    assert not report.ok and "ne contient que 5 ligne(s)" in report.errors[0].reason
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                         bulk=BulkSettings(min_rows=4))
    assert report.ok
    result = await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                        bulk=BulkSettings(min_rows=0), output_dir=tmp_path)
    assert result.created == 5


async def test_extra_columns_are_ignored_with_a_notice_and_headers_are_matched_loosely(world, tmp_path):
    header = ["  NOM ", "prenom", "e mail", "TELEPHONE", "role", "PROFIL", "Siret de l etablissement", "service",
              "Commentaire"]
    rows = [row + ["à ignorer"] for row in valid_rows(31)]
    path = write_book(tmp_path / "f.xlsx", rows, header=header)
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx)
    assert report.ok, report.lines()
    assert report.notices == ["Colonne « Commentaire » non reconnue : elle est ignorée."]
    assert report.rows[0].nom == "Martin-A" and report.rows[1].role == Role.GESTIONNAIRE


async def test_formula_like_text_comes_back_as_text_in_the_result_workbook(world, tmp_path):
    rows = valid_rows(31)
    dangerous = ['=HYPERLINK("http://x","y")', "+33 cmd", "-2+3", "@SUM(A1)"]
    path = tmp_path / "f.xlsx"

    def as_text(ws):
        for index, service in enumerate(dangerous, start=2):
            ws.cell(row=index, column=8).value = service
            ws.cell(row=index, column=8).data_type = "s"

    write_book(path, rows, tweak=as_text)
    result = await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                        output_dir=tmp_path)
    sheet = load_workbook(result.result_path)["Comptes créés"]
    services = {row[0].value: row[9] for row in sheet.iter_rows(min_row=3)}
    stored = {a.identifier: a.service for a in await Account.filter(organisation=world.organisation,
                                                                     role__not=Role.PRINCIPAL_ADMIN)}
    hyperlink = next(cell for ident, cell in services.items() if stored[ident] == dangerous[0])
    assert hyperlink.data_type == "s" and hyperlink.value == dangerous[0] and hyperlink.quotePrefix
    for cell in services.values():
        assert cell.data_type == "s"


def test_result_writer_never_writes_a_formula(tmp_path):
    values = ['=HYPERLINK("http://x","y")', "+1", "-1", "@A1", "\t=1", "\r=1", "normal", "=cmd|' /C calc'!A0"]
    path = write_result(tmp_path / "r.xlsx", "=titre", [values])
    sheet = load_workbook(path)["Comptes créés"]
    assert sheet["A1"].value == "=titre" and sheet["A1"].data_type == "s"
    for cell, value in zip(sheet[3], values):
        assert cell.data_type == "s"
        # XML parsers may turn a lone CR into LF (the stdlib writer leaves it bare, lxml escapes it).
        assert cell.value in (value, value.replace("\r", "\n"))
        assert bool(cell.quotePrefix) == (value != "normal")


async def test_file_changed_after_check_is_refused(world, tmp_path):
    path = write_book(tmp_path / "f.xlsx", valid_rows(31))
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx)
    write_book(path, valid_rows(32))
    with pytest.raises(bulk.Conflict, match="a changé"):
        await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   output_dir=tmp_path, expected_sha256=report.sha256)
    assert await Account.filter(email__startswith="Agent.").count() == 0


def test_output_directory_prefers_the_drop_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(bulk.DROP_DIR_ENV, raising=False)
    assert bulk.output_directory(tmp_path) == tmp_path
    monkeypatch.setenv(bulk.DROP_DIR_ENV, str(tmp_path / "depot"))
    assert bulk.output_directory(Path("/ailleurs")) == tmp_path / "depot"


async def test_import_journal_stays_verifiable_with_one_event_per_account(world, tmp_path):
    from cpf_tui.services import audit

    path = write_book(tmp_path / "f.xlsx", valid_rows(40))
    result = await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                        output_dir=tmp_path)
    accounts = await Account.filter(identifier__in=result.identifiers)
    events = await AuditEvent.filter(action="account.create").order_by("seq")
    assert sorted(e.target_id for e in events) == sorted(str(a.id) for a in accounts)
    assert [e.target_label.rsplit("(", 1)[1].rstrip(")") for e in events] == result.identifiers
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 40))
    assert (await audit.verify_chain()).ok


def test_result_rows_read_back_like_cells_written_by_openpyxl(tmp_path):
    """The rows written into the sheet XML read back as openpyxl's own cells would (value, type, quote prefix)."""
    from openpyxl import Workbook

    from cpf_tui.services.result_book import RESULT_SHEET, text_cell

    rows = [
        ["ABCD2345", "Lefèvre", "Élodie", "e@x.fr", "06 12 34 56 78", "Gestionnaire", "Clôture", "73282932000074",
         "Siège <&> \"Paris\"", "=1+1", 12],
        ["WXYZ6789", " O'Neil ", "-Jean", "@x", "", "#N/A", "+33", "", "é\x01è", "\t=2", 13],
    ]
    ours = load_workbook(write_result(tmp_path / "ours.xlsx", "Titre", rows))[RESULT_SHEET]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(RESULT_SHEET)
    for row in [["Titre"], [label for label, _width in RESULT_HEADERS], *rows]:
        sheet.append([text_cell(sheet, value) for value in row])
    workbook.save(tmp_path / "theirs.xlsx")
    theirs = load_workbook(tmp_path / "theirs.xlsx")[RESULT_SHEET]
    for mine, reference in zip(ours.iter_rows(min_row=3), theirs.iter_rows(min_row=3), strict=True):
        assert [(c.value, c.data_type, bool(c.quotePrefix)) for c in mine] == [
            (c.value, c.data_type, bool(c.quotePrefix)) for c in reference
        ]
    assert ours.max_row == 4 and ours.freeze_panes == "A3"


async def test_bulk_mails_hold_the_password_not_the_identifier_which_the_result_workbook_keeps(world, tmp_path):
    rows = valid_rows(31)
    by_operator = await bulk.import_workbook(write_book(tmp_path / "a.xlsx", rows), siret=world.organisation.siret,
                                             ctx=world.operator_ctx, output_dir=tmp_path / "a")
    listed = {row[0] for row in load_workbook(by_operator.result_path)["Comptes créés"].iter_rows(
        min_row=3, values_only=True)}
    assert listed == set(by_operator.identifiers)
    created = await Account.filter(identifier__in=by_operator.identifiers)
    for account in created:
        body = (await OutboxEmail.get(account_id=account.id)).body
        assert account.identifier not in body
        assert "Votre mot de passe temporaire : " in body
        assert f"pour l'organisme {world.organisation.raison_sociale}" in body
        assert "l'administrateur de votre organisme vous le communique" in body
        assert "(heure de Paris)" in body
    # Imported by the principal administrator: it hands the identifiers over itself, by name.
    others = valid_rows(31, start=100)
    by_principal = await bulk.import_workbook(write_book(tmp_path / "b.xlsx", others), siret=world.organisation.siret,
                                              ctx=world.principal_ctx, output_dir=tmp_path / "b")
    account = await Account.get(identifier=by_principal.identifiers[0])
    body = (await OutboxEmail.get(account_id=account.id)).body
    assert account.identifier not in body
    assert f"{world.principal.prenom} {world.principal.nom} vous le communique" in body
