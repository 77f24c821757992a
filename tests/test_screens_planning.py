"""The planning screen at 80x24, keyboard only: statuses on a frozen day, operators' edit, read-only for others."""

from __future__ import annotations


from textual.widgets import DataTable, Input, Static

from cpf_tui.app import make_app
from models import AuditEvent, PlanningMilestone, Profile, Role
from screens.help import HelpModal
from screens.home import HomeScreen
from screens.planning import PlanningEditModal, PlanningScreen
from tests.factories import make_account, planning_ready
from tests.pilot import log_in, open_section, workers_done


def column(table: DataTable, key: str) -> list[str]:
    return [str(table.get_cell(row_key, key)) for row_key in table.rows]


async def test_gestionnaire_sees_statuses_and_cannot_edit(db, settings, frozen_clock):
    await planning_ready(frozen_clock)
    account = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await log_in(pilot, account)
        await open_section(pilot, "Planning")
        screen = app.screen
        assert isinstance(screen, PlanningScreen)
        statuses = column(screen.table, "status")
        assert statuses[:3] == ["✓ Terminé", "? Non daté", "▶ En cours"]
        assert statuses[5] == "· À venir"
        assert "10/12/2014" in str(screen.query_one("#planning-title", Static).content)
        assert "e" not in screen.active_bindings  # no key for what it may not do
        await pilot.press("e")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("f1")
        await pilot.pause()
        text = app.screen.content.plain
        assert isinstance(app.screen, HelpModal)
        assert "Échap" in text and "Retour" in text and "F5" in text and "Modifier" not in text
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_operator_edits_a_line_with_french_date_check(db, settings, frozen_clock):
    await planning_ready(frozen_clock)
    operator = await make_account(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await log_in(pilot, operator)
        await open_section(pilot, "Planning")
        screen = app.screen
        assert isinstance(screen, PlanningScreen)
        await pilot.press("down", "down", "down", "down", "down")  # "Traitement des fichiers d'habilitation"
        assert screen.current_line.action.startswith("Traitement")
        await pilot.press("e")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, PlanningEditModal)
        await pilot.press("tab", "tab", "tab", "ctrl+u", *"31-02-2015", "enter")
        await workers_done(app)
        await pilot.pause()
        assert app.screen is modal
        assert "n'existe pas dans le calendrier" in str(modal.query_one("#planning-edit-message", Static).content)
        assert modal.query_one("#planning-edit-end", Input).value == "31-02-2015"  # input kept
        assert (await PlanningMilestone.get(id=modal.line.id)).end_text == "31-12-2014"
        await pilot.press("ctrl+u", *"05-12-2014", "enter")
        await workers_done(app)
        await pilot.pause()
        assert "précède" in str(modal.query_one("#planning-edit-message", Static).content)
        await pilot.press("ctrl+u", *"01-2015", "enter")
        await workers_done(app)
        await pilot.pause()
        assert app.screen is screen
        assert column(screen.table, "end")[5] == "01-2015"
        stored = await PlanningMilestone.get(id=modal.line.id)
        assert stored.end_text == "01-2015"
        event = await AuditEvent.get(action="planning.edit")
        assert (event.before["end_text"], event.after["end_text"]) == ("31-12-2014", "01-2015")
