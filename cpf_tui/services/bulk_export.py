"""The bulk-habilitation template (the result workbook is `result_book`'s).

Every text goes through `text_cell`/`set_text`: it is stored as a string (never a formula), and values
starting with `=`, `+`, `-`, `@`, a tab or a carriage return also get Excel's quote prefix, so that
editing the cell later does not turn it into a formula either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpf_tui.config import BulkSettings
from cpf_tui.services.bulk_workbook import BULK_ROLES, COLUMNS, SHEET_NAME
from cpf_tui.services.result_book import TEMPLATE_TITLE, _save, set_text
from models.enums import Profile

LISTS_SHEET = "Établissements"
TEXT_FORMAT_COLUMNS = ("phone", "siret")
"""Template columns whose offered rows are formatted as Text: a number typed there would lose digits."""


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
