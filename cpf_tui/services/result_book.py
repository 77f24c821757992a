"""The result workbook of a bulk import (one row per account created), and the safe text cells every
workbook of the bulk import is written with.

Kept apart from the template and the reader so that the child process writing it
(`result_worker`) only loads what writing needs: openpyxl and the workbook writer's rules, not the
models nor the ORM.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cpf_tui.services.xlsx_export import FORMULA_TRIGGERS, clean_text

RESULT_SHEET = "Comptes créés"
TEMPLATE_TITLE = "Habilitation en masse"

_clean = clean_text
"""Text as the workbook holds it: the workbook writer's one rule (controls written out, see xlsx_export)."""


def set_text(cell: Any, value: Any) -> Any:
    """Store `value` in `cell`; text is always a plain string, never a formula."""
    if isinstance(value, str):
        text = _clean(value)
        cell.value = text
        cell.data_type = "s"
        if text.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True
    else:
        cell.value = value
    return cell


def text_cell(sheet: Any, value: Any, style: Any = None) -> Any:
    """A write-only cell holding `value` safely (see `set_text`)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet)
    if style is not None:
        cell.font = style
    return set_text(cell, value)


RESULT_HEADERS = (
    ("Identifiant", 14), ("Nom", 24), ("Prénom", 20), ("E-mail", 34), ("Téléphone", 16), ("Rôle", 24),
    ("Profil", 14), ("SIRET de l'établissement", 20), ("Établissement", 30), ("Service", 28), ("Ligne", 8),
)


def write_result(path: str | Path, title: str, rows: Iterable[Sequence[Any]]) -> Path:
    """Write the result workbook (one row per account created, see RESULT_HEADERS).

    openpyxl writes the workbook (properties, styles, column widths, frozen panes, title and header)
    with one placeholder row holding a quote-prefixed text; the data rows are then written straight
    into the sheet's XML in place of that row, with the cells openpyxl would write (text always an
    inline string, quote-prefixed when it starts like a formula), several times faster than one
    openpyxl cell object per value.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    path = Path(path)
    workbook = Workbook(write_only=True)
    workbook.properties.title = f"{TEMPLATE_TITLE} — résultat"
    sheet = workbook.create_sheet(RESULT_SHEET)
    for index, (_label, width) in enumerate(RESULT_HEADERS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A3"
    bold = Font(bold=True)
    sheet.append([text_cell(sheet, title, bold)])
    sheet.append([text_cell(sheet, label, bold) for label, _width in RESULT_HEADERS])
    sheet.append([text_cell(sheet, _PLACEHOLDER)])
    skeleton = io.BytesIO()
    workbook.save(skeleton)
    return _save(_with_rows(skeleton.getvalue(), rows, first_row=3), path)


_PLACEHOLDER = "=placeholder"
_SHEET_PART = "xl/worksheets/sheet1.xml"
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _with_rows(skeleton: bytes, rows: Iterable[Sequence[Any]], first_row: int) -> bytes:
    """The workbook `skeleton` with its placeholder row (row `first_row`) replaced by `rows`."""
    import zipfile

    from openpyxl.utils import get_column_letter

    source = zipfile.ZipFile(io.BytesIO(skeleton))
    xml = source.read(_SHEET_PART).decode("utf-8")
    start = xml.index(f'<row r="{first_row}">')
    end = xml.index("</row>", start) + len("</row>")
    placeholder = re.search(r' s="(\d+)"', xml[start:end])
    quoted = f' s="{placeholder.group(1)}"' if placeholder else ""
    letters = [get_column_letter(index) for index in range(1, len(RESULT_HEADERS) + 1)]
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            if member.filename != _SHEET_PART:
                target.writestr(member, source.read(member))
                continue
            # The sheet is compressed as its rows are made: the whole XML is never held at once.
            with target.open(member, "w") as stream:
                stream.write(xml[:start].encode("utf-8"))
                parts: list[str] = []
                for part in _row_parts(rows, letters, quoted, first_row):
                    parts.append(part)
                    if len(parts) == 1000:
                        stream.write("".join(parts).encode("utf-8"))
                        parts.clear()
                stream.write(("".join(parts) + xml[end:]).encode("utf-8"))
    return output.getvalue()


_CELL_CACHE_SIZE = 4096
"""Distinct texts whose cell XML is kept while the rows are written (roles, profiles, establishments
and services repeat from row to row); the cache is emptied when full, so memory stays flat."""


def _text_cell(value: str, quoted: str) -> str:
    """A text cell as openpyxl writes it, after its reference (`<c r="A3"`): style, type and content."""
    text = _clean(value)
    style = quoted if text.startswith(FORMULA_TRIGGERS) else ""
    if not text:
        return f'{style} t="inlineStr"></c>'
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'{style} t="inlineStr"><is><t{space}>{text.translate(_XML_ESCAPES)}</t></is></c>'


def _row_parts(rows: Iterable[Sequence[Any]], letters: list[str], quoted: str, first_row: int) -> Iterator[str]:
    """The `<row>` elements of the result rows, numbered from `first_row`."""
    cache: dict[str, str] = {}
    for number, row in enumerate(rows, start=first_row):
        cells = []
        for letter, value in zip(letters, row):
            if isinstance(value, str):
                rest = cache.get(value) if type(value) is str else None
                if rest is None:
                    rest = _text_cell(value, quoted)
                    if type(value) is str:
                        if len(cache) >= _CELL_CACHE_SIZE:
                            cache.clear()
                        cache[value] = rest
                cells.append(f'<c r="{letter}{number}"{rest}')
            elif isinstance(value, int) and not isinstance(value, bool):
                cells.append(f'<c r="{letter}{number}" t="n"><v>{value}</v></c>')
            else:
                raise TypeError(f"valeur inattendue dans le classeur de résultat : {type(value).__name__}")
        yield f'<row r="{number}">{"".join(cells)}</row>'


def _save(workbook: Any, path: Path) -> Path:
    """Save a workbook (or its bytes) as a private file (0600), through a temporary name in the same
    folder so that a reader never sees half a file."""
    from cpf_tui.private_files import write_private, write_private_bytes

    if isinstance(workbook, bytes):
        return write_private_bytes(path, workbook)
    return write_private(path, workbook.save)
