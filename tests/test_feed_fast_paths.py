"""The feed's fast paths give what the project's field rules give: NIR, mobile phone, e-mail, whole lines.

Each fast path returns the rule's own result or None (then the rule is called); these properties compare
them on generated and edge inputs, including the inputs the fast paths must leave to the rules.
"""

from __future__ import annotations

import re
from datetime import date
from re import _parser as sre_parse  # type: ignore[attr-defined]

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stdnum.fr import nir as nir_module

from cpf_tui.errors import ValidationError
from cpf_tui.services import phone_prefixes
from cpf_tui.services.feed_files import (
    _holder_rule,
    _hours_rule,
    MAX_LINE_BYTES,
    FeedReader,
    fast_holder_line,
    fast_hours_line,
    fast_mobile,
    fast_nir,
    LineCheck,
    holder_check,
    hours_check,
)
from cpf_tui.services.validation import normalise_nir
from cpf_tui.services.phone_prefixes import _digit_tail_prefix
from cpf_tui.services.validation import (
    NATIONAL_PLAN_REGIONS,
    accepted_email,
    phone_by_library,
    validate_email,
    validate_phone,
)
from cpf_tui.text import UNSAFE_INPUT, clean_line, has_control_chars
from tests.feed_helpers import HOLDER_HEADER, holder_fields, holder_line, valid_nir

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TODAY = date(2026, 12, 3)


def _rule(function, value):
    """What a rule gives: its value, or its French message."""
    try:
        return function(value)
    except ValidationError as exc:
        return ValidationError, exc.message


# -- NIR -----------------------------------------------------------------------------------------------
def _nirs():
    digits = st.text("0123456789", min_size=13, max_size=13)
    valid = digits.map(lambda base: base + nir_module.calc_check_digits(base))
    corsica = st.tuples(st.text("0123456789", min_size=5, max_size=5), st.sampled_from(["2A", "2B"]),
                        st.text("0123456789", min_size=6, max_size=6)).map(
        lambda parts: "".join(parts) + nir_module.calc_check_digits("".join(parts)))
    return st.one_of(valid, corsica, st.text("0123456789", min_size=14, max_size=16),
                     st.text("0123456789 .AB٣\u00a0", max_size=17), st.text(max_size=16),
                     valid.map(lambda nir: f"{nir[:7]} {nir[7:]}"), valid.map(lambda nir: nir[:13] + "00"))


@FAST
@given(_nirs())
@example("١٢٣٤٥٦٧٨٩٠١٢٣٤٥")  # 15 digits, but not ASCII ones
@example(valid_nir(7))
def test_the_nir_fast_path_gives_what_normalise_nir_gives(value):
    fast = fast_nir(value)
    if fast is not None:
        assert fast == normalise_nir(value)


def test_the_nir_fast_path_takes_the_nirs_of_a_cdc_file_and_leaves_the_others_to_the_rule():
    assert all(fast_nir(valid_nir(index)) == valid_nir(index) for index in range(0, 2_000_000, 9973))
    corsica = "185022A123456"
    corsica += nir_module.calc_check_digits(corsica)
    assert normalise_nir(corsica) == corsica and fast_nir(corsica) is None  # the rule reads it
    assert fast_nir(valid_nir(1)[:13] + "00") is None  # wrong key: the rule's message
    assert fast_nir(" " + valid_nir(1)) is None


# -- mobile phone --------------------------------------------------------------------------------------
PREFIXES = ["06", "07", "0692", "0693", "0690", "0691", "0694", "0696", "0697", "0639", "07090", "07091", "07092",
            "07093", "0262", "0269", "0590", "0594", "0596", "0800", "0806", "0836", "0976", "01", "02", "03",
            "04", "05", "08", "09", "0"]


def _national_numbers():
    digits = st.sampled_from(PREFIXES).flatmap(
        lambda prefix: st.text("0123456789", min_size=10 - len(prefix), max_size=10 - len(prefix)).map(
            lambda rest: prefix + rest))
    separated = st.tuples(digits, st.sampled_from([" ", ".", "-"]), st.booleans()).map(
        lambda parts: (parts[0][:4] + parts[1] + parts[1].join(parts[0][i:i + 2] for i in range(4, 10, 2))) if parts[2]
        else parts[1].join(parts[0][i:i + 2] for i in range(0, 10, 2)))
    spaced = st.tuples(st.sampled_from(["", " ", "\u00a0", "\u202f"]), separated).map(lambda pair: pair[0] + pair[1])
    return st.one_of(digits, separated, spaced, digits.map(lambda text: "+33" + text[1:]),
                     st.text("0123456789 .-+", max_size=14), st.text(max_size=14))


def _library(value, mobile):
    """What the phonenumbers library reads in `value`, as `validate_phone` would say it without the cache."""
    text = clean_line(value)
    return _rule(lambda cleaned: phone_by_library(cleaned, "téléphone", mobile=mobile), text) if text else ""


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_national_numbers(), st.booleans())
@example("06 12 34 56 78", True)
@example("06.12.34.56.78", True)
@example("0692 03 67 28", True)
@example("0639 01 23 45", True)
@example("07 09 01 23 45", True)
@example("0806 12 34 56", True)
@example("0806 12 34 56", False)
@example("01 23 45 67 89", True)
@example("01 23 45 67 89", False)
@example("0590 27 12 34", False)
@example("+33 6 12 34 56 78", False)
def test_validate_phone_gives_what_the_library_reads(value, mobile):
    """`validate_phone` (prefix verdicts first) against the library alone: value or message, both modes."""
    fast = phone_prefixes.accepted(clean_line(value), mobile=mobile)
    expected = _library(value, mobile)
    if fast is not None:
        assert fast == expected
    assert _rule(lambda text: validate_phone(text, "téléphone", required=False, mobile=mobile), value) == expected


def test_the_mobile_fast_path_takes_the_mobiles_of_a_cdc_file_overseas_ones_included():
    for value in ("06 12 34 56 78", "0756781234", "06.12.34.56.78", "0692 03 67 28", "0639 01 23 45"):
        assert fast_mobile(value) == _library(value, True)
    assert fast_mobile("0692 03 67 28") == "+262692036728"
    assert phone_prefixes.accepted("01 23 45 67 89", mobile=False) == "+33123456789"
    for refused in ("01 23 45 67 89", "0800 12 34 56", "06 12 34 56"):  # the rule gives the message
        assert fast_mobile(refused) is None
        with pytest.raises(ValidationError):
            validate_phone(refused, "téléphone", required=False, mobile=True)
    assert fast_mobile("+33 6 12 34 56 78") is None  # international form: the rule reads it


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=10**8, max_value=10**9 - 1), st.booleans())
def test_every_prefix_verdict_holds_for_any_number_under_that_prefix(number, mobile):
    """The cache by prefix against the library, number by number, over the whole national range."""
    value = f"0{number}"
    expected = _library(value, mobile)
    assert phone_prefixes.accepted(value, mobile=mobile) == (None if isinstance(expected, tuple) else expected)


def test_without_a_proof_of_the_library_patterns_every_number_goes_to_the_rule(monkeypatch):
    monkeypatch.setattr(phone_prefixes, "prefix_length", lambda: None)
    assert fast_mobile("06 12 34 56 78") is None
    assert validate_phone("06 12 34 56 78") == "+33612345678"  # read by the library
    parse = holder_parser(TODAY)
    fields = holder_fields(3)
    assert parse(2, fields) == _holder_rule(TODAY)(2, fields)
    assert parse(2, fields)[0] is not None


def _patterns():
    for region in NATIONAL_PLAN_REGIONS:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        for name in phone_prefixes._DESC_NAMES:
            pattern = getattr(getattr(metadata, name, None), "national_number_pattern", None)
            if pattern:
                yield pattern


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(set(_patterns()))), st.text("0123456789", min_size=9, max_size=9),
       st.text("0123456789", min_size=9, max_size=9))
def test_the_prefix_a_library_pattern_depends_on_is_right(pattern, first, second):
    head = _digit_tail_prefix(sre_parse.parse(pattern))
    assert head is not None and head <= 5
    other = first[:head] + second[head:]
    assert bool(re.fullmatch(pattern, first)) == bool(re.fullmatch(pattern, other))


@pytest.mark.parametrize(("pattern", "head"), [
    (r"\d{9}", 0), (r"1\d{8}", 1), (r"1\d{7}", 0), (r"(?:1|23)\d{7}", 2), (r"12(?:3|4\d)\d{5}", 3),
    (r"1[^5]\d{7}", 2), (r"1(?:2|3)4\d{6}", 3),
    (r"(?=\d{3}5)\d{9}", None), (r"(1)\1\d{7}", None), (r"^1\d{8}$", None), (r"1\d+", None),
    (r"1(?:2\d*)?\d{7}", None), (r"1(?:2|(?!3)\d)\d{7}", None),
])
def test_a_pattern_of_another_shape_is_not_assumed(pattern, head):
    assert _digit_tail_prefix(sre_parse.parse(pattern)) == head


# -- e-mail --------------------------------------------------------------------------------------------
@FAST
@given(st.one_of(st.emails().map(str), st.text(max_size=30), st.from_regex(r"[a-z.]{0,8}@[a-zé.\-]{0,12}", fullmatch=True)))
@example("titulaire1@exemple.fr")
@example("a..b@exemple.fr")
@example("pas-une-adresse")
def test_the_email_fast_path_gives_what_validate_email_gives(value):
    """`accepted_email` (an ASCII address, its domain checked once) is `validate_email`'s own answer for
    a clean line; None leaves the address to email-validator."""
    text = clean_line(value)
    if has_control_chars(text):
        return
    fast = accepted_email(text)
    if fast is not None:
        assert fast == _rule(lambda address: validate_email(address, "courriel"), text)


def test_the_email_fast_path_takes_the_usual_addresses():
    assert accepted_email("titulaire1@exemple.fr") == "titulaire1@exemple.fr"
    assert accepted_email("a..b@exemple.fr") is None  # refused by the rule, with its message
    assert accepted_email("zoé@exemple.fr") is None  # not ASCII: email-validator reads it


# -- whole lines ---------------------------------------------------------------------------------------
def _checked(check: LineCheck, line: int, values: list[str]):
    """One line's cells through a feed's check as `check_lines` gives them: the fast reading, else the rules."""
    row = check.fast(line, ";".join(values)) if check.fast is not None else None
    return (row, []) if row is not None else check.parse(line, values)


def holder_parser(today, *, dates_as_text=False):
    check = holder_check(today, dates_as_text=dates_as_text)
    return lambda line, values: _checked(check, line, values)


def hours_parser(year):
    check = hours_check(year)
    return lambda line, values: _checked(check, line, values)


BAD_CELLS = ["", " ", "=1+1", "@SUM(A1)", "+33 6 12 34 56 78", "-x", "Jean\x1b[2J", "MARTIN\u202eNITRAM", "R2D2",
             "01/01/2099", "31/02/2000", "1899-12-31", "pas-une-adresse", "01 23 45 67 89", "0692 03 67 28",
             " MARTIN ", "\u00a006 12 34 56 78", "2A", "Zoé\u200b"]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=5_000_000),
       st.lists(st.tuples(st.integers(0, 6), st.one_of(st.sampled_from(BAD_CELLS), st.text(max_size=12))),
                max_size=3))
def test_a_holder_line_gets_the_same_row_or_errors_as_with_the_rules_alone(index, changes):
    values = holder_fields(index)
    for position, value in changes:
        values[position] = value
    assert holder_parser(TODAY)(5, list(values)) == _holder_rule(TODAY)(5, list(values))
    as_text = holder_parser(TODAY, dates_as_text=True)(5, list(values))  # SQLite's staging rows
    assert as_text == _holder_rule(TODAY, dates_as_text=True)(5, list(values))
    row = holder_parser(TODAY)(5, list(values))[0]
    assert as_text[0] == (None if row is None else (*row[:5], row[5].isoformat(), *row[6:]))


HOURS_CELLS = ["", "2025", "2024", "２０２５", " 2025 ", "100", "50,5", "0", "-50", "250", "9000", "1607", "8",
               "=1+1", "1 607,5", "abc", valid_nir(1)[:13] + "00"]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=5_000_000),
       st.lists(st.one_of(st.sampled_from(HOURS_CELLS), st.text(max_size=8)), min_size=3, max_size=3))
def test_an_hours_line_gets_the_same_row_or_errors_as_with_the_rules_alone(index, cells):
    values = [valid_nir(index), *cells]
    assert hours_parser(2025)(4, list(values)) == _hours_rule(2025)(4, list(values))


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=10**8, max_value=10**9 - 1))
@example(262123456)
@example(692036728)
@example(596123456)
def test_the_region_of_a_national_number_by_prefix_is_the_library_s(number):
    from cpf_tui.services.validation import national_number

    digits = str(number)
    assert phone_prefixes.national_country_code(digits) == national_number(digits).country_code


# -- whole lines, as the fast reading sees them (text with any number of cells) ----------------------
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=5_000_000),
       st.lists(st.tuples(st.integers(0, 6), st.one_of(st.sampled_from([*BAD_CELLS, "a;b", ";"]),
                                                       st.text(max_size=12))), max_size=3))
def test_the_fast_holder_line_gives_the_rules_row_or_leaves_the_line_to_them(index, changes):
    values = holder_fields(index)
    for position, value in changes:
        values[position] = value
    text = ";".join(values)
    for as_text in (False, True):
        row = fast_holder_line(TODAY, dates_as_text=as_text)(5, text)
        if row is not None:
            assert (row, []) == _holder_rule(TODAY, as_text)(5, text.split(";"))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=5_000_000),
       st.lists(st.one_of(st.sampled_from([*HOURS_CELLS, "1;2"]), st.text(max_size=8)), min_size=3, max_size=3))
def test_the_fast_hours_line_gives_the_rules_row_or_leaves_the_line_to_them(index, cells):
    text = ";".join([valid_nir(index), *cells])
    row = fast_hours_line(2025)(4, text)
    if row is not None:
        assert (row, []) == _hours_rule(2025)(4, text.split(";"))


def test_the_usual_lines_are_read_by_the_fast_reading():
    assert fast_holder_line(TODAY)(2, holder_line(3)) is not None
    assert fast_holder_line(TODAY)(2, holder_line(3, usage="DURAND", email="", phone="")) is not None
    assert fast_hours_line(2025)(2, f"{valid_nir(3)};2025;80;") == (2, valid_nir(3), 80)


def test_every_character_has_control_chars_refuses_is_not_printable():
    """The fast reading looks for control characters only in a line that is not all printable (a check
    made in C): that is exact only if no character of the refused set counts as printable."""
    refused = [code for code in range(0x110000) if UNSAFE_INPUT.match(chr(code))]
    assert len(refused) > 200
    assert not [hex(code) for code in refused if chr(code).isprintable()]


# -- reading by blocks ---------------------------------------------------------------------------------
def _lines_by_reference(data: bytes) -> list[bytes | None]:
    """The data lines of a file as the line-by-line reading gave them (None: too long, a CR counted)."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return [None if len(part) > MAX_LINE_BYTES else part.removesuffix(b"\r") for part in parts[1:]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
                          st.integers(MAX_LINE_BYTES - 2, MAX_LINE_BYTES + 2).map(lambda n: b"x" * n),
                          st.integers(MAX_LINE_BYTES + 3, 3 * MAX_LINE_BYTES).map(lambda n: b"y" * n)), max_size=40),
       st.sampled_from([b"\n", b"\r\n"]), st.booleans(), st.integers(1, 5), st.sampled_from([7, 64, 5000, 1 << 18]))
def test_reading_by_blocks_cuts_the_lines_as_reading_them_one_by_one(tmp_path, monkeypatch, lines, end, last_end,
                                                                    batch, block):
    """Lines across block ends, lines longer than a block or than MAX_LINE_BYTES, CR LF, no final end."""
    import hashlib

    from cpf_tui.services import feed_files

    monkeypatch.setattr(feed_files, "READ_BYTES", block)
    data = end.join([HOLDER_HEADER.encode(), *lines]) + (end if last_end else b"")
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    reader = FeedReader(path, feed_files.HOLDER_COLUMNS)
    reader.read_header()
    found: list[bytes | None] = []
    first_lines = []
    while True:
        raw = reader.next_raw_batch(batch)
        first_lines.append(raw.first_line)
        assert len(raw.lines) <= batch
        found.extend(raw.lines)
        if raw.eof:
            break
    assert found == _lines_by_reference(data)
    assert first_lines == list(range(2, 2 + batch * len(first_lines), batch))
    assert reader.sha256() == hashlib.sha256(data).hexdigest() and reader.bytes_read == len(data)
    reader.close()


def test_the_checking_process_starts_without_the_orm():
    """The checking process starts while the first batch is checked here: it imports the field rules
    only (the ORM and the models took it 0.4 s more, the whole check of a 5,000-line batch)."""
    import subprocess
    import sys

    code = ("import sys; from cpf_tui.services import feed_files as f; from tests.feed_helpers import holder_line\n"
            "for kind, argument, line in (('holders', '2026-12-03', holder_line(5)), ('hours', '2025', 'x;1;2;3')):\n"
            "    check = f.line_check(kind, argument, True)\n"
            "    check.fast(2, line); check.parse(2, line.split(';'))\n"
            "check.parse(2, ['1', '2', '3', '4']); f.line_check('holders', '2026-12-03', True).parse(2, ['x'] * 7)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tortoise', 'models', 'textual')))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "[]"
