"""Stored moments (UTC) are shown in one zone everywhere: metropolitan France."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from cpf_tui import clock
from cpf_tui.services import journal


def test_winter_and_summer_times_are_shown_in_paris_time():
    assert clock.shown(datetime(2026, 1, 15, 23, 30, tzinfo=timezone.utc)) == "16/01/2026 00:30"
    assert clock.shown(datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc), "%H:%M") == "10:00"


def test_nothing_is_a_dash_and_naive_moments_are_read_as_utc():
    assert clock.shown(None) == "—"
    assert clock.shown(datetime(2026, 1, 15, 9, 0)) == "15/01/2026 10:00"


def test_the_journal_and_the_other_screens_agree():
    moment = datetime(2026, 3, 29, 0, 59, tzinfo=timezone.utc)  # the night Paris moves to summer time
    assert journal.format_at(moment) == clock.shown(moment, "%d/%m/%Y %H:%M:%S") == "29/03/2026 01:59:00"
    assert clock.shown(datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc), "%H:%M") == "03:00"


def test_file_names_and_today_are_in_paris_time():
    from cpf_tui.services import holder_feed

    late = datetime(2026, 1, 15, 23, 30, tzinfo=timezone.utc)  # already 16 January in Paris
    clock.set_now(lambda: late)
    try:
        assert clock.today().isoformat() == "2026-01-16"
        assert clock.file_stamp() == "20260116-003000"
        assert journal.default_export_path(Path("/d")).name == "journal-20260116-003000.xlsx"
        assert holder_feed.report_path_for(Path("/nulle-part"), "titulaires").name == "rapport-titulaires-20260116-003000.csv"
    finally:
        clock.set_now(None)
