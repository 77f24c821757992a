"""Streaming caps of the bulk reader (issue 18, point 9): shared strings, cell length, cells in all and
per row are counted while the file streams; such a file is refused in French, quickly and in bounded
memory, and the import reads the file only once."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cpf_tui.config import BulkSettings
from cpf_tui.services import bulk
from cpf_tui.services.bulk_workbook import (
    MAX_CELL_CHARS,
    MAX_CELLS_PER_ROW,
    UNCOMPRESSED_FACTOR,
    max_cells,
    parse_workbook,
)
from tests.bulk_hostile import (
    hostile_shared_strings,
    inline_row,
    shared_strings_xml,
    sheet_xml,
    valid_inline_rows,
    write_parts,
)
from tests.bulk_support import counts

ROOT = Path(__file__).resolve().parent.parent
PEAK_LIMIT_MB = 200
CHILD = """
import json, sys
from cpf_tui.services.bulk_workbook import parse_workbook
from tests.memory import peak_rss_mb
parsed = parse_workbook(sys.argv[1])
print(json.dumps({
    "errors": [error.describe() for error in parsed.errors], "rows": len(parsed.rows), "peak_mb": peak_rss_mb(),
}))
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    return hostile_shared_strings(tmp_path_factory.mktemp("hostile") / "habilitation.xlsx")


def parse_in_child(path: Path) -> dict:
    """Parse `path` in a new interpreter (killed after 120 s) and return its errors and peak memory."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hostile_workbook_passes_the_zip_guard_as_the_review_built_it(hostile):
    size = hostile.stat().st_size
    assert 6 * 1024 * 1024 < size < BulkSettings().max_bytes
    strings = zipfile.ZipFile(hostile).getinfo("xl/sharedStrings.xml")
    assert 20 < strings.file_size / strings.compress_size < 100
    assert strings.file_size < BulkSettings().max_bytes * UNCOMPRESSED_FACTOR


def test_hostile_shared_strings_are_refused_in_french_within_200_mb(hostile):
    outcome = parse_in_child(hostile)
    assert outcome["rows"] == 0
    assert len(outcome["errors"]) == 1
    message = outcome["errors"][0]
    assert "caractères de texte" in message and "refusé par sécurité" in message
    assert outcome["peak_mb"] <= PEAK_LIMIT_MB


async def test_hostile_workbook_import_is_refused_and_writes_nothing(world, hostile, tmp_path):
    out = tmp_path / "resultats"
    out.mkdir()
    before = await counts()
    report = await bulk.analyse_workbook(hostile, siret=world.organisation.siret, ctx=world.operator_ctx)
    assert not report.ok
    assert "refusé par sécurité" in report.lines()[1]
    with pytest.raises(bulk.BulkImportRejected) as refused:
        await bulk.import_workbook(hostile, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   output_dir=out)
    assert "aucun compte n'a été créé" in refused.value.report.summary()
    assert await counts() == before
    assert list(out.iterdir()) == []


def test_too_many_shared_strings_are_refused_before_openpyxl_loads_them(tmp_path):
    settings = BulkSettings(max_rows=40)
    cap = max_cells(settings)
    path = write_parts(
        tmp_path / "textes.xlsx", sheet_xml(valid_inline_rows(40)),
        shared_strings_xml((f"{i}" for i in range(cap + 1)), cap + 1),
    )
    parsed = parse_workbook(path, settings)
    assert [error.describe() for error in parsed.errors] == [
        f"Le classeur contient plus de {cap:,} textes distincts, bien plus que ses 40 lignes au plus n'en "
        "demandent : il est refusé par sécurité.".replace(",", " ", 1)
    ]
    assert parsed.rows == []


def test_a_shared_string_longer_than_excel_allows_is_refused(tmp_path):
    path = write_parts(
        tmp_path / "long.xlsx", sheet_xml(valid_inline_rows(40)),
        shared_strings_xml(["court", "x" * (MAX_CELL_CHARS + 1)], 2),
    )
    parsed = parse_workbook(path)
    assert [error.describe() for error in parsed.errors] == [
        "Le texte partagé n° 2 contient plus de 32 767 caractères (limite d'Excel) : le classeur est refusé "
        "par sécurité."
    ]


def test_a_sheet_cell_longer_than_excel_allows_is_refused(tmp_path):
    rows = valid_inline_rows(40)
    rows[5] = inline_row(6, ["Martin", "é" * (MAX_CELL_CHARS + 1)])
    parsed = parse_workbook(write_parts(tmp_path / "cellule.xlsx", sheet_xml(rows)))
    assert [error.describe() for error in parsed.errors] == [
        "La cellule B6 contient plus de 32 767 caractères (limite d'Excel) : le classeur est refusé par sécurité."
    ]
    assert parsed.rows == []


def test_a_cell_of_excel_s_maximum_length_is_read_and_checked_as_usual(tmp_path):
    rows = valid_inline_rows(40)
    rows[5] = inline_row(6, ["Martin", "Claire", "agent.4@example.fr", "", "Gestionnaire", "Consultation", "",
                             "s" * MAX_CELL_CHARS])
    parsed = parse_workbook(write_parts(tmp_path / "cellule.xlsx", sheet_xml(rows)))
    assert [(error.row, error.column) for error in parsed.errors] == [(6, "Service")]  # 200 characters at most
    assert len(parsed.rows) == 39


def test_too_many_cells_in_the_sheet_are_refused_while_streaming(tmp_path):
    settings = BulkSettings(max_rows=40)
    cap = max_cells(settings)
    width = 60
    rows = valid_inline_rows(40) + [
        "<row r=\"{0}\">{1}</row>".format(number, "<c/>" * width) for number in range(50, 50 + cap // width + 1)
    ]
    parsed = parse_workbook(write_parts(tmp_path / "cellules.xlsx", sheet_xml(rows)), settings)
    assert [error.describe() for error in parsed.errors] == [
        f"Le classeur contient plus de {cap:,} cellules, bien plus que ses 40 lignes au plus n'en demandent : "
        "il est refusé par sécurité. Supprimez les colonnes et lignes inutiles ou découpez-le en plusieurs "
        "fichiers.".replace(",", " ", 1)
    ]


def test_a_row_wider_than_excel_allows_is_refused(tmp_path):
    rows = valid_inline_rows(40) + ['<row r="60">' + "<c/>" * (MAX_CELLS_PER_ROW + 1) + "</row>"]
    parsed = parse_workbook(write_parts(tmp_path / "large.xlsx", sheet_xml(rows)))
    assert [error.describe() for error in parsed.errors] == [
        "Une ligne du classeur contient plus de 16 384 cellules : le classeur est refusé par sécurité."
    ]


def test_a_row_of_more_than_two_megabytes_is_refused(tmp_path):
    draw = random.Random(18)
    texts = ["".join(draw.choices("aé&<z", k=30_000)) for _ in range(32)]  # ≈ 78 kB of XML each, little compressible
    rows = valid_inline_rows(40) + [inline_row(60, texts)]
    parsed = parse_workbook(write_parts(tmp_path / "ligne.xlsx", sheet_xml(rows)))
    assert [error.describe() for error in parsed.errors] == [
        "Une ligne du classeur occupe plus de 2 Mo : le classeur est refusé par sécurité."
    ]


def test_a_valid_part_written_workbook_is_read_whole(tmp_path):
    parsed = parse_workbook(write_parts(tmp_path / "valide.xlsx", sheet_xml(valid_inline_rows(40))))
    assert parsed.errors == [] and len(parsed.rows) == 40
