"""The one display sanitiser (`cpf_tui.text.display`) and every echo path that relies on it."""

from __future__ import annotations

import io
import sys
import unicodedata

from rich.console import Console
from rich.segment import Segment
from textual._compositor import LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip

from cpf_tui.screen_memory import ScreenMemory
from cpf_tui.services.bulk_workbook import display_value
from cpf_tui.services.identifiers import normalise_identifier
from cpf_tui.text import UNSAFE, display, has_control_chars

TITLE = "\x1b]2;PWNED\x07X"
CLEAR = "\x1b[2J\x1b[HFAUX"


def test_the_unsafe_set_is_the_unicode_control_format_and_separator_categories():
    categories = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    missing, extra = [], []
    for code in range(sys.maxunicode + 1):
        listed, unsafe = unicodedata.category(chr(code)) in categories, bool(UNSAFE.match(chr(code)))
        if listed and not unsafe:
            missing.append(hex(code))
        elif unsafe and not listed:
            extra.append(code)
    assert missing == []
    # Format controls added by Unicode 15 (Egyptian hieroglyph controls), already refused.
    assert set(extra) <= set(range(0x13439, 0x13440))


def test_display_writes_controls_and_bidi_characters_out_visibly():
    assert display(TITLE) == "\\x1b]2;PWNED\\x07X"
    assert display(CLEAR) == "\\x1b[2J\\x1b[HFAUX"
    assert display("Dupont\u202etnopuD") == "Dupont\\u202etnopuD"
    assert display("a\x9b31mb\x7f") == "a\\x9b31mb\\x7f"
    assert display("zéro\u200blargeur\u2066\U000e0041") == "zéro\\u200blargeur\\u2066\\U000e0041"
    assert display("deux\nlignes\tici") == "deux\\x0alignes\\x09ici"
    assert display("deux\nlignes\tici\r", multiline=True) == "deux\nlignes\tici\\x0d"
    assert display("Élodie Müller — 東京 [b]x[/b]") == "Élodie Müller — 東京 [b]x[/b]"
    assert display(None) == "" and display(42) == "42"


def test_input_checks_refuse_the_same_set():
    for text in (TITLE, "a\u202eb", "a\x9bb", "a\u200fb", "a\u2028b"):
        assert has_control_chars(text)
    assert not has_control_chars("Claire Martin\tligne\nsuivante")


def test_bulk_report_values_use_the_one_sanitiser():
    assert display_value("Dupont\u202etnopuD") == "Dupont\\u202etnopuD"
    assert display_value("a\x9bb") == "a\\x9bb"


def test_login_identifiers_with_controls_are_kept_inert():
    assert normalise_identifier(TITLE) == "\\x1b]2;PWNED\\x07X"
    assert normalise_identifier(CLEAR) == "\\x1b[2J\\x1b[HFAUX"
    assert normalise_identifier("gstn 2-csn") == "GSTN2CSN"


def test_screen_memory_never_sends_a_control_character_it_was_given():
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=20, height=2)
    memory = ScreenMemory()
    memory.watch_size(20, 2)
    strips = [[Strip([Segment(("a" + TITLE).ljust(20))])], [Strip([Segment("b\u202ec\xadd".ljust(20))])]]
    update = memory.filter(LayoutUpdate(strips, Region(0, 0, 20, 2)), console)
    written = update.render_segments(console)
    assert "\x07" not in written and "]2;PWNED" in written
    assert "\u202e" not in written and "\xad" not in written and "b c\ufffdd".replace(" ", "") in written
    # The text after the dropped characters keeps its columns: the same frame again sends nothing.
    assert memory.filter(LayoutUpdate(strips, Region(0, 0, 20, 2)), console) is None


def test_report_workbooks_write_controls_out(tmp_path):
    from openpyxl import load_workbook

    from cpf_tui.services.xlsx_export import SheetData, write_workbook

    path = write_workbook(tmp_path / "rapport.xlsx", [SheetData("Journal", ["Cible"], [
        ["\x1b]2;PWNED\x07X"], ["Dupont\u202etnopuD"], ["deux\nlignes\x01"],
    ])])
    values = [row[0] for row in load_workbook(path).active.iter_rows(min_row=2, values_only=True)]
    assert values == ["\\x1b]2;PWNED\\x07X", "Dupont\\u202etnopuD", "deux\nlignes\\x01"]


def test_the_bulk_result_workbook_uses_the_same_rule(tmp_path):
    from openpyxl import load_workbook

    from cpf_tui.services.result_book import RESULT_SHEET, write_result

    row = ["ABCD2345", "Dupont\u202etnopuD", "a\x01b", "e@x.fr", "", "Gestionnaire", "Clôture", "", "", "", 1]
    path = write_result(tmp_path / "resultat.xlsx", "Titre", [row])
    values = list(load_workbook(path)[RESULT_SHEET].iter_rows(min_row=3, values_only=True))[0]
    assert values[1] == "Dupont\\u202etnopuD" and values[2] == "a\\x01b"
