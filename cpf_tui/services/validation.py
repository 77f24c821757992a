"""Field validation shared by every service (forms, bulk files): clean values or French messages."""

from __future__ import annotations

import re
from functools import lru_cache

from cpf_tui.errors import ValidationError
from cpf_tui.text import clean_line, has_control_chars

_MARKUP = re.compile(r"\[/?[a-zA-Z@#$][^\]]*\]")
_NAME_ALLOWED = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿŒœ' .\-]+$")
_FR_NATIONAL = re.compile(r"0[1-9](?:[ .\-]?[0-9][0-9]){4}")
"""A French number typed nationally (06 12 34 56 78): `phonenumbers.parse` gives +33 and the 9 digits."""
_FR_E164_PAIRS = re.compile(r"\+33([1-79])([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})")
"""A stored French number shown as 0X XX XX XX XX (the 08 numbers have another layout)."""
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
"""An ASCII local part email-validator accepts and keeps unchanged."""


def validate_text(value: str, label: str, *, max_length: int = 100, required: bool = True) -> str:
    """A one-line text: trimmed, no control characters or escape sequences, no markup, bounded."""
    text = clean_line(value or "")
    if not text:
        if required:
            raise ValidationError(f"{label} : champ obligatoire.", {label: "obligatoire"})
        return ""
    if has_control_chars(text) or "\n" in text or "\t" in text:
        raise ValidationError(f"{label} : caractères de contrôle interdits.", {label: "caractères de contrôle"})
    if _MARKUP.search(text):
        raise ValidationError(f"{label} : les crochets de mise en forme sont interdits.", {label: "balisage"})
    if len(text) > max_length:
        raise ValidationError(f"{label} : {max_length} caractères au maximum.", {label: "trop long"})
    return text


def validate_person_name(value: str, label: str) -> str:
    """A family or given name: letters (accents included), spaces, apostrophes, hyphens and dots."""
    text = validate_text(value, label, max_length=100)
    if not _NAME_ALLOWED.match(text):
        raise ValidationError(
            f"{label} : seuls les lettres, espaces, apostrophes, points et traits d'union sont acceptés.",
            {label: "caractères invalides"},
        )
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
        raise ValidationError(f"{label} : caractères de contrôle interdits.", {label: "caractères de contrôle"})
    local, at, domain = text.rpartition("@")
    if at and len(local) <= 64 and len(text) <= 200 and _DOT_ATOM.fullmatch(local):
        clean_domain = _normalised_domain(domain)
        if clean_domain is not None:
            return f"{local}@{clean_domain}"
    try:
        return check(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationError(f"{label} : adresse e-mail invalide (« {text[:60]} »).", {label: "invalide"}) from None


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


def validate_phone(value: str, label: str = "Téléphone", *, required: bool = True, mobile: bool = False) -> str:
    """A phone number (French by default), returned in E.164 form (+33…)."""
    import phonenumbers

    text = clean_line(value or "")
    if not text:
        if required:
            raise ValidationError(f"{label} : champ obligatoire.", {label: "obligatoire"})
        return ""
    if _FR_NATIONAL.fullmatch(text):
        # What `parse(text, "FR")` returns for this shape, without its general parsing.
        number = phonenumbers.PhoneNumber(country_code=33, national_number=int(re.sub(r"\D", "", text)))
    else:
        try:
            number = phonenumbers.parse(text, "FR")
        except phonenumbers.NumberParseException:
            raise ValidationError(f"{label} : numéro de téléphone invalide.", {label: "invalide"}) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"{label} : numéro de téléphone invalide.", {label: "invalide"})
    if mobile and phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValidationError(f"{label} : un numéro de téléphone mobile est attendu.", {label: "pas un mobile"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """A stored E.164 number as shown to French users (06 12 34 56 78)."""
    import phonenumbers

    if not e164:
        return ""
    pairs = _FR_E164_PAIRS.fullmatch(e164)
    if pairs:
        return "0" + " ".join(pairs.groups())
    try:
        number = phonenumbers.parse(e164, "FR")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
