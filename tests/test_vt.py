"""The harnesses' terminal emulator reads what Textual writes."""

from __future__ import annotations

from tests.vt import VirtualScreen, cursor_in_field_below


def test_positioning_text_wide_characters_and_skipped_sequences():
    screen = VirtualScreen(10, 3)
    screen.feed(b"\x1b[?1049h\x1b[1;1H\x1b[38;5;2mHello\x1b[0m world\x1b[2;3Hab\xe6\xbc")  # split UTF-8
    screen.feed(b"\xa2cd\x1b]0;titre\x07\x1b[3;8Hxyz")
    assert screen.lines() == ["Hello worl", "d ab漢cd  ", "       xyz"]


def test_a_sequence_split_between_two_reads_is_kept_for_the_next():
    screen = VirtualScreen(10, 2)
    screen.feed(b"abc\x1b[2")
    screen.feed(b";4HX")
    assert screen.lines() == ["abc       ", "   X      "]


def test_erasing_and_the_cursor_left_by_a_final_move():
    screen = VirtualScreen(6, 3)
    screen.feed(b"\x1b[1;1Hlabel\x1b[2;1Hchamp\x1b[1;3H\x1b[K")
    assert screen.lines()[0] == "la    "
    screen.feed(b"\x1b[3;2H")
    assert screen.cursor == (1, 2) and screen.at_rest
    assert cursor_in_field_below(screen, 0) and not cursor_in_field_below(screen, 2)
    screen.feed(b"x")
    assert not screen.at_rest
    screen.feed(b"\x1b[2J")
    assert screen.text().strip() == ""
