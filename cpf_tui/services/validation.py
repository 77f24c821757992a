"""Field validation shared by every service (forms, bulk files, feeds): clean values or French messages."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any

from cpf_tui.errors import ValidationError
from cpf_tui.services import phone_prefixes
from cpf_tui.text import CONTROL_CHARS_REFUSED, clean_line, fold, has_control_chars

CIVIL_REGISTER_LETTERS = "àâäéèêëïîôöùûüÿçæœ"
"""The accented letters of the French civil register (circular of 23 July 2014), besides a to z."""
NAME_PUNCTUATION = " '.-"
_NAME_ALLOWED = re.compile(
    "^[a-zA-Z" + CIVIL_REGISTER_LETTERS + CIVIL_REGISTER_LETTERS.upper() + re.escape(NAME_PUNCTUATION) + "]+$"
)
_NAME_LETTER = re.compile("[a-zA-Z" + CIVIL_REGISTER_LETTERS + CIVIL_REGISTER_LETTERS.upper() + "]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})
"""Typographic apostrophes (pasted from a word processor) read as the plain one."""
NAME_RULE = (
    "les lettres de a à z, " + " ".join(CIVIL_REGISTER_LETTERS) + ", leurs majuscules, "
    "les espaces, apostrophes, points et traits d'union"
)
"""What a name may hold, as the messages say it."""
_FR_E164_PAIRS = re.compile(r"\+33([1-79])([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})")
"""A stored metropolitan number shown as 0X XX XX XX XX (the 08 numbers have another layout)."""
NATIONAL_PLAN_REGIONS = ("FR", "RE", "YT", "GP", "BL", "MF", "MQ", "GF")
"""Regions dialled from France with a 0 and 9 digits (metropolitan France and the overseas departments
and collectivities sharing its numbering plan); other French territories (PM, NC, PF, WF) are written
in international form (+508, +687, +689, +681)."""
INTERNATIONAL_FORM_REGIONS = ("PM", "NC", "PF", "WF")
"""Saint-Pierre-et-Miquelon, New Caledonia, French Polynesia, Wallis-and-Futuna: their own numbering plans."""
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
"""An ASCII local part email-validator accepts and keeps unchanged."""


def validate_text(value: str, label: str, *, max_length: int = 100, required: bool = True) -> str:
    """A one-line text: trimmed, no control characters or escape sequences, bounded — the one rule of every
    text field. Brackets are ordinary characters (« réf. [A12] »): user text is never read as markup,
    every screen shows it as plain text."""
    text = clean_line(value or "")
    if not text:
        if required:
            raise ValidationError(f"{label} : champ obligatoire.", {label: "obligatoire"})
        return ""
    if has_control_chars(text) or "\n" in text or "\t" in text:
        raise ValidationError(f"{label} : {CONTROL_CHARS_REFUSED}.", {label: "caractères de contrôle"})
    if len(text) > max_length:
        raise ValidationError(f"{label} : {max_length} caractères au maximum.", {label: "trop long"})
    return text


def validate_person_name(value: str, label: str) -> str:
    """A family or given name in the letters of the French civil register, normalised to NFC.

    A decomposed letter pasted from another program (e + combining accent) is the same name as the
    composed one; typographic apostrophes become the plain one.
    """
    text = unicodedata.normalize("NFC", validate_text(value, label, max_length=100)).translate(_APOSTROPHES)
    if not _NAME_ALLOWED.match(text):
        refused = next(char for char in text if not _NAME_ALLOWED.match(char))
        shown = refused if refused.isprintable() and not refused.isspace() else f"U+{ord(refused):04X}"
        raise ValidationError(
            f"{label} : caractère « {shown} » non accepté. Seuls sont acceptés {NAME_RULE}.",
            {label: "caractères invalides"},
        )
    if not _NAME_LETTER.search(text):
        raise ValidationError(f"{label} : au moins une lettre est attendue.", {label: "sans lettre"})
    return text


def validate_siret(value: str, label: str = "SIRET") -> str:
    """A SIRET (14 digits, checksum, La Poste exception handled by python-stdnum), compacted."""
    from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength
    from stdnum.fr import siret

    text = clean_line(value or "")
    if not text:
        raise ValidationError(f"{label} : champ obligatoire.", {label: "obligatoire"})
    try:
        return siret.validate(text)
    except InvalidLength:
        raise ValidationError(f"{label} : le SIRET comporte 14 chiffres.", {label: "longueur"}) from None
    except InvalidFormat:
        raise ValidationError(f"{label} : le SIRET ne contient que des chiffres.", {label: "format"}) from None
    except InvalidChecksum:
        raise ValidationError(f"{label} : numéro SIRET invalide (clé de contrôle).", {label: "clé"}) from None
    except Exception:
        raise ValidationError(f"{label} : numéro SIRET invalide.", {label: "invalide"}) from None


def validate_email(value: str, label: str = "E-mail") -> str:
    """An e-mail address, normalised by email-validator (no DNS lookup)."""
    from email_validator import EmailNotValidError
    from email_validator import validate_email as check

    text = clean_line(value or "")
    if not text:
        raise ValidationError(f"{label} : champ obligatoire.", {label: "obligatoire"})
    if has_control_chars(text):
        raise ValidationError(f"{label} : {CONTROL_CHARS_REFUSED}.", {label: "caractères de contrôle"})
    accepted = accepted_email(text)
    if accepted is not None:
        return accepted
    try:
        return check(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationError(f"{label} : adresse e-mail invalide (« {text[:60]} »).", {label: "invalide"}) from None


def accepted_email(text: str) -> str | None:
    """What `validate_email` gives for `text`, a clean line without control characters, when it is an
    ASCII local part at a domain email-validator accepts (checked once per domain); None otherwise, and
    then `validate_email` asks email-validator itself (which gives the message of a refusal)."""
    local, at, domain = text.rpartition("@")
    if at and len(local) <= 64 and len(text) <= 200 and _DOT_ATOM.fullmatch(local):
        clean_domain = _normalised_domain(domain)
        if clean_domain is not None:
            return f"{local}@{clean_domain}"
    return None


@lru_cache(maxsize=1024)
def _normalised_domain(domain: str) -> str | None:
    """The domain email-validator gives for an address at `domain` (None when it refuses it): a file's
    addresses share a few domains, checked once each."""
    from email_validator import EmailNotValidError
    from email_validator import validate_email as check

    try:
        return check(f"a@{domain}", check_deliverability=False).normalized.rpartition("@")[2]
    except EmailNotValidError:
        return None


@lru_cache(maxsize=1)
def _overseas_ranges() -> tuple[tuple[re.Pattern[str], int], ...]:
    """Per overseas region of the national plan: its fixed-line and mobile ranges as the library lists
    them (one compiled pattern) and its country code."""
    import phonenumbers

    ranges = []
    for region in NATIONAL_PLAN_REGIONS[1:]:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert metadata is not None, region  # every region of NATIONAL_PLAN_REGIONS is in the library
        patterns = [
            desc.national_number_pattern
            for desc in (metadata.fixed_line, metadata.mobile)
            if desc is not None and desc.national_number_pattern
        ]
        pattern = re.compile("|".join(f"(?:{pattern})" for pattern in patterns), re.ASCII)
        ranges.append((pattern, int(metadata.country_code or 0)))
    return tuple(ranges)


@lru_cache(maxsize=1)
def national_plan_country_codes() -> frozenset[int]:
    """The country codes of the regions dialled nationally from France (33, 262, 590, 594, 596)."""
    import phonenumbers

    return frozenset(phonenumbers.country_code_for_region(region) for region in NATIONAL_PLAN_REGIONS)


def _geographic_or_mobile(number: Any) -> bool:
    import phonenumbers

    return phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def national_number(digits: str) -> Any:
    """The number that the 9 digits after a national 0 dial: in the overseas region whose fixed-line
    or mobile ranges hold them (0692… Réunion, 0590… Guadeloupe, 0269… Mayotte), else metropolitan.

    The library's metropolitan ranges also cover some overseas geographic prefixes (0262, 0269, 0596):
    the overseas reading wins there; a number the library reads as a national service of metropolitan
    France (0806… UAN, 0976… VoIP) stays metropolitan.
    """
    import phonenumbers

    metropolitan = phonenumbers.PhoneNumber(country_code=33, national_number=int(digits))
    for pattern, country_code in _overseas_ranges():
        if pattern.fullmatch(digits):
            if phonenumbers.is_valid_number(metropolitan) and not _geographic_or_mobile(metropolitan):
                return metropolitan
            return phonenumbers.PhoneNumber(country_code=country_code, national_number=int(digits))
    return metropolitan


def read_phone(text: str) -> Any:
    """The phonenumbers number `text` dials from France (None when it cannot be read as a number).

    A national number (0 and 9 digits) is read in the region its prefix belongs to; an international
    one (+262…, 00 687…) as written.
    """
    import phonenumbers

    if phone_prefixes.FR_NATIONAL.fullmatch(text):
        return national_number(re.sub(r"\D", "", text)[1:])
    try:
        number = phonenumbers.parse(text, "FR", keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None
    if (
        number.country_code == 33
        and number.country_code_source == phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY
        and not number.italian_leading_zero
        and len(str(number.national_number)) == 9
    ):
        return national_number(str(number.national_number))
    return phonenumbers.PhoneNumber(country_code=number.country_code, national_number=number.national_number,
                                    italian_leading_zero=number.italian_leading_zero,
                                    number_of_leading_zeros=number.number_of_leading_zeros)


def validate_phone(value: str, label: str = "Téléphone", *, required: bool = True, mobile: bool = False) -> str:
    """A phone number, returned in E.164 form (+33…, +262…): French national numbers of every region of
    the national plan, or any number in international form."""
    text = clean_line(value or "")
    if not text:
        if required:
            raise ValidationError(f"{label} : champ obligatoire.", {label: "obligatoire"})
        return ""
    return phone_prefixes.accepted(text, mobile=mobile) or phone_by_library(text, label, mobile=mobile)


def phone_by_library(text: str, label: str, *, mobile: bool) -> str:
    """`validate_phone` of a cleaned, non-empty `text`, read by the phonenumbers library."""
    import phonenumbers

    number = read_phone(text)
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(f"{label} : numéro de téléphone invalide.", {label: "invalide"})
    if mobile and phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValidationError(f"{label} : un numéro de téléphone mobile est attendu.", {label: "pas un mobile"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


MAX_EXACT_DIGITS = 15
"""Digits a spreadsheet keeps exactly in a number cell (IEEE double: Excel and LibreOffice Calc)."""
NUMBER_AS_TEXT = "saisissez-le comme du texte (cellule au format Texte)"


def _spreadsheet_digits(value: object, label: str, what: str) -> str:
    """The digits of a whole positive number a spreadsheet stored, or a French refusal."""
    whole = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, float) and value.is_integer():
        whole = int(value)
    if whole is None or whole <= 0 or len(str(whole)) > MAX_EXACT_DIGITS:
        raise ValidationError(
            f"{label} : un nombre a été saisi là où {what} est attendu : {NUMBER_AS_TEXT}.", {label: "nombre"}
        )
    return str(whole)


def phone_from_number(value: object, label: str = "Téléphone") -> str:
    """A phone number a spreadsheet stored as a number (General format), in E.164, when it reads one way.

    Nine digits are a national number whose 0 was dropped (`612341056` is 06 12 34 10 56), unless they
    are also a valid number of another French territory whose + was dropped (`687412345`: 06 87 41 23 45
    or New Caledonia's +687 41 23 45), which is refused with both readings; more digits are an
    international number whose + was dropped (`262692036728` is +262 692 03 67 28).
    """
    import phonenumbers

    digits = _spreadsheet_digits(value, label, "un numéro de téléphone")
    if len(digits) == 9:
        readings = [f"0{digits}"]
        international = read_phone(f"+{digits}")
        if international is not None and phonenumbers.is_valid_number(international) and (
            phonenumbers.region_code_for_number(international) in INTERNATIONAL_FORM_REGIONS
        ):
            readings.append(f"+{digits}")
    else:
        readings = [f"+{digits}"]
    valid: dict[str, str] = {}
    for text in readings:
        number = read_phone(text)
        if number is not None and phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            valid.setdefault(e164, format_phone(e164))
    if len(valid) == 1:
        return next(iter(valid))
    if not valid:
        raise ValidationError(
            f"{label} : le nombre {digits} n'est pas un numéro de téléphone valide ; {NUMBER_AS_TEXT} "
            "avec son 0 initial (06 12 34 56 78) ou son indicatif (+262 692 03 67 28).",
            {label: "invalide"},
        )
    shown = " ou ".join(valid.values())
    raise ValidationError(
        f"{label} : le nombre {digits} peut se lire {shown} ; {NUMBER_AS_TEXT} pour lever l'ambiguïté.",
        {label: "ambigu"},
    )


def siret_from_number(value: object, label: str = "SIRET") -> str:
    """A SIRET a spreadsheet stored as a number, as its 14 digits (leading zeros put back); its key is
    checked by `validate_siret`."""
    digits = _spreadsheet_digits(value, label, "un SIRET")
    if len(digits) > 14:
        raise ValidationError(
            f"{label} : le SIRET comporte 14 chiffres (nombre saisi : {digits}).", {label: "longueur"}
        )
    return validate_siret(digits.zfill(14), label)


def format_phone(e164: str) -> str:
    """A stored E.164 number as shown to French users: its national form when that form dials the same
    number from France (06 12 34 56 78, 0692 03 67 28), else its international form (+687 41.23.45,
    +590 806 00 00 00), so that what is shown always reads back to what is stored."""
    import phonenumbers

    if not e164:
        return ""
    pairs = _FR_E164_PAIRS.fullmatch(e164)
    if pairs and phone_prefixes.national_country_code(e164[3:]) == 33:
        return "0" + " ".join(pairs.groups())
    try:
        number = phonenumbers.parse(e164, "FR")
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code in national_plan_country_codes():
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        read_back = read_phone(clean_line(national))
        if read_back is not None and phonenumbers.format_number(read_back, phonenumbers.PhoneNumberFormat.E164) == e164:
            return national
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalise_nir(text: str) -> str:
    """A typed NIR without spaces or dots, upper case (Corsica: 2A/2B), checked with stdnum.fr.nir."""
    from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError as StdnumError
    from stdnum.fr import nir

    value = "".join((text or "").split()).replace(".", "").upper()
    if not value:
        raise ValidationError("NIR : champ obligatoire.", {"nir": "obligatoire"})
    if len(value) != 15:
        raise ValidationError("NIR : 15 caractères attendus (13 chiffres et la clé).", {"nir": "longueur"})
    try:
        return nir.validate(value)
    except InvalidLength:
        raise ValidationError("NIR : 15 caractères attendus (13 chiffres et la clé).", {"nir": "longueur"}) from None
    except InvalidChecksum:
        raise ValidationError("NIR : clé de contrôle invalide.", {"nir": "clé"}) from None
    except StdnumError:
        raise ValidationError("NIR : numéro de sécurité sociale invalide.", {"nir": "invalide"}) from None


def name_key(text: str) -> str:
    """The search key of a name: upper case without accents (as stored in `Holder.search_name`)."""
    return fold(text).upper()


_DATE_RE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$|^(\d{2})(\d{2})(\d{4})$")


def parse_date_fr(text: str, label: str) -> date | None:
    """A date typed as JJ/MM/AAAA, J/M/AAAA, JJMMAAAA (or AAAA-MM-JJ); empty gives None."""
    value = (text or "").strip()
    if not value:
        return None
    try:
        match = _DATE_RE.match(value)
        if match:
            day, month, year = (int(group) for group in match.groups() if group is not None)
            return date(year, month, day)
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{label} : date invalide, format JJ/MM/AAAA attendu.", {label: "date"}) from None
