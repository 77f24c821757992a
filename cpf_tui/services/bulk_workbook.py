"""Reading a "Habilitation en masse" workbook: container checks, then every row checked, errors collected.

Pure and synchronous (no database, no Textual): the bulk service runs it in a thread, then adds the
checks that need the database (existing e-mails, establishments of the organisation, same file).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

from cpf_tui.config import BulkSettings
from cpf_tui.errors import ValidationError
from cpf_tui.services import validation
from cpf_tui.text import clean_line, display, fold
from models.enums import Profile, Role

SHEET_NAME = "Habilitations"
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_SIGNATURE = b"PK\x03\x04"
ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
MAX_ZIP_MEMBERS = 500
MAX_MEMBER_RATIO = 100
"""Largest compression ratio accepted for a member bigger than RATIO_FLOOR_BYTES (zip bomb guard)."""
RATIO_FLOOR_BYTES = 1024 * 1024
UNCOMPRESSED_FACTOR = 20
"""The declared uncompressed total may not exceed this many times `BulkSettings.max_bytes`."""
HEADER_SEARCH_ROWS = 20
MAX_COLUMNS = 64
"""Columns beyond this one are not read (a forged sheet size cannot make every row huge)."""
BLANK_ROWS_SLACK = 1000
MAX_CELL_CHARS = 32_767
"""Longest text of one cell (Excel's own limit), in the sheet and in the shared strings."""
MAX_CELLS_PER_ROW = 16_384
"""Most cells one row of the sheet's XML may hold (Excel's column count)."""
MAX_ROW_BYTES = 2 * 1024 * 1024
"""Largest XML of one row (eight cells of `MAX_CELL_CHARS` escaped characters fit several times)."""
TEXT_CHARS_PER_ROW = 1024
"""Shared-string characters allowed per accepted row (a real row holds about a hundred)."""
_MERGE_REF = re.compile(rb'\bref="([A-Z0-9:]+)"')
_SHEET_TOKEN = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|sheetData|mergeCell|dimension)\b([^>]*)")
"""The tags `_scan_sheet` reads one by one."""
_CELL_TAG = re.compile(rb"<(?!(?:[A-Za-z_][\w.-]*:)?(?:row|sheetData|mergeCell|dimension)\b)(?:[A-Za-z_][\w.-]*:)?c\b")
"""A cell's opening tag (`<c …>`, `<x:c …>`): the tags `_scan_sheet` counts (a prefixed `<c:row>` is a row)."""
_PLAIN_TOKEN = re.compile(rb"<(/?)(row|sheetData|mergeCell|dimension)\b([^>]*)")
_PLAIN_CELL_TAG = re.compile(rb"<c[ \t\r\n/>]")
"""`_SHEET_TOKEN` and `_CELL_TAG` for a part that declares no namespace prefix (`xmlns:…`): the same
tags, found several times faster (the tag names start right after the `<`)."""
_SCAN_BLOCK = 1 << 20
_TOKEN_MARGIN = 512
"""Bytes kept from one chunk of a sheet to the next so that a tag cut by the chunk is read whole."""


class WorkbookTooLarge(Exception):
    """The workbook exceeds a cap checked while streaming; `reason` is the French message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _count(number: int) -> str:
    """`705280` as `705 280`."""
    return f"{number:,}".replace(",", " ")


def max_cells(bulk: BulkSettings) -> int:
    """Most cells (and shared strings) a workbook of at most `bulk.max_rows` rows may hold."""
    return (bulk.max_rows + HEADER_SEARCH_ROWS + BLANK_ROWS_SLACK) * MAX_COLUMNS


def max_text_chars(bulk: BulkSettings) -> int:
    """Most shared-string characters a workbook of at most `bulk.max_rows` rows may hold."""
    return (bulk.max_rows + HEADER_SEARCH_ROWS + BLANK_ROWS_SLACK) * TEXT_CHARS_PER_ROW


def _too_many_cells(bulk: BulkSettings) -> WorkbookTooLarge:
    return WorkbookTooLarge(
        f"Le classeur contient plus de {_count(max_cells(bulk))} cellules, bien plus que ses "
        f"{_count(bulk.max_rows)} lignes au plus n'en demandent : il est refusé par sécurité. "
        "Supprimez les colonnes et lignes inutiles ou découpez-le en plusieurs fichiers."
    )


def _cell_too_long(where: str) -> WorkbookTooLarge:
    return WorkbookTooLarge(
        f"{where} contient plus de {_count(MAX_CELL_CHARS)} caractères (limite d'Excel) : "
        "le classeur est refusé par sécurité."
    )


@dataclass(frozen=True)
class Column:
    """One expected column of the Habilitations sheet."""

    key: str
    label: str
    width: int
    help: str
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("nom", "Nom", 24, "Nom de famille (obligatoire)."),
    Column("prenom", "Prénom", 20, "Prénom (obligatoire)."),
    Column("email", "E-mail", 34, "Adresse e-mail professionnelle (obligatoire, unique).", ("courriel", "mail")),
    Column(
        "phone", "Téléphone", 18,
        "Numéro de téléphone (facultatif), par exemple 01 23 45 67 89, 0692 03 67 28 ou +687 41 23 45.", ("tel",),
    ),
    Column("role", "Rôle", 24, "Administrateur délégué ou Gestionnaire (liste déroulante)."),
    Column("profile", "Profil", 16, "Consultation, Création, Validation ou Clôture (liste déroulante)."),
    Column(
        "siret", "SIRET de l'établissement", 26,
        "SIRET de l'établissement de rattachement (liste déroulante) ; vide = siège.",
        ("siret", "siretetablissement", "etablissement"),
    ),
    Column("service", "Service", 28, "Service ou équipe (facultatif)."),
)
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
BULK_ROLES = {Role.DELEGATED_ADMIN: "Administrateur délégué", Role.GESTIONNAIRE: "Gestionnaire"}


def header_key(text: str) -> str:
    """A header or choice compared without case, accents, spaces, hyphens, underscores or apostrophes."""
    return re.sub(r"[\s\-_'’.]", "", fold(text))


_HEADER_LOOKUP: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.label, _column.key, *_column.aliases):
        _HEADER_LOOKUP[header_key(_name)] = _column.key
_ROLE_LOOKUP = {header_key(label): role for role, label in BULK_ROLES.items()}
_ROLE_LOOKUP.update({header_key(role.value): role for role in BULK_ROLES})
_REFUSED_ROLES = {header_key(label) for label in ("Administrateur principal", "Opérateur CDC", "Opérateur")}
_PROFILE_LOOKUP = {header_key(profile.label): profile for profile in Profile}
_PROFILE_LOOKUP.update({header_key(profile.value): profile for profile in Profile})


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem: Excel row (0 for the whole file), column label, value as typed, French reason."""

    row: int
    column: str
    value: str
    reason: str

    def describe(self) -> str:
        if self.row == 0:
            return self.reason
        where = f"Ligne {self.row}"
        if self.column:
            where += f", colonne « {self.column} »"
        if self.value:
            where += f", valeur « {self.value} »"
        return f"{where} : {self.reason}"


@dataclass(frozen=True, slots=True)
class BulkRow:
    """One valid row, with clean values (establishment still given by SIRET: the service resolves it)."""

    row: int
    nom: str
    prenom: str
    email: str
    phone: str
    role: Role
    profile: Profile
    siret: str
    service: str


@dataclass
class ParsedWorkbook:
    """What the file holds: valid rows, errors (row 0 = whole file) and notices."""

    filename: str
    sha256: str = ""
    size: int = 0
    rows: list[BulkRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    data_rows: int = 0

    def file_error(self, reason: str) -> None:
        self.errors.append(RowError(0, "", "", reason))


def display_value(value: Any, limit: int = 40) -> str:
    """A cell value as shown in a report: control and bidi characters made visible (`cpf_tui.text.display`),
    long values shortened."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.strftime("%d/%m/%Y %H:%M")
    elif isinstance(value, date):
        text = value.strftime("%d/%m/%Y")
    else:
        text = str(value)
    text = display(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".replace(".", ",") + " Mo"


def _check_container(path: Path, parsed: ParsedWorkbook, bulk: BulkSettings) -> zipfile.ZipFile | None:
    """Size, signature, password protection, zip integrity and zip-bomb guard; None when refused."""
    try:
        if not path.is_file():
            parsed.file_error(f"Fichier introuvable : {display(path)}")
            return None
        parsed.size = path.stat().st_size
        if parsed.size > bulk.max_bytes:
            parsed.file_error(
                f"Fichier trop volumineux ({_megabytes(parsed.size)}, maximum {_megabytes(bulk.max_bytes)}) : "
                "découpez-le en plusieurs fichiers."
            )
            return None
        with path.open("rb") as handle:
            content = handle.read(bulk.max_bytes + 1)
    except OSError as exc:
        parsed.file_error(f"Fichier illisible : {display(path)} ({exc.strerror or exc}).")
        return None
    parsed.size = len(content)
    if parsed.size == 0:
        parsed.file_error("Le fichier est vide (0 octet) : ce n'est pas un classeur Excel .xlsx.")
        return None
    if parsed.size > bulk.max_bytes:
        parsed.file_error(
            f"Fichier trop volumineux ({_megabytes(parsed.size)}, maximum {_megabytes(bulk.max_bytes)}) : "
            "découpez-le en plusieurs fichiers."
        )
        return None
    parsed.sha256 = hashlib.sha256(content).hexdigest()
    head = content[:8]
    if head.startswith(OLE_SIGNATURE):
        if ENCRYPTION_INFO in content:
            parsed.file_error(
                "Le classeur est protégé par un mot de passe : enregistrez-le sans mot de passe "
                "(Fichier > Informations > Protéger le classeur) puis importez-le de nouveau."
            )
        else:
            parsed.file_error(
                "Ce fichier est au format Excel 97-2003 (.xls) : enregistrez-le au format "
                "« Classeur Excel (.xlsx) » puis importez-le de nouveau."
            )
        return None
    if not head.startswith(ZIP_SIGNATURE):
        parsed.file_error("Ce fichier n'est pas un classeur Excel .xlsx : utilisez le modèle « Habilitation en masse ».")
        return None
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError, ValueError):
        parsed.file_error("Le classeur est corrompu ou incomplet (archive .xlsx illisible) : enregistrez-le de nouveau.")
        return None
    members = archive.infolist()
    names = {member.filename for member in members}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        archive.close()
        parsed.file_error("Ce fichier n'est pas un classeur Excel .xlsx : utilisez le modèle « Habilitation en masse ».")
        return None
    declared = sum(member.file_size for member in members)
    bomb = len(members) > MAX_ZIP_MEMBERS or declared > bulk.max_bytes * UNCOMPRESSED_FACTOR or any(
        member.file_size > RATIO_FLOOR_BYTES and member.file_size > MAX_MEMBER_RATIO * max(member.compress_size, 1)
        for member in members
    )
    if bomb:
        archive.close()
        parsed.file_error(
            "Le classeur est anormalement compressé (contenu décompressé de "
            f"{_megabytes(declared)}) : il est refusé par sécurité."
        )
        return None
    return archive


def _find_sheet(workbook: Any, parsed: ParsedWorkbook) -> Any:
    by_key = {header_key(ws.title): ws for ws in workbook.worksheets}
    sheet = by_key.get(header_key(SHEET_NAME))
    if sheet is None and len(workbook.worksheets) == 1:
        sheet = workbook.worksheets[0]
    if sheet is None:
        parsed.file_error(f"Feuille « {SHEET_NAME} » introuvable : utilisez le modèle « Habilitation en masse ».")
    return sheet


@dataclass
class _SheetScan:
    """What `_scan_sheet` found: merged-cell ranges, and whether a `<dimension>` tag comes after the
    start of `<sheetData>` (openpyxl may then size the sheet differently from `_sheet_size`)."""

    merged: list[str] = field(default_factory=list)
    late_dimension: bool = False


def _scan_sheet(archive: zipfile.ZipFile, sheet_path: str, bulk: BulkSettings) -> _SheetScan:
    """One streaming pass over a sheet part's bytes, before it is parsed: its merged-cell ranges
    (read-only mode does not load them), and the caps that keep the parse bounded in time and memory
    (cells in all, cells and bytes per row: the parser builds a whole row before reading its cells).
    Raises WorkbookTooLarge.

    Rows, `sheetData`, `mergeCell` and `dimension` tags are found one by one; the cells between two of
    them are counted at once (`_CELL_TAG`), the same tags as one scan of every tag would count."""
    limit_cells = max_cells(bulk)
    scan = _SheetScan()
    ranges = scan.merged
    data_started = False
    cells = row_cells = 0
    row_start: int | None = None
    offset = 0
    tail = b""
    prefixed = False
    cell_tags = _CELL_TAG

    def row_ended(at: int) -> None:
        if row_start is not None and at - row_start > MAX_ROW_BYTES:
            raise WorkbookTooLarge(
                f"Une ligne du classeur occupe plus de {MAX_ROW_BYTES // (1024 * 1024)} Mo : "
                "le classeur est refusé par sécurité."
            )

    def counted(window: bytes, start: int, end: int) -> None:
        """Add the cell tags of `window[start:end]` (which ends before a tag or at the window's end)."""
        nonlocal cells, row_cells
        found = len(cell_tags.findall(window, start, end))
        if not found:
            return
        # Which cap a tag by tag count would pass first: the cells in all on a tie.
        if cells + found > limit_cells and limit_cells - cells <= MAX_CELLS_PER_ROW - row_cells:
            raise _too_many_cells(bulk)
        if row_cells + found > MAX_CELLS_PER_ROW:
            raise WorkbookTooLarge(
                f"Une ligne du classeur contient plus de {_count(MAX_CELLS_PER_ROW)} cellules : "
                "le classeur est refusé par sécurité."
            )
        cells += found
        row_cells += found

    with archive.open(sheet_path.lstrip("/")) as stream:
        while True:
            chunk = stream.read(_SCAN_BLOCK)
            final = not chunk
            window = tail + chunk
            # Without any prefix declared so far, no tag name has one (`xml:` names no sheet tag): the
            # plain patterns. A declaration is seen at the latest in the window of the first tag it names.
            prefixed = prefixed or b"xmlns:" in window
            tokens, cell_tags = (_SHEET_TOKEN, _CELL_TAG) if prefixed else (_PLAIN_TOKEN, _PLAIN_CELL_TAG)
            usable = len(window) if final else len(window) - _TOKEN_MARGIN
            done = 0
            for match in tokens.finditer(window):
                if match.start() >= usable:
                    break
                counted(window, done, match.start())
                done = match.end()
                closing, name = match.group(1), match.group(2)
                if name == b"row":
                    if not closing:
                        row_ended(offset + match.start())
                        row_start, row_cells = offset + match.start(), 0
                elif name == b"sheetData":
                    if closing:
                        row_ended(offset + match.start())
                        row_start = None
                    else:
                        data_started = True
                elif name == b"dimension":
                    scan.late_dimension = scan.late_dimension or data_started
                elif not closing:
                    ref = _MERGE_REF.search(match.group(3))
                    if ref:
                        ranges.append(ref.group(1).decode("ascii"))
            if final:
                counted(window, done, len(window))
                row_ended(offset + len(window))
                return scan
            # The cells up to the last tag that starts near the end of the usable part: that tag is
            # read whole with the next block.
            cut = max(done, usable)
            if usable > done:
                last_tag = window.rfind(b"<", max(done, usable - _TOKEN_MARGIN), usable)
                cut = cut if last_tag == -1 else last_tag
            counted(window, done, cut)
            tail = window[cut:]
            offset += cut


def _scan_shared_strings(stream: Any, bulk: BulkSettings) -> None:
    """Count the shared strings of a workbook while streaming them, before openpyxl loads the whole
    table in memory: their number, their characters in all and each one's length are capped
    (entities are counted expanded). Raises WorkbookTooLarge."""
    from xml.parsers import expat

    limit_strings, limit_chars = max_cells(bulk), max_text_chars(bulk)
    state = [0, 0, 0]  # strings, characters in all, characters of the current string

    def start(name: str, _attributes: Any) -> None:
        if name == "si" or name.endswith(":si"):
            state[0] += 1
            state[2] = 0
            if state[0] > limit_strings:
                raise WorkbookTooLarge(
                    f"Le classeur contient plus de {_count(limit_strings)} textes distincts, bien plus que ses "
                    f"{_count(bulk.max_rows)} lignes au plus n'en demandent : il est refusé par sécurité."
                )

    def text(data: str) -> None:
        size = len(data)
        state[1] += size
        state[2] += size
        if state[2] > MAX_CELL_CHARS:
            raise _cell_too_long(f"Le texte partagé n° {_count(state[0])}")
        if state[1] > limit_chars:
            raise WorkbookTooLarge(
                f"Le classeur contient plus de {_count(limit_chars)} caractères de texte, bien plus que ses "
                f"{_count(bulk.max_rows)} lignes au plus n'en demandent : il est refusé par sécurité."
            )

    parser = expat.ParserCreate()
    parser.buffer_text = False
    parser.StartElementHandler = start
    parser.CharacterDataHandler = text
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


NUMBER_READERS = {"phone": validation.phone_from_number, "siret": validation.siret_from_number}
"""Columns whose number cells are read back (a General-format cell turns `0612341056` into 612341056)."""


def _cell_text(cell: Any, column: Column, row: int, parsed: ParsedWorkbook) -> str | None:
    """The text of a cell, or None (error recorded) when it is a formula, a date, an error, or a number
    outside the phone and SIRET columns (or one these cannot read back unambiguously)."""
    value = cell.value
    if value is None:
        return ""
    kind = cell.data_type
    if kind == "s" and type(value) is str:
        return value  # text, the usual case (what the checks below return for it)
    label = column.label
    if kind == "f":
        parsed.errors.append(
            RowError(row, label, display_value(value), "formule interdite : saisissez la valeur elle-même.")
        )
        return None
    if kind == "e":
        parsed.errors.append(RowError(row, label, display_value(value), "valeur d'erreur Excel."))
        return None
    if isinstance(value, (datetime, date, time, timedelta)):
        parsed.errors.append(
            RowError(row, label, display_value(value), "une date a été saisie là où du texte est attendu.")
        )
        return None
    if column.key in NUMBER_READERS and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return NUMBER_READERS[column.key](value, label)
        except ValidationError as exc:
            parsed.errors.append(RowError(row, label, display_value(value), _reason(exc, label)))
            return None
    if isinstance(value, bool) or not isinstance(value, str):
        parsed.errors.append(
            RowError(
                row, label, display_value(value),
                "un nombre a été saisi là où du texte est attendu : mettez la cellule au format Texte.",
            )
        )
        return None
    return str(value)


def _reason(exc: ValidationError, label: str) -> str:
    prefix = f"{label} : "
    return exc.message[len(prefix) :] if exc.message.startswith(prefix) else exc.message


@dataclass(frozen=True)
class _Refused:
    """A memoised validation failure (its French reason)."""

    reason: str


REPEATED_KEYS = frozenset({"nom", "prenom", "role", "profile", "siret", "service"})
"""Columns whose values repeat from row to row: their checks are memoised for the file."""


def _check_row(
    row: int, texts: dict[str, str], parsed: ParsedWorkbook, memo: dict[tuple[str, str], Any]
) -> BulkRow | None:
    """Validate one row's texts; record every error of the row; the clean row when valid."""
    clean: dict[str, Any] = {}
    ok = True

    def run(key: str, check: Any) -> None:
        nonlocal ok
        column = COLUMN_BY_KEY[key]
        memo_key = (key, texts[key])
        outcome = memo.get(memo_key, memo) if key in REPEATED_KEYS else memo
        if outcome is memo:
            try:
                outcome = check(texts[key], column.label)
            except ValidationError as exc:
                outcome = _Refused(_reason(exc, column.label))
            if key in REPEATED_KEYS:
                memo[memo_key] = outcome
        if isinstance(outcome, _Refused):
            ok = False
            parsed.errors.append(RowError(row, column.label, display_value(clean_line(texts[key])), outcome.reason))
        else:
            clean[key] = outcome

    run("nom", validation.validate_person_name)
    run("prenom", validation.validate_person_name)
    run("email", validation.validate_email)
    run("phone", lambda value, label: validation.validate_phone(value, label, required=False))
    run("role", _parse_role)
    run("profile", _parse_profile)
    run("siret", lambda value, label: validation.validate_siret(value, label) if clean_line(value) else "")
    run("service", lambda value, label: validation.validate_text(value, label, max_length=200, required=False))
    if not ok:
        return None
    role = clean["role"]
    profile = Profile.CLOTURE if role == Role.DELEGATED_ADMIN else clean["profile"]
    if role == Role.GESTIONNAIRE and profile is None:
        label = COLUMN_BY_KEY["profile"].label
        parsed.errors.append(RowError(row, label, "", "profil obligatoire pour un gestionnaire."))
        return None
    return BulkRow(
        row=row, nom=clean["nom"], prenom=clean["prenom"], email=clean["email"], phone=clean["phone"],
        role=role, profile=profile, siret=clean["siret"], service=clean["service"],
    )


def _parse_role(value: str, label: str) -> Role:
    key = header_key(clean_line(value))
    if not key:
        raise ValidationError(f"{label} : champ obligatoire (Administrateur délégué ou Gestionnaire).")
    if key in _REFUSED_ROLES:
        raise ValidationError(
            f"{label} : ce rôle ne peut pas être attribué par fichier (Administrateur délégué ou Gestionnaire)."
        )
    if key not in _ROLE_LOOKUP:
        raise ValidationError(f"{label} : rôle inconnu (Administrateur délégué ou Gestionnaire).")
    return _ROLE_LOOKUP[key]


def _parse_profile(value: str, label: str) -> Profile | None:
    key = header_key(clean_line(value))
    if not key:
        return None
    if key not in _PROFILE_LOOKUP:
        raise ValidationError(f"{label} : profil inconnu (Consultation, Création, Validation ou Clôture).")
    return _PROFILE_LOOKUP[key]


def _map_header(header_cells: list[Any], header_row: int, parsed: ParsedWorkbook) -> dict[str, int] | None:
    positions: dict[str, int] = {}
    for index, cell in enumerate(header_cells):
        raw = cell.value
        if raw is None or (isinstance(raw, str) and not clean_line(raw)):
            continue
        name = clean_line(str(raw))
        key = _HEADER_LOOKUP.get(header_key(name))
        if key is None:
            parsed.notices.append(f"Colonne « {display_value(name)} » non reconnue : elle est ignorée.")
        elif key in positions:
            parsed.errors.append(
                RowError(header_row, COLUMN_BY_KEY[key].label, display_value(name), "colonne en double dans l'en-tête.")
            )
        else:
            positions[key] = index
    missing = [column.label for column in COLUMNS if column.key not in positions]
    if missing:
        parsed.file_error(
            "Colonne(s) manquante(s) ou renommée(s) dans l'en-tête (ligne "
            f"{header_row}) : {', '.join(f'« {m} »' for m in missing)}. Utilisez le modèle sans modifier l'en-tête."
        )
        return None
    if any(error.row == header_row for error in parsed.errors):
        return None
    return positions


def _is_blank(cell: Any) -> bool:
    value = cell.value
    return value is None or (isinstance(value, str) and not clean_line(value))


def _all_blank(cells: Any) -> bool:
    """`all(_is_blank(cell) for cell in cells)`."""
    for cell in cells:
        value = cell.value
        if value is not None and (not isinstance(value, str) or clean_line(value)):
            return False
    return True


def parse_workbook(path: str | Path, bulk: BulkSettings | None = None, *,
                   rows: list[BulkRow] | None = None) -> ParsedWorkbook:
    """Check a workbook from the container to every cell; errors are collected, never raised.

    `rows`: the list the checked rows are appended to (`bulk.CheckedRows` keeps them compressed).
    """
    bulk = bulk or BulkSettings()
    path = Path(path)
    parsed = ParsedWorkbook(filename=display(path.name)) if rows is None else ParsedWorkbook(
        filename=display(path.name), rows=rows)
    archive = _check_container(path, parsed, bulk)
    if archive is None:
        return parsed
    try:
        _read_rows(archive, parsed, bulk)
    except WorkbookTooLarge as exc:
        parsed.rows.clear()
        parsed.file_error(exc.reason)
    except Exception:  # noqa: BLE001 - any failure inside openpyxl means a damaged workbook
        parsed.rows.clear()
        parsed.file_error("Le classeur est corrompu ou illisible : ouvrez-le dans Excel et enregistrez-le de nouveau.")
    finally:
        archive.close()
    return parsed


_LXML_OPTIONS: dict[str, Any] = dict(
    remove_comments=True, remove_pis=True, resolve_entities=False, no_network=True, huge_tree=True
)
"""lxml read like the standard library's parser that openpyxl uses: comments and processing instructions
dropped (their neighbouring texts joined), no entity resolution (see `_plain_xml`), no size limits."""
_HEAD_BYTES = 1 << 16
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_DECLARED_ENCODING = re.compile(rb"""<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_DIGITS = "0123456789"
_COLUMN_LETTERS = re.compile(r"[A-Z]{1,3}")


def _plain_xml(head: bytes) -> bool:
    """Whether a part whose first bytes are `head` is read by lxml (`_LXML_OPTIONS`) exactly as by
    openpyxl's parser (the standard library's expat): UTF-8, declared or by default, and no document
    type declaration (the only place where entities can be defined; one parser expands them, the
    other does not). Anything else is read by openpyxl itself."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    first = _FIRST_ELEMENT.search(head)
    if not head.startswith(b"<") or first is None:
        return False
    prolog = head[: first.start()]
    if b"<!DOCTYPE" in prolog:
        return False
    declared = _DECLARED_ENCODING.search(prolog)
    return declared is None or declared.group(1).lower() == b"utf-8"


def _part_is_plain(archive: Any, name: str) -> bool:
    with archive.open(name) as stream:
        return _plain_xml(stream.read(_HEAD_BYTES))


def _read_shared_strings(stream: Any) -> list[str]:
    """openpyxl's `read_string_table` with lxml: the same strings (`Text.from_tree(si).content` without
    `x005F_`), a plain `<si><t>…</t></si>` taken without building the Text object."""
    from lxml import etree
    from openpyxl.cell.text import Text
    from openpyxl.xml.constants import SHEET_MAIN_NS

    si_tag, t_tag, sst_tag = f"{{{SHEET_MAIN_NS}}}si", f"{{{SHEET_MAIN_NS}}}t", f"{{{SHEET_MAIN_NS}}}sst"
    strings: list[str] = []
    for _event, node in etree.iterparse(stream, events=("end",), tag=si_tag, **_LXML_OPTIONS):
        if len(node) == 1 and not node.attrib and node[0].tag == t_tag and not len(node[0]):
            text = node[0].text or ""
        else:
            text = Text.from_tree(node).content
        strings.append(text.replace("x005F_", ""))
        node.clear()
        parent = node.getparent()
        if parent is not None and parent.tag == sst_tag and parent.getparent() is None:
            while node.getprevious() is not None:  # strings already read: memory stays flat
                del parent[0]
    return strings


def _load_workbook(content: bytes, bulk: BulkSettings) -> Any:
    """`openpyxl.load_workbook(read_only=True, keep_links=False)`, the shared strings counted while
    streaming (`_scan_shared_strings`) before they are read (`_read_shared_strings`), and the sheets
    not sized while loading: `_read_rows` sizes them (openpyxl's `_get_size`), except the sheet read,
    which `_sheet_size` sizes without parsing it whole."""
    from openpyxl.packaging.relationship import get_dependents, get_rels_path
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet
    from openpyxl.xml.constants import SHARED_STRINGS

    class Sheet(ReadOnlyWorksheet):  # type: ignore[misc]
        def _get_size(self) -> None:
            """Sized later (`size`)."""

        def size(self) -> None:
            ReadOnlyWorksheet._get_size(self)

    class Reader(ExcelReader):  # type: ignore[misc]
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is None:
                return
            name = part.PartName[1:]
            with self.archive.open(name) as stream:
                _scan_shared_strings(stream, bulk)
            if not _part_is_plain(self.archive, name):
                super().read_strings()
                return
            with self.archive.open(name) as stream:
                self.shared_strings = _read_shared_strings(stream)

        def read_worksheets(self) -> None:
            # ExcelReader.read_worksheets in read-only mode, with sheets sized on demand.
            for sheet, rel in self.parser.find_sheets():
                if rel.target not in self.valid_files:
                    continue
                if "chartsheet" in rel.Type:
                    self.read_chartsheet(sheet, rel)
                    continue
                rels_path = get_rels_path(rel.target)
                if rels_path in self.valid_files:
                    get_dependents(self.archive, rels_path)
                worksheet = Sheet(self.wb, sheet.name, rel.target, self.shared_strings)
                worksheet.sheet_state = sheet.state
                self.wb._sheets.append(worksheet)  # noqa: SLF001

    reader = Reader(io.BytesIO(content), read_only=True, data_only=False, keep_links=False)
    reader.read()
    return reader.wb


def _sheet_size(archive: zipfile.ZipFile, sheet: Any) -> bool:
    """Size the sheet to read as openpyxl does (`parse_dimensions`: its `<dimension>` when it comes
    before `<sheetData>`) without parsing the rest. Returns False when it has none: openpyxl then
    parsed the whole sheet while loading, so `_well_formed` is checked."""
    from lxml import etree
    from openpyxl.worksheet.dimensions import SheetDimension
    from openpyxl.xml.constants import SHEET_MAIN_NS

    dimension, data = f"{{{SHEET_MAIN_NS}}}dimension", f"{{{SHEET_MAIN_NS}}}sheetData"
    with archive.open(sheet._worksheet_path) as source:  # noqa: SLF001
        for _event, element in etree.iterparse(source, events=("start",), tag=(dimension, data), **_LXML_OPTIONS):
            if element.tag == data:
                return False
            sheet._min_column, sheet._min_row, sheet._max_column, sheet._max_row = (  # noqa: SLF001
                SheetDimension.from_tree(element).boundaries
            )
            return True
    return False


_DATA_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?sheetData\s*>")
_BLOCK = 1 << 20
"""Bytes read at a time by `_well_formed`."""


def _well_formed(archive: zipfile.ZipFile, name: str) -> None:
    """Parse a sheet part (nothing built) up to the end of its `<sheetData>`, or whole without one, as
    openpyxl's `parse_dimensions` does while loading a sheet without `<dimension>`; raises on malformed
    XML. (openpyxl's parser reads 16 KiB at a time and may also fail on an error just after
    `</sheetData>` in the same block; such damage shows when the rows are read.)"""
    from lxml import etree

    class Nothing:
        def close(self) -> None:
            return None

    parser = etree.XMLParser(target=Nothing(), **_LXML_OPTIONS)
    fed = b""  # the last bytes fed, for an end tag cut between two blocks
    with archive.open(name) as stream:
        while chunk := stream.read(_BLOCK):
            window = fed + chunk
            end = _DATA_END.search(window)
            if end is not None:
                parser.feed(window[len(fed) : end.end()])
                return
            parser.feed(chunk)
            fed = window[-64:]
    parser.close()


def _choose_sheet(workbook: Any) -> Any:
    """The sheet `_find_sheet` selects (None when it finds none)."""
    by_key = {header_key(ws.title): ws for ws in workbook.worksheets}
    sheet = by_key.get(header_key(SHEET_NAME))
    if sheet is None and len(workbook.worksheets) == 1:
        sheet = workbook.worksheets[0]
    return sheet


def _read_rows(archive: zipfile.ZipFile, parsed: ParsedWorkbook, bulk: BulkSettings) -> None:
    workbook = _load_workbook(cast(io.BytesIO, archive.fp).getvalue(), bulk)
    try:
        chosen = _choose_sheet(workbook)
        for worksheet in workbook.worksheets:
            if worksheet is not chosen:
                worksheet.size()
        fast = False
        if chosen is not None:
            path = chosen._worksheet_path  # noqa: SLF001 - part name of the sheet
            fast = _part_is_plain(archive, path)
            if not fast:
                chosen.size()
            elif not _sheet_size(archive, chosen):
                _well_formed(archive, path)  # openpyxl parsed it whole while loading
        sheet = _find_sheet(workbook, parsed)
        if sheet is None:
            return
        scan = _scan_sheet(archive, sheet._worksheet_path, bulk)  # noqa: SLF001
        if fast and scan.late_dimension:
            # A <dimension> inside or after <sheetData>: sized by openpyxl, read by openpyxl.
            sheet.reset_dimensions()
            sheet.size()
            fast = False
        if scan.merged:
            shown = ", ".join(scan.merged[:5]) + (" …" if len(scan.merged) > 5 else "")
            parsed.file_error(f"Le classeur contient des cellules fusionnées ({shown}) : défusionnez-les.")
            return
        _read_sheet(sheet, parsed, bulk, fast=fast)
    finally:
        workbook.close()


class _Cell:
    """A cell as `_read_sheet` reads it: openpyxl's value and data type."""

    __slots__ = ("data_type", "value")

    def __init__(self, value: Any, data_type: str) -> None:
        self.value = value
        self.data_type = data_type


_EMPTY = _Cell(None, "n")


def _sheet_parser(source: Any, sheet: Any, fast: bool = False) -> Any:
    """openpyxl's sheet parser, with a shortcut for inline strings and the cell-length cap
    (`MAX_CELL_CHARS`, WorkbookTooLarge); with `fast`, the sheet is parsed by lxml and the common cells
    are read without openpyxl (`parse_rows`), each giving the value and data type openpyxl gives it.

    A plain inline string (`<c t="inlineStr"><is><t>texte</t></is></c>`, what openpyxl and several
    generators write) gets the value openpyxl gives it (`Text.from_tree(is).content`) without building
    the Text object, the slowest step of reading such a file; anything else (rich text runs, phonetic
    text, formulas) goes through openpyxl's own `parse_cell`.
    """
    from openpyxl.utils import column_index_from_string, coordinate_to_tuple
    from openpyxl.worksheet import _reader
    from openpyxl.worksheet._reader import FORMULA_TAG, INLINE_STRING, WorkSheetParser
    from openpyxl.xml.constants import SHEET_MAIN_NS

    text_tag = f"{{{SHEET_MAIN_NS}}}t"
    cell_tag, value_tag, row_tag, data_tag = (
        _reader.CELL_TAG, _reader.VALUE_TAG, _reader.ROW_TAG, _reader.DATA_TAG
    )
    cast_number = _reader._cast_number  # noqa: SLF001 - openpyxl's own conversion
    columns: dict[str, int] = {}

    def column_of(letters: str) -> int | None:
        column = columns.get(letters)
        if column is None and _COLUMN_LETTERS.fullmatch(letters):
            column = columns[letters] = column_index_from_string(letters)
        return column

    class Parser(WorkSheetParser):  # type: ignore[misc]  # openpyxl ships no types
        row_counter: int
        col_counter: int

        def parse_cell(self, element: Any) -> dict[str, Any]:
            if element.get("t") != "inlineStr" or (not self.data_only and element.find(FORMULA_TAG) is not None):
                return self.checked(super().parse_cell(element))
            child = element.find(INLINE_STRING)
            if child is None or len(child) != 1 or child[0].tag != text_tag or len(child[0]):
                return self.checked(super().parse_cell(element))
            style_id = element.get("s", 0)
            if style_id:
                style_id = int(style_id)
            coordinate = element.get("r")
            if coordinate:
                row, column = coordinate_to_tuple(coordinate)
                self.col_counter = column
            else:
                self.col_counter += 1
                row, column = self.row_counter, self.col_counter
            value = child[0].text or ""
            if len(value) > MAX_CELL_CHARS:
                raise _cell_too_long(f"La cellule {element.get('r') or f'de la ligne {row}'}")
            return {"row": row, "column": column, "value": value, "data_type": "s", "style_id": style_id}

        @staticmethod
        def checked(cell: dict[str, Any]) -> dict[str, Any]:
            value = cell["value"]
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise _cell_too_long(f"La cellule de la ligne {cell['row']}")
            return cell

        def parse_rows(self) -> Iterator[tuple[int, list[tuple[int, _Cell]]]]:
            """`parse()` with lxml (the same elements handled in the same order), each row given as
            (column, cell) pairs."""
            from lxml import etree

            handlers: dict[str, Any] = {
                _reader.COL_TAG: self.parse_column_dimensions, _reader.PROT_TAG: self.parse_sheet_protection,
                _reader.EXT_TAG: self.parse_extensions, _reader.CF_TAG: self.parse_formatting,
                _reader.LEGACY_TAG: self.parse_legacy, _reader.ROW_BREAK_TAG: self.parse_row_breaks,
                _reader.COL_BREAK_TAG: self.parse_col_breaks, _reader.CUSTOM_VIEWS_TAG: self.parse_custom_views,
            }
            properties: dict[str, tuple[str, Any]] = {
                _reader.PRINT_TAG: ("print_options", _reader.PrintOptions),
                _reader.MARGINS_TAG: ("page_margins", _reader.PageMargins),
                _reader.PAGE_TAG: ("page_setup", _reader.PrintPageSetup),
                _reader.HEADER_TAG: ("HeaderFooter", _reader.HeaderFooter),
                _reader.FILTER_TAG: ("auto_filter", _reader.AutoFilter),
                _reader.VALIDATION_TAG: ("data_validations", _reader.DataValidationList),
                _reader.PROPERTIES_TAG: ("sheet_properties", _reader.WorksheetProperties),
                _reader.VIEWS_TAG: ("views", _reader.SheetViewList),
                _reader.FORMAT_TAG: ("sheet_format", _reader.SheetFormatProperties),
                _reader.SCENARIOS_TAG: ("scenarios", _reader.ScenarioList),
                _reader.TABLE_TAG: ("tables", _reader.TablePartList),
                _reader.HYPERLINK_TAG: ("hyperlinks", _reader.HyperlinkList),
                _reader.MERGE_TAG: ("merged_cells", _reader.MergeCells),
            }
            tags = (row_tag, *handlers, *properties)
            for _event, element in etree.iterparse(self.source, events=("end",), tag=tags, **_LXML_OPTIONS):
                tag = element.tag
                if tag == row_tag:
                    row = self.fast_row(element)
                    element.clear()
                    parent = element.getparent()
                    if parent is not None and parent.tag == data_tag and parent.getparent() is not None \
                            and parent.getparent().getparent() is None:
                        while element.getprevious() is not None:  # rows already read: memory stays flat
                            del parent[0]
                    yield row
                elif tag in handlers:
                    handlers[tag](element)
                    element.clear()
                else:
                    name, kind = properties[tag]
                    setattr(self, name, kind.from_tree(element))
                    element.clear()

        def fast_row(self, row: Any) -> tuple[int, list[tuple[int, _Cell]]]:
            """openpyxl's `parse_row`, cells read by `fast_cell`."""
            number = row.get("r")
            if number is None:
                self.row_counter += 1
            else:
                try:
                    self.row_counter = int(number)
                except ValueError:
                    value = float(number)
                    if not value.is_integer():
                        raise ValueError(f"{number} is not a valid row number") from None
                    self.row_counter = int(value)
            self.col_counter = 0
            return self.row_counter, [self.fast_cell(element) for element in row]

        def slow_cell(self, element: Any) -> tuple[int, _Cell]:
            cell = self.parse_cell(element)
            return cell["column"], _Cell(cell["value"], cell["data_type"])

        def fast_cell(self, element: Any) -> tuple[int, _Cell]:
            """`parse_cell` for a cell holding nothing, one value or one plain inline string (anything
            else goes to `parse_cell`): the same column, value and data type."""
            if element.tag != cell_tag:
                return self.slow_cell(element)
            count = len(element)
            child = element[0] if count == 1 else None
            if count > 1 or (child is not None and child.tag != value_tag and child.tag != INLINE_STRING):
                return self.slow_cell(element)
            data_type = element.get("t", "n")
            coordinate = element.get("r")
            column = 0
            if coordinate:
                letters = coordinate.rstrip(_DIGITS)
                digits = coordinate[len(letters):]
                known = column_of(letters)
                if known is None or not digits.isascii() or not digits.isdigit():
                    return self.slow_cell(element)
                column = known
            style_id = element.get("s", 0)
            if style_id:
                style_id = int(style_id)
            if child is None:
                value: Any = None
            elif child.tag == INLINE_STRING:
                if data_type != "inlineStr":
                    return self.slow_cell(element)
                if len(child) != 1 or child[0].tag != text_tag or len(child[0]):
                    return self.slow_cell(element)
                value, data_type = child[0].text or "", "s"
                if len(value) > MAX_CELL_CHARS:
                    where = coordinate or f"de la ligne {self.row_counter}"
                    raise _cell_too_long(f"La cellule {where}")
            else:
                if data_type == "inlineStr":
                    return self.slow_cell(element)
                value = child.text or None
                if value is not None:
                    if data_type == "n":
                        if style_id in self.date_formats:
                            return self.slow_cell(element)
                        value = cast_number(value)
                    elif data_type == "s":
                        value = self.shared_strings[int(value)]
                    elif data_type == "b":
                        value = bool(int(value))
                    elif data_type == "str":
                        data_type = "s"
                    elif data_type == "d":
                        return self.slow_cell(element)
                    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                        row = int(digits) if coordinate else self.row_counter
                        raise _cell_too_long(f"La cellule de la ligne {row}")
            if coordinate:
                self.col_counter = column
            else:
                self.col_counter += 1
                column = self.col_counter
            return column, _Cell(value, data_type)

    workbook = sheet.parent
    return Parser(
        source, sheet._shared_strings, data_only=workbook.data_only, epoch=workbook.epoch,  # noqa: SLF001
        date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats,  # noqa: SLF001
    )


def _iter_rows(sheet: Any, max_col: int | None, fast: bool | None = None) -> Any:
    """`sheet.iter_rows(max_col=max_col)` of a read-only sheet (same rows, cells with the same values
    and data types), read by `_sheet_parser` (with lxml when `fast`; by default when the sheet's XML
    is plain, `_plain_xml`)."""
    max_col = max_col or sheet.max_column
    max_row = sheet.max_row
    empty_row = (_EMPTY,) * max_col if max_col is not None else []
    counter = 1
    index = 1
    if fast is None:
        with sheet._get_source() as source:  # noqa: SLF001
            fast = _plain_xml(source.read(_HEAD_BYTES))
    with sheet._get_source() as source:  # noqa: SLF001
        parser = _sheet_parser(source, sheet, fast)
        rows = parser.parse_rows() if fast else (
            (number, [(cell["column"], _Cell(cell["value"], cell["data_type"])) for cell in cells])
            for number, cells in parser.parse()
        )
        for index, cells in rows:
            if max_row is not None and index > max_row:
                break
            for _ in range(counter, index):  # rows missing from the XML
                counter += 1
                yield empty_row
            if counter <= index:
                counter += 1
                # openpyxl's ReadOnlyWorksheet._get_row
                if not cells and not max_col:
                    yield ()
                    continue
                width = max_col or cells[-1][0]
                row = [_EMPTY] * width
                for column, cell in cells:
                    if 1 <= column <= width:
                        row[column - 1] = cell
                yield tuple(row)
    if max_row is not None and max_row < index:
        for _ in range(counter, max_row + 1):
            yield empty_row


def _read_sheet(sheet: Any, parsed: ParsedWorkbook, bulk: BulkSettings, *, fast: bool = False) -> None:
    width = sheet.max_column
    rows = _iter_rows(sheet, min(width, MAX_COLUMNS) if width else None, fast)
    positions: dict[str, int] | None = None
    header_row = 0
    for row_number, cells in enumerate(rows, start=1):
        if not any(not _is_blank(cell) for cell in cells):
            if row_number >= HEADER_SEARCH_ROWS:
                break
            continue
        header_row = row_number
        positions = _map_header(list(cells), row_number, parsed)
        break
    if header_row == 0:
        parsed.file_error(f"La feuille « {sheet.title} » est vide : aucun en-tête ni aucune ligne.")
        return
    if positions is None:
        return
    seen_emails: dict[str, int] = {}
    memo: dict[tuple[str, str], Any] = {}
    email_label = COLUMN_BY_KEY["email"].label
    for row_number, cells in enumerate(rows, start=header_row + 1):
        if _all_blank(cells):
            if row_number - header_row > 2 * bulk.max_rows + BLANK_ROWS_SLACK:
                parsed.rows.clear()
                parsed.file_error(
                    f"Le fichier dépasse {bulk.max_rows} lignes : découpez-le en plusieurs fichiers."
                )
                return
            continue
        parsed.data_rows += 1
        if parsed.data_rows > bulk.max_rows:
            parsed.rows.clear()
            parsed.file_error(
                f"Le fichier dépasse {bulk.max_rows} lignes : découpez-le en plusieurs fichiers."
            )
            return
        texts: dict[str, str] = {}
        usable = True
        for key, index in positions.items():
            column = COLUMN_BY_KEY[key]
            if index >= len(cells):
                texts[key] = ""
                continue
            text = _cell_text(cells[index], column, row_number, parsed)
            if text is None:
                usable = False
                texts[key] = ""
            else:
                texts[key] = text
        if not usable:
            continue
        checked = _check_row(row_number, texts, parsed, memo)
        if checked is None:
            continue
        email_key = checked.email.casefold()
        if email_key in seen_emails:
            parsed.errors.append(
                RowError(
                    row_number, email_label, display_value(checked.email),
                    f"e-mail en double dans le fichier (déjà à la ligne {seen_emails[email_key]}).",
                )
            )
            continue
        seen_emails[email_key] = row_number
        parsed.rows.append(checked)
    if parsed.data_rows == 0:
        parsed.file_error(f"La feuille « {sheet.title} » ne contient aucune ligne sous l'en-tête.")
        return
    if bulk.min_rows and parsed.data_rows <= bulk.min_rows:
        parsed.file_error(
            f"Le fichier ne contient que {parsed.data_rows} ligne(s) : l'habilitation en masse est réservée aux "
            f"organismes de plus de {bulk.min_rows} personnes. Créez ces comptes un par un depuis l'écran "
            "de gestion des habilitations."
        )
