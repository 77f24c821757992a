"""Hostile workbooks written part by part (no spreadsheet library): huge shared-string tables, sheets
with too many cells or too long a cell, for the streaming caps of `bulk_workbook`."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

from tests.bulk_support import HEADER

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
{shared}</Types>"""
SHARED_TYPE = (
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>\n'
)
ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>"""
WORKBOOK = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets><sheet name="Habilitations" sheetId="1" r:id="rId1"/></sheets></workbook>"""
WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PKG_REL_NS}">
<Relationship Id="rId1" Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>
{{shared}}</Relationships>"""
SHARED_REL = f'<Relationship Id="rId2" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>\n'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline_row(number: int, values: Iterable[str]) -> str:
    cells = "".join(
        f'<c r="{chr(65 + index)}{number}" t="inlineStr"><is><t>{_escape(value)}</t></is></c>'
        for index, value in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


def sheet_xml(rows: Iterable[str]) -> Iterable[bytes]:
    yield f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode()
    for row in rows:
        yield row.encode("utf-8")
    yield b"</sheetData></worksheet>"


def valid_inline_rows(count: int, siret: str = "") -> list[str]:
    """The header and `count` valid rows, as inline-string rows."""
    rows = [inline_row(1, HEADER)]
    for i in range(count):
        rows.append(inline_row(i + 2, [
            "Martin", "Claire", f"agent.{i}@example.fr", "", "Gestionnaire", "Consultation", siret, "Accueil",
        ]))
    return rows


def shared_strings_xml(strings: Iterable[str], count: int) -> Iterable[bytes]:
    yield (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           f'<sst xmlns="{MAIN_NS}" count="{count}" uniqueCount="{count}">').encode()
    batch: list[str] = []
    for text in strings:
        batch.append(f"<si><t>{_escape(text)}</t></si>")
        if len(batch) == 4096:
            yield "".join(batch).encode("utf-8")
            batch = []
    yield ("".join(batch) + "</sst>").encode("utf-8")


def write_parts(path: Path, sheet: Iterable[bytes], shared: Iterable[bytes] | None = None) -> Path:
    """An .xlsx of one sheet "Habilitations" (and a shared-string table), its big parts streamed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES.format(shared=SHARED_TYPE if shared is not None else ""))
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.format(shared=SHARED_REL if shared is not None else ""))
        parts = [("xl/worksheets/sheet1.xml", sheet)]
        if shared is not None:
            parts.append(("xl/sharedStrings.xml", shared))
        for name, chunks in parts:
            with archive.open(name, "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
    return path


def hostile_shared_strings(path: Path, strings: int = 3_300_000) -> Path:
    """The review's workbook: a few valid rows, and a shared-string table of millions of short distinct
    texts (≈ 8 MB compressed, ratio ≈ 22, so it passes the zip-bomb guard), which openpyxl would load
    whole into memory before the first row is read."""
    sst = shared_strings_xml((f"Direction régionale, service n° {i:07d}" for i in range(strings)), strings)
    return write_parts(path, sheet_xml(valid_inline_rows(40)), sst)
