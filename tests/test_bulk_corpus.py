"""A corpus of bad workbooks, each written by the test: a French message, and nothing written."""

from __future__ import annotations


import pytest

from cpf_tui.services import bulk
from tests.bulk_support import counts, valid_rows, write_book

from tests.bulk_corpus import CASES, ROWS


def test_corpus_is_large_enough():
    assert len(CASES) >= 25
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_bad_workbook_is_refused_with_a_french_message_and_nothing_written(case, world, tmp_path):
    path = tmp_path / f"{case.name}.xlsx"
    built = case.build(path, world)
    if hasattr(built, "__await__"):
        await built
    before = await counts()

    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                         bulk=case.settings)
    assert not report.ok
    text = "\n".join(report.lines())
    assert case.expected in text, text
    assert "refusé" in report.summary() and "aucun compte n'a été créé" in report.summary()

    with pytest.raises(bulk.BulkImportRejected) as rejected:
        await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   bulk=case.settings, output_dir=tmp_path / "out")
    assert case.expected in "\n".join(rejected.value.report.lines())
    assert await counts() == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


async def test_every_error_of_the_file_is_reported_at_once(world, tmp_path):
    rows = valid_rows(ROWS)
    rows[0][2] = "pas-une-adresse"
    rows[3][4] = "Stagiaire"
    rows[3][5] = "Tout"
    rows[20][3] = "12"
    path = write_book(tmp_path / "f.xlsx", rows)
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx)
    assert [(e.row, e.column) for e in report.errors] == [(2, "E-mail"), (5, "Rôle"), (5, "Profil"), (22, "Téléphone")]
    assert len(report.rows) == ROWS - 3


# -- fast paths of the checks: same results as the libraries' general paths --------------------------


def test_email_fast_path_matches_email_validator():
    from email_validator import EmailNotValidError
    from email_validator import validate_email as check

    from cpf_tui.errors import ValidationError
    from cpf_tui.services import validation

    addresses = [
        "Agent.Zero@Example.FR", "a@b.fr", "x.y+z@sub.example.fr", "a..b@x.fr", ".a@x.fr", "a.@x.fr", "a@localhost",
        "a@x", "a@-x.fr", "é@x.fr", "a@exämple.fr", "a@xn--exmple-cua.fr", "o'neil@x.fr", "a@x..fr", "a@[1.2.3.4]",
        '"a b"@x.fr', "a@test", "a@x.invalid", "a@@x.fr", "@x.fr", "a@", "x" * 64 + "@x.fr", "x" * 65 + "@x.fr",
        "a@" + "b" * 64 + ".fr", "a{b}|c@x.fr", "A@EXAMPLE.COM",
    ]
    for address in addresses:
        try:
            fast = validation.validate_email(address)
        except ValidationError:
            fast = None
        try:
            slow = check(address, check_deliverability=False).normalized
        except EmailNotValidError:
            slow = None
        assert fast == slow, address


def test_fast_sheet_reader_gives_openpyxl_cells(tmp_path):
    """`_iter_rows` (inline strings read without Text objects) yields the cells `iter_rows` yields."""
    from datetime import datetime as moment

    from openpyxl import Workbook, load_workbook
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    from cpf_tui.services.bulk_workbook import _iter_rows

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Habilitations"
    sheet.append(["Nom", "Prénom", " espacé ", "", None, "=SUM(1,2)", 3, moment(2026, 1, 2)])
    sheet.append([])
    sheet.append([True, "#N/A", CellRichText("Ri", TextBlock(InlineFont(b=True), "che")), "é<&>\"", "x"])
    sheet["B6"] = "loin"
    sheet["J6"] = "au-delà"
    path = tmp_path / "cells.xlsx"
    workbook.save(path)
    for max_col in (None, 3, 8, 64):
        book = load_workbook(path, read_only=True)
        ours = [[(c.value, c.data_type) for c in row] for row in _iter_rows(book.active, max_col)]
        theirs = [[(c.value, c.data_type) for c in row] for row in book.active.iter_rows(max_col=max_col)]
        book.close()
        assert ours == theirs, max_col
    book = load_workbook(path, read_only=True)
    assert [c.value for c in next(iter(_iter_rows(book.active, None)))][:3] == ["Nom", "Prénom", " espacé "]
    book.close()
