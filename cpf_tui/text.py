"""Text helpers shared by services: normalisation for search and safe display of user data.

`display()` is the one sanitiser for every stored or external text shown to a terminal (TUI, CLI,
reports): a terminal must never receive a control character it would obey (escape sequences that
set the title or clear the screen, C1 controls such as CSI U+009B) nor an invisible character that
reorders or hides what is shown (bidi overrides such as U+202E, zero-width characters). They are
written out visibly instead (`\\x1b`, `\\u202e`). `has_control_chars()` refuses the same set on input.
"""

from __future__ import annotations

import re
import unicodedata

_C0_LAYOUT = "\t\n"
_C0_OTHERS = "\x00-\x08\x0b-\x1f"
_OTHERS_CLASS = (
    "\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
"""Unicode categories Cc (C0, DEL, C1), Cf (bidi controls, zero-width and other format characters),
Cs (lone surrogates), Zl and Zp (line and paragraph separators): see tests/test_text.py."""

UNSAFE = re.compile(f"[{_C0_LAYOUT}{_C0_OTHERS}{_OTHERS_CLASS}]")
"""One character a terminal must never receive as is."""
_UNSAFE_EXCEPT_LAYOUT = re.compile(f"[{_C0_OTHERS}{_OTHERS_CLASS}]")
"""The same set with tab and newline allowed (multi-line texts)."""
UNSAFE_INPUT = _UNSAFE_EXCEPT_LAYOUT
"""What `has_control_chars` looks for, for a check that joins it to a larger pattern (a feed's lines)."""


def fold(text: str) -> str:
    """Lower-case, accents removed, spaces collapsed: the key used for searching."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.lower().split())


CONTROL_CHARS_REFUSED = "caractères de contrôle interdits"
"""The one wording of the refusal, for services (`validation.validate_text`) and screens (a paste refused)."""


def has_control_chars(text: str) -> bool:
    """True when text holds a control, bidi or invisible format character other than tab/newline."""
    return bool(_UNSAFE_EXCEPT_LAYOUT.search(text))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def display(value: object, *, multiline: bool = False) -> str:
    """`value` as text safe for a terminal: every unsafe character written out (`\\x1b`, `\\u202e`).

    With `multiline`, newlines and tabs are kept (they only move the cursor); otherwise they are
    escaped too, so one value stays on one line.
    """
    text = "" if value is None else str(value)
    return (_UNSAFE_EXCEPT_LAYOUT if multiline else UNSAFE).sub(_visible, text)


def clean_line(text: str) -> str:
    """Trim a one-line input: non-breaking spaces become spaces, outer blanks removed."""
    return text.replace("\u00a0", " ").replace("\u202f", " ").strip()
