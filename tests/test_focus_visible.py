"""The focused field is obvious without colour, every field shows its frame, even empty (80x24, keys only)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label, Select

from cpf_tui.app import make_app
from cpf_tui.textual_internals import screen_strips
from models import Role
from screens.account_form import FormScreen
from tests.factories import make_staff
from tests.pilot import log_in, open_section, settle

def _line(widget) -> str:
    """What the screen draws where `widget` is (its frame included)."""
    region = widget.region
    strip = screen_strips(widget.screen)[region.y]
    return strip.crop(region.x, region.right).text


def _reversed(widget) -> bool:
    """Whether `widget`'s first line is drawn in reverse video."""
    region = widget.region
    strip = screen_strips(widget.screen)[region.y].crop(region.x, region.right)
    return all(segment.style is not None and segment.style.reverse for segment in strip if segment.text.strip())


@pytest.mark.parametrize("environment", [{"TERM": "linux"}, {"NO_COLOR": "1"}])
async def test_the_focused_field_has_a_double_frame_and_a_reversed_label(db, settings, monkeypatch, environment):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    operator = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Organismes")
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        first, second = form.query_one("#field-raison_sociale", Input), form.query_one("#field-siret", Input)
        assert form.focused is first
        for _ in range(2):
            focused, other = (first, second) if form.focused is first else (second, first)
            assert _line(focused).startswith("║") and _line(focused).endswith("║")
            # Empty and unfocused: its extent still shows, with ASCII sides.
            assert _line(other).startswith("|") and _line(other).endswith("|")
            assert _reversed(form.query_one(f"#{focused.id}").parent.query_one(Label))
            assert not _reversed(other.parent.query_one(Label))
            await pilot.press("tab")
            await settle(pilot)
        # A choice list too: double sides when focused, its label reversed.
        structure = form.query_one("#field-structure_type", Select)
        while form.focused is not structure:
            await pilot.press("tab")
        await settle(pilot)
        assert _reversed(structure.parent.query_one(Label))
        current = structure.query_one("SelectCurrent")
        assert _line(current).startswith("║")
        assert set(_line(current)) & {"▔", "▁", "▊", "▎"} == set()
