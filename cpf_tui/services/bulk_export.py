"""Workbooks written by cpf-tui: the bulk-habilitation template and the result workbook.

Every text goes through `text_cell`/`set_text`: it is stored as a string (never a formula), and values
starting with `=`, `+`, `-`, `@`, a tab or a carriage return also get Excel's quote prefix, so that
editing the cell later does not turn it into a formula either.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpf_tui.config import BulkSettings
from cpf_tui.services.bulk_workbook import BULK_ROLES, COLUMNS, SHEET_NAME
from cpf_tui.services.xlsx_export import clean_text
from models.enums import Profile

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
LISTS_SHEET = "Établissements"
RESULT_SHEET = "Comptes créés"
TEMPLATE_TITLE = "Habilitation en masse"
TEXT_FORMAT_COLUMNS = ("phone", "siret")
"""Template columns whose offered rows are formatted as Text: a number typed there would lose digits."""


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


def _header_style() -> dict[str, Any]:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="FF1F3864")
    return {
        "font": Font(bold=True, color="FFFFFFFF"),
        "fill": PatternFill("solid", fgColor="FF1F3864"),
        "alignment": Alignment(horizontal="center", vertical="center", wrap_text=True),
        "border": Border(left=thin, right=thin, top=thin, bottom=thin),
    }


def _style_header_row(sheet: Any, labels: Sequence[str], widths: Sequence[int]) -> None:
    from openpyxl.utils import get_column_letter

    style = _header_style()
    for index, (label, width) in enumerate(zip(labels, widths), start=1):
        cell = sheet.cell(row=1, column=index)
        set_text(cell, label)
        for name, value in style.items():
            setattr(cell, name, value)
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.row_dimensions[1].height = 30
    sheet.freeze_panes = "A2"


@dataclass(frozen=True)
class TemplateData:
    """What the template needs to know about the organisation."""

    raison_sociale: str
    siret: str
    establishments: Sequence[tuple[str, str]]
    """(SIRET, name) pairs, head office first."""


def instruction_lines(data: TemplateData, bulk: BulkSettings) -> list[str]:
    """The French instructions written on the first sheet."""
    roles = " ou ".join(BULK_ROLES.values())
    profiles = ", ".join(profile.label for profile in Profile)
    lines = [
        f"{TEMPLATE_TITLE} — {data.raison_sociale} (SIRET {data.siret})",
        "",
        f"1. Remplissez la feuille « {SHEET_NAME} » : une ligne par personne à habiliter, sans modifier l'en-tête.",
        "2. Saisissez des valeurs, jamais de formules ; ne fusionnez pas de cellules.",
        f"3. Rôle : {roles}. Profil : {profiles}.",
        "   Un administrateur délégué reçoit toujours le profil Clôture.",
        "4. SIRET de l'établissement : choisissez-le dans la liste (vide = siège de l'organisme).",
        "5. Chaque adresse e-mail ne peut figurer qu'une fois et ne doit pas déjà être habilitée dans l'organisme.",
        "6. Le numéro de téléphone est facultatif ; saisissez-le comme du texte : 01 23 45 67 89, 0692 03 67 28",
        "   en outre-mer, +687 41 23 45 pour la Nouvelle-Calédonie, la Polynésie, Wallis-et-Futuna ou",
        "   Saint-Pierre-et-Miquelon.",
    ]
    if bulk.min_rows:
        lines.append(
            f"7. L'habilitation en masse concerne plus de {bulk.min_rows} personnes ; en dessous, créez les comptes "
            "un par un dans l'application."
        )
    lines += [
        f"   Au plus {bulk.max_rows} lignes par fichier.",
        "",
        "Toutes les erreurs sont signalées en une fois (ligne, colonne, valeur, motif) et rien n'est créé tant",
        "que le fichier n'est pas entièrement valide. Chaque personne reçoit ensuite par e-mail un mot de passe",
        "temporaire ; un classeur de résultat donne les identifiants attribués, à transmettre aux intéressés.",
        "",
        "Colonnes :",
    ]
    lines += [f"- {column.label} : {column.help}" for column in COLUMNS]
    lines += ["", "Contact : CPF-gestion@caissedesdepots.fr"]
    return lines


def write_template(path: str | Path, data: TemplateData, bulk: BulkSettings | None = None) -> Path:
    """Write the template workbook: instructions, the Habilitations sheet with drop-down lists, establishments."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    bulk = bulk or BulkSettings()
    path = Path(path)
    workbook = Workbook()
    workbook.properties.title = TEMPLATE_TITLE
    workbook.properties.creator = "cpf-tui"
    instructions = workbook.active
    instructions.title = "Instructions"
    instructions.column_dimensions["A"].width = 110
    for index, line in enumerate(instruction_lines(data, bulk), start=1):
        cell = set_text(instructions.cell(row=index, column=1), line)
        if index == 1:
            cell.font = Font(bold=True, size=14)

    sheet = workbook.create_sheet(SHEET_NAME)
    _style_header_row(sheet, [c.label for c in COLUMNS], [c.width for c in COLUMNS])
    last_row = bulk.max_rows + 1
    for index in range(1, len(COLUMNS) + 1):
        sheet.column_dimensions[get_column_letter(index)].number_format = "@"
    # A column's format only applies to cells created later by some programs: the rows offered get the
    # Text format themselves where a typed number would lose digits (phone's 0, SIRET's leading zeros).
    for index, column in enumerate(COLUMNS, start=1):
        if column.key in TEXT_FORMAT_COLUMNS:
            for row in range(2, last_row + 1):
                sheet.cell(row=row, column=index).number_format = "@"

    lists = workbook.create_sheet(LISTS_SHEET)
    _style_header_row(lists, ["SIRET", "Établissement"], [18, 50])
    for index, (siret, name) in enumerate(data.establishments, start=2):
        set_text(lists.cell(row=index, column=1), siret)
        set_text(lists.cell(row=index, column=2), name)

    def column_letter(key: str) -> str:
        return str(get_column_letter([c.key for c in COLUMNS].index(key) + 1))

    def add_list(key: str, formula: str, prompt: str) -> None:
        validation = DataValidation(type="list", formula1=formula, allow_blank=True)
        validation.error = f"Valeur non prévue : {prompt}"
        validation.errorTitle = "Valeur refusée"
        validation.prompt = prompt
        validation.promptTitle = next(c.label for c in COLUMNS if c.key == key)
        validation.showErrorMessage = True
        validation.showInputMessage = True
        letter = column_letter(key)
        validation.add(f"{letter}2:{letter}{last_row}")
        sheet.add_data_validation(validation)

    add_list("role", '"' + ",".join(BULK_ROLES.values()) + '"', "Administrateur délégué ou Gestionnaire.")
    add_list("profile", '"' + ",".join(p.label for p in Profile) + '"', "Consultation, Création, Validation ou Clôture.")
    end = max(len(data.establishments) + 1, 2)
    add_list("siret", f"'{LISTS_SHEET}'!$A$2:$A${end}", "Un SIRET d'établissement de l'organisme.")
    workbook.active = 1
    return _save(workbook, path)


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
