"""The one workbook writer of cpf-tui: no text written through it can ever become a formula.

Every string cell is stored as text (never `t="f"` nor an error code); a value that a spreadsheet
could read as a formula or a command (starting with `=`, `+`, `-`, `@`, tab or carriage return)
also gets Excel's "quote prefix", so that it stays text even when someone edits the cell.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from cpf_tui.errors import ValidationError
from cpf_tui.private_files import private_dir, write_private
from cpf_tui.text import display

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula (CSV/DDE injection)."""
EXCEL_MAX_TEXT = 32767
"""Excel refuses longer cell texts."""


def is_risky_text(value: str) -> bool:
    """Whether a text would be read as a formula if it were not forced to text."""
    return value.startswith(FORMULA_TRIGGERS)


def clean_text(value: str) -> str:
    """A text as the report shows it, cut to Excel's maximum length: control and bidi characters written
    out (`cpf_tui.text.display`; line breaks and tabs kept), which also leaves none that XML cannot hold."""
    return "\r".join(display(part, multiline=True) for part in value.split("\r"))[:EXCEL_MAX_TEXT]


@dataclass
class SheetData:
    """One worksheet: a title, a header row and data rows (an iterable, consumed once)."""

    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: Sequence[int] = field(default_factory=tuple)


def _cell(sheet: Any, value: Any, *, bold: bool = False) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
        cell.number_format = "DD/MM/YYYY HH:MM:SS"
    elif isinstance(value, (date, time)):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "DD/MM/YYYY" if isinstance(value, date) else "HH:MM:SS"
    elif isinstance(value, bool) or value is None:
        cell = WriteOnlyCell(sheet, value=value)
    elif isinstance(value, int | float):
        cell = WriteOnlyCell(sheet, value=value)
    else:
        text = clean_text(str(value))
        cell = WriteOnlyCell(sheet, value=None)
        cell.value = text
        cell.data_type = "s"  # never "f" (formula) nor "e" (error code)
        if is_risky_text(text):
            cell.quotePrefix = True
    if bold:
        cell.font = Font(bold=True)
    return cell


def write_workbook(path: str | os.PathLike[str], sheets: Sequence[SheetData]) -> Path:
    """Write the sheets to `path` (atomically: a temporary file renamed at the end); returns the path."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    target = Path(path).expanduser()
    if target.suffix.lower() != ".xlsx":
        raise ValidationError("Le fichier d'export doit porter l'extension .xlsx.", {"path": "extension .xlsx"})
    try:
        private_dir(target.parent)
    except OSError as exc:
        raise ValidationError(f"Impossible de créer le dossier {target.parent} : {exc.strerror}.") from None
    from lxml.etree import SerialisationError

    workbook = Workbook(write_only=True)
    try:
        # Write-only sheets stream their rows to a temporary file as they are appended: a full disk
        # shows up here as well as in the save.
        for data in sheets:
            sheet = workbook.create_sheet(title=clean_text(data.title)[:31] or "Feuille")
            for index, width in enumerate(data.widths, start=1):
                sheet.column_dimensions[get_column_letter(index)].width = width
            sheet.freeze_panes = "A2"
            sheet.append([_cell(sheet, header, bold=True) for header in data.headers])
            for row in data.rows:
                sheet.append([_cell(sheet, value) for value in row])
        write_private(target, workbook.save)
    except OSError as exc:
        _discard(workbook)
        raise ValidationError(f"Impossible d'écrire le fichier {target} : {exc.strerror}.") from None
    except SerialisationError as exc:  # lxml's own error when the disk is full (IO_ENOSPC, IO_EFBIG)
        _discard(workbook)
        reason = "disque plein ou taille maximale de fichier atteinte" if "IO_E" in str(exc) else str(exc)
        raise ValidationError(f"Impossible d'écrire le fichier {target} : {reason}.") from None
    return target


def _discard(workbook: Any) -> None:
    """After a failed write: end each write-only sheet's stream now (not at garbage collection, where
    its error would be printed) and remove its temporary file (openpyxl internals, guarded)."""
    for sheet in getattr(workbook, "worksheets", []):
        writer = getattr(sheet, "_writer", None)
        if writer is None:
            continue
        with contextlib.suppress(Exception):
            writer.xf.close()
        with contextlib.suppress(Exception):
            os.remove(writer.out)
