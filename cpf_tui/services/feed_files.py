"""Reading the CDC feed files (holders, yearly hours): streamed, hashed, every line checked in French.

A feed file is UTF-8 text without BOM, one header line, fields separated by `;`, no quoting. It is
read line by line with a bounded line length, so memory stays flat whatever the file size: a line
longer than `MAX_LINE_BYTES` is reported and skipped to its end without being kept. The checks of
one line use the project's field rules (`services.validation`, `validation.normalise_nir`); checks
across lines (duplicate NIR, unknown holder) are made by the database on the staging table.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple

from cpf_tui.errors import ValidationError
from cpf_tui.services import phone_prefixes
from cpf_tui.text import UNSAFE_INPUT, clean_line, fold, has_control_chars

MAX_LINE_BYTES = 4096
"""Longest accepted line (a holder line is at most about 3 000 bytes even in 4-byte UTF-8)."""
READ_BYTES = 1 << 18
"""The file is read by blocks of this size (hashed once each); lines are cut in the block."""
SEPARATOR = ";"
BOM = b"\xef\xbb\xbf"
FORMULA_START = ("=", "@")
"""A cell starting with these is a spreadsheet formula, whatever the column."""
SIGN_START = ("+", "-")
"""Also a formula start in text columns (a phone number may start with +, a count with -)."""
ABSURD_HOURS = 2496
"""Most hours one can work in a year under French law (48 h a week, 52 weeks): more is a wrong line."""
FULL_TIME_HOURS = 1607
"""Legal yearly working time of a full-time employee: hours worked are turned into a work ratio with it."""
OLDEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True)
class FeedColumn:
    """One column of a feed file: internal key and the header label (French)."""

    key: str
    label: str


HOLDER_COLUMNS = (
    FeedColumn("nir", "NIR"),
    FeedColumn("nom_naissance", "nom de naissance"),
    FeedColumn("nom_usage", "nom d'usage"),
    FeedColumn("prenoms", "prénoms"),
    FeedColumn("date_naissance", "date de naissance"),
    FeedColumn("email", "courriel"),
    FeedColumn("mobile", "téléphone"),
)
HOURS_COLUMNS = (
    FeedColumn("nir", "NIR"),
    FeedColumn("annee", "année"),
    FeedColumn("quotite", "quotité"),
    FeedColumn("heures", "heures travaillées"),
)
NUMERIC_KEYS = frozenset({"annee", "quotite", "heures"})
NO_SIGN_CHECK = NUMERIC_KEYS | {"mobile"}


@dataclass(frozen=True)
class LineError:
    """One problem of a file: line number (1 = header), column label, value as read, French reason."""

    line: int
    column: str
    value: str
    reason: str


class FileRefused(Exception):
    """The file as a whole cannot be read (encoding, BOM, header, empty): no line is looked at."""

    def __init__(self, error: LineError) -> None:
        super().__init__(error.reason)
        self.error = error


@dataclass
class Batch:
    """What one read of the file gave: staged rows, line errors, and where the reading is."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0
    eof: bool = False


LineParser = Callable[[int, list[str]], tuple[tuple[Any, ...] | None, list[LineError]]]
"""The check of one line by the rules, field by field: its staging row, or the errors of a bad line."""
FastLine = Callable[[int, str], "tuple[Any, ...] | None"]
"""The fast reading of one whole line (number, text): the row the rules would give, or None when it is not
certain (then the rules read the line and give its errors)."""


class LineCheck(NamedTuple):
    """How the lines of a feed are checked: the fast reading first (if any), then the rules."""

    parse: LineParser
    fast: FastLine | None = None


def header_line(columns: tuple[FeedColumn, ...]) -> str:
    """The expected header, as written in the documentation and the sample files."""
    return SEPARATOR.join(column.label for column in columns)


class FeedReader:
    """A feed file opened for streaming: bytes hashed as they are read, lines cut at MAX_LINE_BYTES."""

    def __init__(self, path: str | Path, columns: tuple[FeedColumn, ...]) -> None:
        self.path = Path(path).expanduser()
        self.columns = columns
        try:
            self.size = self.path.stat().st_size
            if self.path.is_dir():
                raise ValidationError(f"« {self.path.name} » est un dossier : choisissez un fichier .csv.")
            self._file: BinaryIO = self.path.open("rb")
        except FileNotFoundError:
            raise ValidationError(f"Fichier introuvable : {self.path}") from None
        except PermissionError:
            raise ValidationError(f"Lecture du fichier refusée : {self.path}") from None
        self._hash = hashlib.sha256()
        self.bytes_read = 0
        self.line_no = 0
        self._buffer = b""
        self._pos = 0
        self._eof = False

    @property
    def filename(self) -> str:
        return self.path.name

    def close(self) -> None:
        self._file.close()

    def _fill(self) -> bool:
        """Read the next block after what is left of the buffer (hashed as read); False at the end."""
        if self._eof:
            return False
        block = self._file.read(READ_BYTES)
        if not block:
            self._eof = True
            return False
        self._hash.update(block)
        self.bytes_read += len(block)
        self._buffer = self._buffer[self._pos:] + block
        self._pos = 0
        return True

    def _next_raw(self) -> tuple[bytes | None, bool]:
        """The next line without its end, or None at the end; True when it was too long (and skipped)."""
        while True:
            start = self._pos
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                self._pos = end + 1
                if end - start > MAX_LINE_BYTES:
                    return b"", True
                return self._buffer[start:end].removesuffix(b"\r"), False
            if len(self._buffer) - start > MAX_LINE_BYTES:
                # too long: skip to the end of the line, never holding it whole
                while True:
                    self._buffer, self._pos = b"", 0
                    if not self._fill():
                        return b"", True
                    end = self._buffer.find(b"\n")
                    if end >= 0:
                        self._pos = end + 1
                        return b"", True
            if not self._fill():
                if start >= len(self._buffer):
                    return None, False
                last = self._buffer[start:]
                self._buffer, self._pos = b"", 0
                return last.removesuffix(b"\r"), False

    def sha256(self) -> str:
        """SHA-256 of the whole file (the rest is read if the reading stopped early)."""
        while self._fill():
            self._buffer, self._pos = b"", 0
        return self._hash.hexdigest()

    def read_header(self) -> None:
        """Check the header line; raise FileRefused (French) on a file that cannot be read at all."""
        raw, too_long = self._next_raw()
        self.line_no = 1
        expected = header_line(self.columns)
        if raw is None:
            raise FileRefused(LineError(1, "", "", f"fichier vide : la ligne d'en-tête est attendue ({expected})."))
        if not raw.strip():
            raise FileRefused(LineError(1, "", "", f"ligne d'en-tête vide : {expected} est attendu."))
        if too_long:
            raise FileRefused(LineError(1, "", "", f"ligne d'en-tête de plus de {MAX_LINE_BYTES} octets : ce "
                                        "n'est pas un fichier d'alimentation."))
        if raw.startswith(BOM):
            raise FileRefused(LineError(1, "", "", "le fichier commence par une marque d'ordre des octets (BOM) :"
                                        " enregistrez-le en « UTF-8 sans BOM »."))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRefused(LineError(1, "", "", _encoding_reason(raw, exc))) from None
        if has_control_chars(text):
            raise FileRefused(LineError(1, "", text, "caractères de contrôle ou invisibles dans l'en-tête."))
        labels = text.split(SEPARATOR)
        if len(labels) == 1:
            for name, sep in (("la virgule", ","), ("la tabulation", "\t"), ("la barre verticale", "|")):
                if sep in text:
                    raise FileRefused(LineError(1, "", text, f"séparateur : le point-virgule (;) est attendu, "
                                                f"l'en-tête utilise {name}."))
        wanted = [fold(column.label) for column in self.columns]
        found = [fold(label) for label in labels]
        if found != wanted:
            missing = [c.label for c, key in zip(self.columns, wanted) if key not in found]
            extra = [label.strip() for label, key in zip(labels, found) if key not in wanted]
            parts = []
            if missing:
                parts.append("colonne(s) manquante(s) : " + ", ".join(missing))
            if extra:
                parts.append("colonne(s) en trop : " + ", ".join(extra))
            if not parts:
                parts.append("colonnes dans un autre ordre que celui attendu")
            raise FileRefused(LineError(1, "", text, "; ".join(parts) + f". En-tête attendu : {expected}"))

    def next_raw_batch(self, max_lines: int) -> RawBatch:
        """Read up to `max_lines` data lines as bytes, unchecked (None for a line too long, skipped)."""
        raw_batch = RawBatch(first_line=self.line_no + 1)
        lines = raw_batch.lines
        while len(lines) < max_lines:
            # The whole lines already read are cut at once; a partial line, a line too long for the
            # buffer and the last line go one by one.
            last = self._buffer.rfind(b"\n", self._pos)
            if last < 0:
                raw, too_long = self._next_raw()
                if raw is None:
                    raw_batch.eof = True
                    break
                self.line_no += 1
                lines.append(None if too_long else raw)
                continue
            wanted = max_lines - len(lines)
            region = self._buffer[self._pos:last]
            parts = region.split(b"\n", wanted)
            if len(parts) > wanted:
                self._pos += len(region) - len(parts.pop())
            else:
                self._pos = last + 1
            if max(map(len, parts)) > MAX_LINE_BYTES:
                parts = [None if len(part) > MAX_LINE_BYTES else part for part in parts]  # type: ignore[misc]
            if b"\r" in region:
                parts = [part[:-1] if part and part.endswith(b"\r") else part for part in parts]
            self.line_no += len(parts)
            lines.extend(parts)
        return raw_batch

    def next_batch(self, check: LineCheck, max_lines: int) -> Batch:
        """Read up to `max_lines` data lines: parsed rows and the errors of the lines refused."""
        return check_lines(self.next_raw_batch(max_lines), check, len(self.columns))


@dataclass
class RawBatch:
    """Data lines as read, before any check: the first one's number, each line's bytes (None: too long)."""

    first_line: int
    lines: list[bytes | None] = field(default_factory=list)
    eof: bool = False


def check_lines(raw_batch: RawBatch, check: LineCheck, width: int) -> Batch:
    """Check the lines of a raw batch: parsed rows and the errors of the lines refused (in this process
    or in a checking process, see `CheckWorker`: the same function either way).

    The batch is decoded at once when it can be (a line that is not UTF-8, or too long, makes it go
    line by line); each line is first given to the check's fast reading, then to its rules."""
    batch = Batch(lines=len(raw_batch.lines), eof=raw_batch.eof)
    rows, errors = batch.rows, batch.errors
    parse, fast = check.parse, check.fast
    lines = raw_batch.lines
    texts: list[str] | None
    try:
        texts = b"\n".join(lines).decode("utf-8").split("\n") if lines else []  # type: ignore[arg-type]
    except (TypeError, UnicodeDecodeError):  # a line too long (None), or not UTF-8
        texts = None
    for index, line in enumerate(range(raw_batch.first_line, raw_batch.first_line + len(lines))):
        if texts is not None:
            text = texts[index]
        else:
            raw = lines[index]
            if raw is None:
                errors.append(LineError(line, "", "", f"ligne de plus de {MAX_LINE_BYTES} octets : elle est ignorée."))
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(LineError(line, "", "", _encoding_reason(raw, exc)))
                continue
        if fast is not None:
            row = fast(line, text)
            if row is not None:
                rows.append(row)
                continue
        if not text.strip():
            errors.append(LineError(line, "", "", "ligne vide."))
            continue
        values = text.split(SEPARATOR)
        if len(values) != width:
            errors.append(LineError(line, "", _clip(text), _width_reason(text, len(values), width)))
            continue
        row, problems = parse(line, values)
        if problems:
            errors.extend(problems)
        elif row is not None:
            rows.append(row)
    return batch


def _clip(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _encoding_reason(raw: bytes, exc: UnicodeDecodeError) -> str:
    return (f"texte non encodé en UTF-8 (octet 0x{raw[exc.start]:02X} en position {exc.start + 1}) : "
            "le fichier semble en Latin-1 ou Windows-1252, enregistrez-le en UTF-8.")


def _width_reason(text: str, found: int, width: int) -> str:
    if found == 1 and ("," in text or "\t" in text):
        return f"séparateur : le point-virgule (;) est attendu entre les {width} colonnes."
    if found < width:
        return f"{width} colonnes attendues, {found} trouvée(s) : colonne manquante."
    return f"{width} colonnes attendues, {found} trouvées : colonne en trop (un point-virgule de trop ?)."


def _reason(exc: ValidationError, label: str) -> str:
    """A field rule's message without its "label : " prefix (the column is reported on its own)."""
    message = exc.message
    for prefix in (f"{label} : ", f"{label[:1].upper()}{label[1:]} : "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _raw_problem(column: FeedColumn, value: str) -> str:
    """Why a raw value is refused before any field rule: control characters or a formula."""
    if has_control_chars(value):
        return "caractères de contrôle ou invisibles (séquences d'échappement, bidirectionnels) interdits."
    stripped = value.lstrip()
    if stripped.startswith(FORMULA_START) or (column.key not in NO_SIGN_CHECK and stripped.startswith(SIGN_START)):
        return "formule de tableur interdite (une valeur ne commence pas par =, +, - ou @)."
    return ""


# -- field rules, cached: names and dates repeat a lot in a national file --------------------------
@lru_cache(maxsize=1 << 16)
def _person_name(value: str, label: str, required: bool) -> tuple[str, str]:
    from cpf_tui.services.validation import validate_person_name

    if not value.strip() and not required:
        return "", ""
    try:
        return validate_person_name(value, label), ""
    except ValidationError as exc:
        return "", _reason(exc, label)


@lru_cache(maxsize=1 << 16)
def _birth_date(value: str, today: date) -> tuple[date | None, str]:
    from cpf_tui.services.validation import parse_date_fr

    label = "date de naissance"
    try:
        born = parse_date_fr(value, label)
    except ValidationError:
        return None, "date invalide, format JJ/MM/AAAA attendu."
    if born is None:
        return None, "champ obligatoire."
    if born > today:
        return None, f"date de naissance dans le futur ({born:%d/%m/%Y})."
    if born < OLDEST_BIRTH:
        return None, f"date de naissance antérieure au {OLDEST_BIRTH:%d/%m/%Y}."
    return born, ""


def _nir(value: str) -> tuple[str, str]:
    from cpf_tui.services.validation import normalise_nir

    try:
        return normalise_nir(value), ""
    except ValidationError as exc:
        return "", _reason(exc, "NIR")


# -- fast paths of the field rules, for the lines a national file is made of -------------------------
# Each returns what the rule returns, or None when it is not certain (then the rule itself is called):
# a line with any problem always goes through the rules, so its messages are the rules' own.
_RISKY_START = re.compile(r";[\s=@+\-]")
"""In a line with `;` put before it: a cell starting with a blank, a formula or a sign character
(`_raw_problem`, the mobile's + included), which the fast reading leaves to the rules."""


def _risky_line(text: str) -> bool:
    """True when the fast reading leaves a line to the rules: a control character (`has_control_chars`:
    only possible in a line that is not all printable, a check made in C) or a risky cell start."""
    return (not text.isprintable() and UNSAFE_INPUT.search(text) is not None) or (
        _RISKY_START.search(SEPARATOR + text) is not None)


CACHE_ENTRIES = 1 << 16
"""Distinct names, dates or numbers remembered by a fast reading (a national file repeats them)."""


def fast_nir(value: str) -> str | None:
    """`validation.normalise_nir(value)` for a NIR written as its 15 ASCII digits with a right key (the
    form of every line of a CDC file); None for anything else (spaces, Corsica, a wrong key...)."""
    if len(value) != 15 or not value.isascii() or not value.isdigit():
        return None
    # stdnum.fr.nir: digits only (no 2A/2B), so the key is 97 - (first 13 digits mod 97), on 2 digits.
    return value if "%02d" % (97 - int(value[:13]) % 97) == value[13:] else None


def fast_mobile(value: str) -> str | None:
    """`validate_phone(value, required=False, mobile=True)` for a national number (0 and 9 digits) the
    rule accepts, from a verdict the rule gave once per prefix (`phone_prefixes.accepted`); None for
    anything else (international form, a number refused, a library whose patterns are of another shape)."""
    return phone_prefixes.accepted(clean_line(value), mobile=True)


@lru_cache(maxsize=1 << 16)
def _search_key(name: str) -> str:
    from cpf_tui.services.validation import name_key

    return name_key(name)[:100]


def _usual_cells(text: str, width: int) -> list[str] | None:
    """The cells of a line the fast reading may read: no risky character or cell start, the expected
    number of cells, and first a NIR the fast path takes (`fast_nir`); else None."""
    if _risky_line(text):
        return None
    values = text.split(SEPARATOR)
    if len(values) != width or fast_nir(values[0]) is None:
        return None
    return values


class _Memo(dict[str, Any]):
    """The verdicts of a fast reading by raw cell value, forgotten all at once past CACHE_ENTRIES."""

    def __init__(self, compute: Callable[[str], Any]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: str) -> Any:
        if len(self) >= CACHE_ENTRIES:
            self.clear()
        value = self[key] = self.compute(key)
        return value


def fast_holder_line(today: date, *, dates_as_text: bool = False) -> FastLine:
    """The fast reading of a holder line (its text): the staging row the rules give (`_holder_rule`) when
    every cell is of the usual form, else None. Names and dates are read by their rule once per value."""
    from cpf_tui.services.validation import accepted_email

    def name(value: str) -> tuple[str, str] | None:  # the rule's name and search key, None if refused
        clean, problem = _person_name(value.strip(), "nom", True)
        return None if problem else (clean, _search_key(clean))

    def born(value: str) -> Any:
        when, problem = _birth_date(value.strip(), today)
        return None if problem or when is None else when.isoformat() if dates_as_text else when

    names, dates = _Memo(name), _Memo(born)
    no_name = ("", "")
    width = len(HOLDER_COLUMNS)

    def fast(line: int, text: str) -> tuple[Any, ...] | None:
        values = _usual_cells(text, width)
        if values is None:
            return None
        nir, birth_raw, usage_raw, given_raw, born_raw, email_raw, mobile_raw = values
        birth, given, when = names[birth_raw], names[given_raw], dates[born_raw]
        usage = names[usage_raw] if usage_raw else no_name
        if birth is None or given is None or usage is None or when is None:
            return None
        email: str | None = email_raw.strip()
        if email:
            email = accepted_email(email) if email.isascii() else None
            if email is None:
                return None
        mobile: str | None = mobile_raw
        if mobile_raw:
            mobile = fast_mobile(mobile_raw)
            if mobile is None:
                return None
        return (line, nir, birth[0], usage[0], given[0], when, email, mobile, birth[1], usage[1])

    return fast


def holder_check(today: date, *, dates_as_text: bool = False) -> LineCheck:
    """The check of the lines of a holder file: a staging row (NIR, names, birth date as a `date` or,
    with `dates_as_text`, as ISO text for SQLite's staging, contact, search keys) or the line's errors."""
    return LineCheck(_holder_rule(today, dates_as_text), fast_holder_line(today, dates_as_text=dates_as_text))


def _holder_rule(today: date, dates_as_text: bool = False) -> LineParser:
    """The check of one holder line by the project's rules, field by field: the errors of a bad line."""
    from cpf_tui.services.validation import validate_email, validate_phone

    by_key = {column.key: column for column in HOLDER_COLUMNS}

    def parse(line: int, values: list[str]) -> tuple[tuple[Any, ...] | None, list[LineError]]:
        errors: list[LineError] = []
        clean: dict[str, Any] = {}
        for column, value in zip(HOLDER_COLUMNS, values):
            problem = _raw_problem(column, value)
            if problem:
                errors.append(LineError(line, column.label, _clip(value), problem))
        if errors:
            return None, errors

        def check(key: str, result: tuple[Any, str]) -> None:
            clean[key], problem = result
            if problem:
                errors.append(LineError(line, by_key[key].label, _clip(values_by_key[key]), problem))

        values_by_key = {column.key: value for column, value in zip(HOLDER_COLUMNS, values)}
        check("nir", _nir(values_by_key["nir"]))
        check("nom_naissance", _person_name(values_by_key["nom_naissance"].strip(), "nom de naissance", True))
        check("nom_usage", _person_name(values_by_key["nom_usage"].strip(), "nom d'usage", False))
        check("prenoms", _person_name(values_by_key["prenoms"].strip(), "prénoms", True))
        check("date_naissance", _birth_date(values_by_key["date_naissance"].strip(), today))
        email = values_by_key["email"].strip()
        try:
            clean["email"] = validate_email(email, "courriel") if email else ""
        except ValidationError as exc:
            errors.append(LineError(line, "courriel", _clip(email), _reason(exc, "courriel")))
        try:
            clean["mobile"] = validate_phone(values_by_key["mobile"], "téléphone", required=False, mobile=True)
        except ValidationError as exc:
            errors.append(LineError(line, "téléphone", _clip(values_by_key["mobile"]), _reason(exc, "téléphone")))
        if errors:
            return None, errors
        return (
            line, clean["nir"], clean["nom_naissance"], clean["nom_usage"], clean["prenoms"],
            clean["date_naissance"].isoformat() if dates_as_text else clean["date_naissance"], clean["email"],
            clean["mobile"],
            _search_key(clean["nom_naissance"]), _search_key(clean["nom_usage"]),
        ), []

    return parse


_DECIMAL = re.compile(r"^\d+(?:[.,]\d+)?$")


@lru_cache(maxsize=1 << 12)
def _number(value: str, label: str, *, maximum: float, unit: str) -> tuple[float | None, str]:
    text = value.strip().replace("\u00a0", "").replace(" ", "")
    if not text:
        return None, ""
    if text.startswith("-") and _DECIMAL.match(text[1:]):
        return None, f"{label} négative ({text}) : une valeur positive est attendue."
    if not _DECIMAL.match(text):
        return None, f"nombre attendu ({unit}), par exemple « 80 » ou « 1 607,5 »."
    number = float(text.replace(",", "."))
    if number > maximum:
        return None, f"{label} absurde ({text} {unit}) : {maximum:g} {unit} au plus."
    return number, ""


def work_ratio_from_hours(hours: float) -> int:
    """Share of full time (percent, 0–100) of a year's hours worked, rounded half up."""
    return min(100, int(hours * 100 / FULL_TIME_HOURS + 0.5))


def fast_hours_line(year: int) -> FastLine:
    """The fast reading of an hours line for the year fed (its text): the staging row (line, NIR, work
    ratio in percent) the rules give (`_hours_rule`) when every cell is of the usual form, else None."""
    year_text = str(year)

    def ratio(value: str) -> tuple[float | None, str]:
        return _number(value, "quotité", maximum=100, unit="%")

    def hours(value: str) -> tuple[float | None, str]:
        return _number(value, "durée travaillée", maximum=ABSURD_HOURS, unit="h")

    ratios, worked = _Memo(ratio), _Memo(hours)
    width = len(HOURS_COLUMNS)

    def fast(line: int, text: str) -> tuple[Any, ...] | None:
        values = _usual_cells(text, width)
        if values is None:
            return None
        nir, year_raw, ratio_raw, hours_raw = values
        if year_raw.strip() != year_text:
            return None
        share, share_problem = ratios[ratio_raw]
        count, count_problem = worked[hours_raw]
        if share_problem or count_problem or (share is None) == (count is None):
            return None
        percent = int(share) if share is not None else work_ratio_from_hours(count or 0)
        return (line, nir, percent) if percent >= 1 else None

    return fast


def hours_check(year: int) -> LineCheck:
    """The check of the lines of an hours file for the year fed: (line, NIR, work ratio in percent)."""
    return LineCheck(_hours_rule(year), fast_hours_line(year))


def _hours_rule(year: int) -> LineParser:
    """The check of one hours line by the rules, field by field: the errors of a bad line."""
    by_key = {column.key: column for column in HOURS_COLUMNS}

    def parse(line: int, values: list[str]) -> tuple[tuple[Any, ...] | None, list[LineError]]:
        errors: list[LineError] = []
        for column, value in zip(HOURS_COLUMNS, values):
            problem = _raw_problem(column, value)
            if problem:
                errors.append(LineError(line, column.label, _clip(value), problem))
        if errors:
            return None, errors
        raw = {column.key: value for column, value in zip(HOURS_COLUMNS, values)}

        def fail(key: str, reason: str) -> None:
            errors.append(LineError(line, by_key[key].label, _clip(raw[key]), reason))

        nir, problem = _nir(raw["nir"])
        if problem:
            fail("nir", problem)
        year_text = raw["annee"].strip()
        if not year_text.isdigit() or len(year_text) != 4:
            fail("annee", "année sur 4 chiffres attendue.")
        elif int(year_text) != year:
            fail("annee", f"année {year_text} : ce fichier alimente l'année {year} (--annee).")
        ratio, ratio_problem = _number(raw["quotite"], "quotité", maximum=100, unit="%")
        hours, hours_problem = _number(raw["heures"], "durée travaillée", maximum=ABSURD_HOURS, unit="h")
        if ratio_problem:
            fail("quotite", ratio_problem)
        if hours_problem:
            fail("heures", hours_problem)
        percent = 0
        if not ratio_problem and not hours_problem:
            if ratio is None and hours is None:
                fail("quotite", "renseignez la quotité (en %) ou les heures travaillées.")
            elif ratio is not None and hours is not None:
                fail("quotite", "renseignez la quotité ou les heures travaillées, pas les deux.")
            else:
                percent = int(ratio) if ratio is not None else work_ratio_from_hours(hours or 0)
                if percent < 1:
                    key = "quotite" if ratio is not None else "heures"
                    fail(key, "moins de 1 % d'un temps plein : aucune heure à créditer, retirez la ligne.")
        if errors:
            return None, errors
        return (line, nir, percent), []

    return parse


# -- checking in a child process ---------------------------------------------------------------------
FEED_HOLDERS, FEED_HOURS = "holders", "hours"


def line_check(kind: str, argument: str, dates_as_text: bool) -> LineCheck:
    """The line check of a feed: holders (`argument`: today, ISO) or hours (`argument`: the year fed)."""
    if kind == FEED_HOLDERS:
        return holder_check(date.fromisoformat(argument), dates_as_text=dates_as_text)
    return hours_check(int(argument))


def columns_of(kind: str) -> tuple[FeedColumn, ...]:
    return HOLDER_COLUMNS if kind == FEED_HOLDERS else HOURS_COLUMNS


def write_frame(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "big") + data)


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(8)
    if len(head) < 8:
        return None
    size = int.from_bytes(head, "big")
    data = stream.read(size)
    return data if len(data) == size else None


def worker_main(argv: list[str]) -> int:
    """`python -m cpf_tui.services.feed_files KIND ARGUMENT DATES_AS_TEXT`: the checking process of a feed.

    Reads raw batches (`RawBatch`, length-prefixed pickles from its parent only) on its standard input
    and writes each one's `Batch` on its standard output, in order. It ends at the end of its input,
    that is when its parent closes the pipe or dies (kill -9 included); nothing is stored.
    """
    kind, argument, as_text = argv
    check = line_check(kind, argument, as_text == "1")
    width = len(columns_of(kind))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (frame := _read_frame(stdin)) is not None:
        write_frame(stdout, check_lines(pickle.loads(frame), check, width))
        stdout.flush()
    return 0


if __name__ == "__main__":
    from cpf_tui.services import feed_files  # the classes pickled under their module's own name

    raise SystemExit(feed_files.worker_main(sys.argv[1:]))
