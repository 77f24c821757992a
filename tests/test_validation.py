"""Shared field rules: phone numbers of every French region, names in the civil register's letters."""

from __future__ import annotations

import random
import re
import unicodedata

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpf_tui.errors import ValidationError
from cpf_tui.services import validation

OVERSEAS = validation.NATIONAL_PLAN_REGIONS[1:]
INTERNATIONAL_ONLY = ("PM", "NC", "PF", "WF")
"""Saint-Pierre-et-Miquelon, New Caledonia, French Polynesia, Wallis-and-Futuna: own numbering plans."""
GEOGRAPHIC_OR_MOBILE = (
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def reference_national(digits: str) -> str | None:
    """What `0` + `digits` dials, by the library's general path: the overseas region that lists it as a
    fixed-line or mobile number (unless metropolitan France uses it for a national service), else France."""
    metropolitan = phonenumbers.parse("0" + digits, "FR")
    metropolitan_service = phonenumbers.is_valid_number(metropolitan) and (
        phonenumbers.number_type(metropolitan) not in GEOGRAPHIC_OR_MOBILE
    )
    for region in OVERSEAS:
        number = phonenumbers.parse("0" + digits, region)
        if phonenumbers.is_valid_number_for_region(number, region) and (
            phonenumbers.number_type(number) in GEOGRAPHIC_OR_MOBILE
        ):
            return e164(metropolitan) if metropolitan_service else e164(number)
    return e164(metropolitan) if phonenumbers.is_valid_number(metropolitan) else None


def checked(text: str, **options) -> str | None:
    try:
        return validation.validate_phone(text, **options)
    except ValidationError:
        return None


# -- the overseas examples of the issue, one by one -------------------------------------------------

OVERSEAS_EXAMPLES = [
    ("0692 03 67 28", "+262692036728", "RE", True),  # Réunion, mobile
    ("0693 12 34 56", "+262693123456", "RE", True),  # Réunion, mobile
    ("0262 12 34 56", "+262262123456", "RE", False),  # Réunion, fixed line
    ("0590 27 12 34", "+590590271234", "GP", False),  # Guadeloupe / Saint-Barthélemy / Saint-Martin
    ("0690 30 12 34", "+590690301234", "GP", True),  # Guadeloupe mobile
    ("0596 60 12 34", "+596596601234", "MQ", False),  # Martinique
    ("0696 20 12 34", "+596696201234", "MQ", True),  # Martinique mobile
    ("0594 30 12 34", "+594594301234", "GF", False),  # Guyane
    ("0694 20 12 34", "+594694201234", "GF", True),  # Guyane mobile
    ("0269 61 12 34", "+262269611234", "YT", False),  # Mayotte
    ("0639 01 12 34", "+262639011234", "YT", True),  # Mayotte mobile
]


@pytest.mark.parametrize("typed, stored, region, is_mobile", OVERSEAS_EXAMPLES)
def test_each_overseas_prefix_is_read_in_its_region(typed, stored, region, is_mobile):
    assert validation.validate_phone(typed) == stored
    assert validation.validate_phone(typed.replace(" ", "")) == stored
    assert validation.validate_phone(typed.replace(" ", ".")) == stored
    number = phonenumbers.parse(stored)
    assert phonenumbers.country_code_for_region(region) == number.country_code
    # Shown in its national form, which reads back to the same number.
    shown = validation.format_phone(stored)
    assert shown == typed
    assert validation.validate_phone(shown) == stored
    # The international form gives the same number.
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    assert validation.validate_phone(international) == stored
    # Mobile-only fields keep their rule in every region.
    if is_mobile:
        assert validation.validate_phone(typed, mobile=True) == stored
    else:
        with pytest.raises(ValidationError, match="mobile est attendu"):
            validation.validate_phone(typed, "Téléphone mobile", mobile=True)


def test_metropolitan_numbers_and_national_services_stay_in_france():
    assert validation.validate_phone("06 12 34 56 78") == "+33612345678"
    assert validation.validate_phone("01 23 45 67 89") == "+33123456789"
    assert validation.format_phone("+33612345678") == "06 12 34 56 78"
    # 0806 (UAN) and 0976 (VoIP) are national services of metropolitan France.
    assert validation.validate_phone("0806 12 34 56") == "+33806123456"
    assert validation.validate_phone("09 76 74 12 34") == "+33976741234"
    # An overseas number written with +33 is wrong: it stays refused.
    assert checked("+33 6 92 03 67 28") is None
    assert checked("0691 12 34 56") is None  # in no range of any region


@pytest.mark.parametrize(
    "typed, stored, shown",
    [
        ("+508 41 12 34", "+508411234", "+508 41 12 34"),  # Saint-Pierre-et-Miquelon
        ("+687 41 23 45", "+687412345", "+687 41.23.45"),  # New Caledonia
        ("+689 40 50 12 34", "+68940501234", "+689 40 50 12 34"),  # French Polynesia
        ("00 681 72 12 34", "+681721234", "+681 72 12 34"),  # Wallis-and-Futuna
    ],
)
def test_other_french_territories_in_international_form(typed, stored, shown):
    assert validation.validate_phone(typed) == stored
    assert validation.format_phone(stored) == shown
    assert validation.validate_phone(shown) == stored


def test_foreign_numbers_are_shown_in_international_form():
    assert validation.validate_phone("+44 20 7946 0958") == "+442079460958"
    assert validation.format_phone("+442079460958") == "+44 20 7946 0958"


# -- properties over every region's ranges ------------------------------------------------------------


def _ranges(region: str) -> list[str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return [desc.national_number_pattern for desc in (metadata.fixed_line, metadata.mobile) if desc is not None]


@st.composite
def region_numbers(draw, regions):
    region = draw(st.sampled_from(regions))
    pattern = re.compile(draw(st.sampled_from(_ranges(region))), re.ASCII)
    digits = draw(st.from_regex(pattern, fullmatch=True))
    number = phonenumbers.PhoneNumber(
        country_code=phonenumbers.country_code_for_region(region), national_number=int(digits)
    )
    return region, digits, number


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(region_numbers(validation.NATIONAL_PLAN_REGIONS), st.sampled_from(["", " ", ".", "-"]))
def test_national_plan_numbers_round_trip(sample, separator):
    region, digits, number = sample
    national = "0" + digits
    typed = separator.join(national[i : i + 2] for i in range(0, 10, 2))
    expected = reference_national(digits)
    assert checked(typed) == expected, (region, typed)
    if expected is None:
        return
    shown = validation.format_phone(expected)
    assert validation.validate_phone(shown) == expected
    # Written internationally, the number is the library's own reading.
    if phonenumbers.is_valid_number(number):
        assert validation.validate_phone(e164(number)) == e164(number)
        assert validation.validate_phone(validation.format_phone(e164(number))) == e164(number)
    # An overseas number is always read in its own country code when written nationally,
    # unless metropolitan France uses the digits for a national service.
    if region in OVERSEAS and phonenumbers.is_valid_number(number):
        assert expected in (e164(number), "+33" + digits)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(region_numbers(INTERNATIONAL_ONLY))
def test_other_territories_round_trip_in_international_form(sample):
    region, _digits, number = sample
    if not phonenumbers.is_valid_number(number):
        return
    stored = validation.validate_phone(e164(number))
    assert stored == e164(number)
    shown = validation.format_phone(stored)
    assert shown.startswith("+")
    assert validation.validate_phone(shown) == stored


def test_fast_path_matches_the_library_for_every_national_prefix():
    """The quick reading of `0X XX XX XX XX` agrees with the library's general path on every prefix."""
    draw = random.Random(7)
    for prefix in range(100, 1000):
        for _ in range(4):
            digits = f"{prefix}{draw.randrange(10**6):06d}"
            expected = reference_national(digits)
            national = "0" + digits
            pairs = [national[i : i + 2] for i in range(0, 10, 2)]
            for text in (national, " ".join(pairs), ".".join(pairs), "-".join(pairs)):
                assert checked(text) == expected, text
            if expected:
                shown = validation.format_phone(expected)
                number = phonenumbers.parse(expected)
                assert shown == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


# -- names ----------------------------------------------------------------------------------------------


CIVIL_REGISTER = "àâäéèêëïîôöùûüÿçæœ"


@pytest.mark.parametrize("letter", list(CIVIL_REGISTER + CIVIL_REGISTER.upper()))
def test_every_letter_of_the_civil_register_is_accepted(letter):
    assert validation.validate_person_name(f"A{letter}b", "Nom") == f"A{letter}b"


def test_y_with_diaeresis_in_both_cases():
    assert validation.validate_person_name("L'Haÿ-les-Roses", "Nom") == "L'Haÿ-les-Roses"
    assert validation.validate_person_name("L'HAŸ-LES-ROSES", "Nom") == "L'HAŸ-LES-ROSES"
    assert "Ÿ" == "ÿ".upper()


def test_names_are_normalised_to_nfc():
    decomposed = unicodedata.normalize("NFD", "Hélène Lefèvre-Œuvray")
    assert decomposed != "Hélène Lefèvre-Œuvray"
    assert validation.validate_person_name(decomposed, "Nom") == "Hélène Lefèvre-Œuvray"
    assert validation.validate_person_name("N\u2019Diaye", "Nom") == "N'Diaye"


@pytest.mark.parametrize("name, refused", [("Núñez", "ú"), ("Øster", "Ø"), ("Smith3", "3"), ("Ana_Lou", "_")])
def test_other_letters_are_refused_with_the_list_of_accepted_ones(name, refused):
    with pytest.raises(ValidationError) as caught:
        validation.validate_person_name(name, "Nom")
    message = caught.value.message
    assert f"« {refused} » non accepté" in message
    assert "à â ä é è ê ë ï î ô ö ù û ü ÿ ç æ œ" in message and "majuscules" in message
    assert caught.value.errors == {"Nom": "caractères invalides"}


def test_a_name_needs_a_letter():
    with pytest.raises(ValidationError, match="au moins une lettre"):
        validation.validate_person_name("-- '", "Prénom")
