"""Phone numbers typed the national way, checked once per prefix: the verdict `validate_phone` gives
every number under a prefix is the one it gives a single sample of it, when the installed
phonenumbers patterns are proved to depend on no more digits (`prefix_length`).

`validation.validate_phone` asks `accepted` first; a number it does not vouch for (international
form, a refused number, a library whose patterns are of another shape) is read by the library.
"""

from __future__ import annotations

from functools import lru_cache
import re
from typing import Any

from cpf_tui.errors import ValidationError

FR_NATIONAL = re.compile(r"0[1-9](?:[ .\-]?[0-9][0-9]){4}")
"""A number typed the French national way (06 12 34 56 78, 0692 03 67 28): 0 and 9 digits."""

_PHONE_PREFIX_MAX = 6
"""Longest national-number prefix the phone fast path caches verdicts by (10^6 entries at worst)."""
_DESC_NAMES = (
    "general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
    "voip", "pager", "uan", "emergency", "voicemail", "short_code", "standard_rate", "carrier_specific",
    "sms_services", "no_international_dialling",
)


def _digit_tail_prefix(items: Any, total: int = 9) -> int | None:
    """For a parsed regular expression fully matched against `total` ASCII digits: how many leading
    digits decide whether it matches, when every alternative is a fixed-width head followed by any
    digits (`...\\d{6}`); None when the expression is not of that form (nothing is assumed then)."""
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]

    def any_digit(item: Any) -> bool:
        op, arg = item
        if op is not sre.IN or len(arg) != 1:
            return False
        return bool(arg[0] == (sre.CATEGORY, sre.CATEGORY_DIGIT) or arg[0] == (sre.RANGE, (ord("0"), ord("9"))))

    def width(part: list[Any]) -> tuple[int, int]:
        low, high = sre_parse.SubPattern(items.state, part).getwidth() if part else (0, 0)
        return int(low), int(high)

    plain_ops = (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY, sre.BRANCH, sre.SUBPATTERN, sre.MAX_REPEAT,
                 sre.MIN_REPEAT)
    if any(op not in plain_ops for op, _arg in _walk(items)):
        return None  # a look-around, back reference or anchor could read past the head
    sequence = list(items)
    tail, end = 0, len(sequence)
    while end:
        op, arg = sequence[end - 1]
        if any_digit(sequence[end - 1]):
            tail += 1
        elif op is sre.MAX_REPEAT and arg[0] == arg[1] and len(arg[2]) == 1 and any_digit(arg[2][0]):
            tail += arg[0]
        else:
            break
        end -= 1
    if not end:
        return 0  # digits only: decides nothing
    # A fixed head, then one alternation (or group) followed by the digits: each alternative in turn.
    before, (op, arg), after = sequence[: end - 1], sequence[end - 1], sequence[end:]
    if op is sre.BRANCH:
        alternatives = [list(branch) for branch in arg[1]]
    elif op is sre.SUBPATTERN:
        alternatives = [list(arg[3])]
    else:  # no alternation at the end of the head: the whole head decides
        low, high = width(sequence[:end])
        if low != high:
            return None
        return 0 if low + tail != total else low  # a width other than `total` never matches: decides nothing
    low, high = width(before)
    if low != high:
        return None
    heads = [_digit_tail_prefix(sre_parse.SubPattern(items.state, branch + after), total - low)
             for branch in alternatives]
    known = [head for head in heads if head is not None]
    return None if len(known) != len(heads) else low + max(known, default=0)


def _walk(items: Any) -> Any:
    """Every (op, argument) of a parsed regular expression, those inside groups, alternations and
    repeats included (the members of a character set are one character: not walked)."""
    from re import _constants as sre  # type: ignore[attr-defined]

    for op, arg in items:
        yield op, arg
        if op is sre.BRANCH:
            for branch in arg[1]:
                yield from _walk(branch)
        elif op is sre.SUBPATTERN:
            yield from _walk(arg[3])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            yield from _walk(arg[2])


@lru_cache(maxsize=1)
def prefix_length() -> int | None:
    """How many leading digits of a national number (0 then 9 digits) decide `validate_phone`, or None.

    The rule reads such a number only through the phonenumbers metadata of the regions dialled
    nationally from France (the overseas ranges, validity, number type, the region of a shared country
    code) and writes it `+<country code><9 digits>`. When every pattern of those regions is a fixed head
    followed by any digits, and every leading-digits pattern is at most as long, the verdict depends on
    the head alone: it is checked here from the installed library's own patterns, never assumed.
    """
    import phonenumbers
    from re import _parser as sre_parse  # type: ignore[attr-defined]

    from cpf_tui.services.validation import NATIONAL_PLAN_REGIONS, national_plan_country_codes

    regions = set(NATIONAL_PLAN_REGIONS)
    for code in national_plan_country_codes():
        regions.update(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()))
    longest = 1
    for region in sorted(regions):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            return None
        for name in _DESC_NAMES:
            desc = getattr(metadata, name, None)
            pattern = getattr(desc, "national_number_pattern", None)
            if pattern:
                head = _digit_tail_prefix(sre_parse.parse(pattern))
                if head is None:
                    return None
                longest = max(longest, head)
        if metadata.leading_digits is not None:
            longest = max(longest, sre_parse.parse(metadata.leading_digits).getwidth()[1])
    return longest if longest <= _PHONE_PREFIX_MAX else None


_COUNTRY_BY_PREFIX: dict[tuple[str, bool], str | None] = {}
"""Country code of the numbers under a prefix the rule accepts (mobile or any), None when it refuses them."""


def accepted(text: str, *, mobile: bool) -> str | None:
    """What `validate_phone(text, mobile=mobile)` returns (E.164) for `text`, a cleaned national number
    (0 and 9 digits, spaces, dots or hyphens between pairs) it accepts, from the verdict the rule gave
    one sample of its prefix; None for anything else (the rule then reads it and gives its message)."""
    length = prefix_length()
    if length is None or not FR_NATIONAL.fullmatch(text):
        return None
    digits = text.replace(" ", "").replace(".", "").replace("-", "")[1:]
    key = (digits[:length], mobile)
    try:
        country = _COUNTRY_BY_PREFIX[key]
    except KeyError:
        from cpf_tui.services.validation import phone_by_library

        sample = key[0] + "0" * (9 - length)
        try:
            e164 = phone_by_library("0" + sample, "téléphone", mobile=mobile)
        except ValidationError:  # refused: the rule gives its message again, number by number
            e164 = ""
        code = e164[1:-9]
        country = code if e164 == f"+{code}{sample}" and code.isdigit() else None
        _COUNTRY_BY_PREFIX[key] = country
    return None if country is None else f"+{country}{digits}"


_COUNTRY_OF_PREFIX: dict[str, int] = {}
"""The country code `validation.national_number` gives the 9 digits under a prefix."""


def national_country_code(digits: str) -> int:
    """`validation.national_number(digits).country_code` for 9 ASCII digits dialled after a national 0,
    from the answer it gave one sample of their prefix (when the library's patterns are proved to
    depend on no more digits, `prefix_length`)."""
    length = prefix_length()
    try:
        return _COUNTRY_OF_PREFIX[digits[:length]]
    except KeyError:  # a prefix not seen yet (without a proof, `digits[:None]` is never stored)
        from cpf_tui.services.validation import national_number

        if length is None:
            return int(national_number(digits).country_code)
        prefix = digits[:length]
        code = _COUNTRY_OF_PREFIX[prefix] = int(national_number(prefix + "0" * (9 - length)).country_code)
        return code
