"""Workbooks as spreadsheets fill them: phones and SIRETs typed into General-format cells become numbers."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from stdnum import luhn

from cpf_tui.config import BulkSettings
from cpf_tui.errors import ValidationError
from cpf_tui.services import bulk, validation
from cpf_tui.services.bulk_workbook import parse_workbook
from models import Account, Establishment
from tests.factories import make_organisation, make_siret
from tests.bulk_support import fill_template, valid_rows, write_book

ROWS = 35
LEADING_ZEROS_SIREN = "00123456" + luhn.calc_check_digit("00123456")


def as_general_cells(rows: list[list], sirets: list[str]) -> list[list]:
    """What Excel or LibreOffice Calc store when phones without spaces and SIRETs are typed into General
    cells: numbers (the national 0 and a SIRET's leading zeros are lost)."""
    for index, row in enumerate(rows):
        row[3] = int(row[3].replace(" ", ""))
        siret = sirets[index % len(sirets)]
        row[6] = int(siret) if siret else None
    return rows


def test_numbers_read_back_when_unambiguous():
    assert validation.phone_from_number(612341056) == "+33612341056"
    assert validation.phone_from_number(612341056.0) == "+33612341056"
    assert validation.phone_from_number(692036728) == "+262692036728"  # Réunion, 0 dropped
    assert validation.phone_from_number(262692036728) == "+262692036728"  # Réunion, + dropped
    assert validation.phone_from_number(33612345678) == "+33612345678"
    assert validation.phone_from_number(491234567) == "+33491234567"  # not Germany's +49: one French reading
    siret = make_siret(LEADING_ZEROS_SIREN, 12)
    assert siret.startswith("00")
    assert validation.siret_from_number(int(siret)) == siret


@pytest.mark.parametrize(
    "value, fragment",
    [
        (687412345, "peut se lire 06 87 41 23 45 ou +687 41.23.45"),  # or New Caledonia with its + dropped
        (508411234, "peut se lire 05 08 41 12 34 ou +508 41 12 34"),  # or Saint-Pierre-et-Miquelon
        (12, "le nombre 12 n'est pas un numéro de téléphone valide"),
        (6.5, "un nombre a été saisi là où un numéro de téléphone est attendu"),
        (-612341056, "un nombre a été saisi"),
        (True, "un nombre a été saisi"),
    ],
)
def test_ambiguous_or_impossible_phone_numbers_are_refused_in_french(value, fragment):
    with pytest.raises(ValidationError) as caught:
        validation.phone_from_number(value, "Téléphone")
    assert fragment in caught.value.message
    assert "format Texte" in caught.value.message


@pytest.mark.parametrize(
    "value, fragment",
    [
        (123456789012345, "le SIRET comporte 14 chiffres"),
        (12345678901234, "clé de contrôle"),
        (7.5, "un nombre a été saisi là où un SIRET est attendu"),
    ],
)
def test_impossible_siret_numbers_are_refused_in_french(value, fragment):
    with pytest.raises(ValidationError, match=fragment):
        validation.siret_from_number(value)


async def test_template_formats_phone_and_siret_as_text_on_every_offered_row(world, tmp_path):
    settings = BulkSettings(max_rows=200)
    path = await bulk.generate_template(tmp_path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                        bulk=settings)
    sheet = load_workbook(path)["Habilitations"]
    for row in range(2, settings.max_rows + 2):
        assert sheet.cell(row=row, column=4).number_format == "@", row  # Téléphone
        assert sheet.cell(row=row, column=7).number_format == "@", row  # SIRET de l'établissement


async def test_35_row_example_typed_into_general_cells_imports(world, tmp_path):
    organisation = await make_organisation("Zéro en tête", siren=LEADING_ZEROS_SIREN, secondary=1)
    establishments = await Establishment.filter(organisation=organisation).order_by("-is_head_office", "id")
    sirets = [e.siret for e in establishments]
    assert all(siret.startswith("00") for siret in sirets)
    rows = as_general_cells(valid_rows(ROWS), ["", *sirets])
    rows[1][3] = 692036728  # 0692 03 67 28 (Réunion) lost its 0
    rows[2][3] = 262693123456  # +262 693 12 34 56 lost its +
    path = write_book(tmp_path / "general.xlsx", rows)
    cells = load_workbook(path)["Habilitations"]
    assert cells["D2"].data_type == "n" and cells["D2"].number_format == "General"
    assert isinstance(cells["G3"].value, int)

    parsed = parse_workbook(path)
    assert parsed.errors == []
    report = await bulk.analyse_workbook(path, siret=organisation.siret, ctx=world.operator_ctx)
    assert report.ok, report.lines()
    result = await bulk.import_workbook(path, siret=organisation.siret, ctx=world.operator_ctx,
                                        output_dir=tmp_path / "out")
    assert result.created == ROWS
    by_email = {a.email: a for a in await Account.filter(organisation=organisation)}
    assert by_email["Agent.0@example.fr"].phone == "+33612340000"
    assert by_email["Agent.1@example.fr"].phone == "+262692036728"
    assert by_email["Agent.2@example.fr"].phone == "+262693123456"
    assert by_email["Agent.1@example.fr"].establishment_id == establishments[0].id
    assert by_email["Agent.2@example.fr"].establishment_id == establishments[1].id


async def test_filled_template_with_numbers_imports_like_text(world, tmp_path):
    template = await bulk.generate_template(tmp_path / "modele.xlsx", siret=world.organisation.siret,
                                            ctx=world.operator_ctx, bulk=BulkSettings(max_rows=100))
    secondary = world.establishments[1].siret
    rows = as_general_cells(valid_rows(ROWS), ["", secondary])
    filled = fill_template(template, tmp_path / "rempli.xlsx", rows)
    text_rows = valid_rows(ROWS)
    for index, row in enumerate(text_rows):
        row[6] = secondary if index % 2 else ""
    typed = write_book(tmp_path / "texte.xlsx", text_rows)
    from_numbers, from_text = parse_workbook(filled), parse_workbook(typed)
    assert from_numbers.errors == [] and from_text.errors == []
    assert from_numbers.rows == from_text.rows


def test_numbers_elsewhere_keep_their_message(tmp_path: Path):
    rows = valid_rows(ROWS)
    rows[4][7] = 2024  # Service typed as a number
    parsed = parse_workbook(write_book(tmp_path / "f.xlsx", rows))
    assert [e.describe() for e in parsed.errors] == [
        "Ligne 6, colonne « Service », valeur « 2024 » : un nombre a été saisi là où du texte est attendu : "
        "mettez la cellule au format Texte."
    ]


async def test_workbook_saved_by_libreoffice_calc_imports_like_the_template(world, tmp_path):
    """`tests/fixtures/habilitation-libreoffice.xlsx`: the template filled with numbers where a user typed
    phones and SIRETs into General cells, saved by LibreOffice Calc 7.4 (`soffice --headless --convert-to
    xlsx`, see `tests/fixtures/make_libreoffice_workbook.py`)."""
    from models import Organisation, StructureType
    from tests.fixtures import make_libreoffice_workbook as lo

    organisation = await Organisation.create(
        siret=lo.HEAD_SIRET, siren=lo.SIREN, raison_sociale="Zéro en tête", address="1 rue de Paris, 97400 Saint-Denis",
        contact_email="contact@example.re", structure_type=StructureType.UNIQUE,
    )
    head = await Establishment.create(organisation=organisation, siret=lo.HEAD_SIRET, name=lo.ESTABLISHMENTS[0][1],
                                      is_head_office=True)
    secondary = await Establishment.create(organisation=organisation, siret=lo.SECONDARY_SIRET,
                                           name=lo.ESTABLISHMENTS[1][1])
    saved = load_workbook(lo.FIXTURE)
    with zipfile.ZipFile(lo.FIXTURE) as archive:
        assert b"<Application>LibreOffice/7.4" in archive.read("docProps/app.xml")
        assert "xl/sharedStrings.xml" in archive.namelist()  # LibreOffice's way, not openpyxl's inline strings
    assert isinstance(saved["Habilitations"]["D2"].value, int)  # numbers, as typed into General cells
    assert isinstance(saved["Habilitations"]["G3"].value, int)  # a SIRET without its leading zeros

    # The same rows typed as text, as the template's Text cells keep them.
    text_rows = [
        [validation.format_phone(validation.phone_from_number(c)) if i == 3 and isinstance(c, int)
         else lo.SECONDARY_SIRET if i == 6 and c else c for i, c in enumerate(row)]
        for row in lo.typed_rows()
    ]
    from_text = parse_workbook(write_book(tmp_path / "texte.xlsx", text_rows))
    from_libreoffice = parse_workbook(lo.FIXTURE)
    assert from_libreoffice.errors == [] and from_text.errors == []
    assert from_libreoffice.rows == from_text.rows

    result = await bulk.import_workbook(lo.FIXTURE, siret=organisation.siret, ctx=world.operator_ctx,
                                        output_dir=tmp_path / "out")
    assert result.created == ROWS
    by_email = {a.email: a for a in await Account.filter(organisation=organisation)}
    assert by_email["Agent.1@example.fr"].phone == "+262692036728"
    assert by_email["Agent.2@example.fr"].phone == "+262693123456"
    assert by_email["Agent.1@example.fr"].establishment_id == secondary.id
    assert by_email["Agent.0@example.fr"].establishment_id == head.id
