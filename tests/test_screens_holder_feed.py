"""The operator's feed screen at 80x24, keyboard only: choose a file, follow the progress, read the report."""

from __future__ import annotations

from textual.widgets import ProgressBar

from cpf_tui.app import make_app
from models import Holder, HoursMovement, Role
from screens.holder_feed import CsvPickerModal, HolderFeedScreen
from screens.home import HomeScreen
from screens.modals import ConfirmModal
from tests.factories import make_account
from tests.feed_helpers import HOLDER_HEADER, HOURS_HEADER, holder_line, hours_line, write_feed
from tests.pilot import log_in, settle, text_of



async def test_operator_loads_holders_then_hours_with_progress_and_report(db, settings, monkeypatch, frozen_clock):
    monkeypatch.delenv("CPF_TUI_DROP_DIR", raising=False)
    folder = settings.data_path
    folder.mkdir(parents=True, exist_ok=True)
    holders = write_feed(folder / "titulaires.csv", HOLDER_HEADER,
                         [holder_line(1), holder_line(2).replace(";", ";=", 1), holder_line(3)])
    (folder / "notes.txt").write_text("à ignorer", encoding="utf-8")
    operator = await make_account(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, operator)
        assert isinstance(app.screen, HomeScreen)
        labels = [section.label for section in app.screen.sections]
        await pilot.press(*(["down"] * labels.index("Alimentation CDC")), "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HolderFeedScreen)
        assert screen.year_input.disabled  # holders chosen by default: no year

        await pilot.press("ctrl+o")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, CsvPickerModal)
        for _ in range(200):
            await pilot.pause()
            if picker.tree.root.children:
                break
        assert [str(node.label) for node in picker.tree.root.children] == ["titulaires.csv"]
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.screen is screen and screen.path_input.value == str(holders)

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("o")
        await settle(pilot)
        status = text_of(screen, "#feed-status")
        assert "refusé : 1 erreur(s)" in status and "rien n'a été modifié" in status
        report = text_of(screen, "#feed-report")
        assert "Rapport des erreurs (1) : " in report and "Ligne 3, colonne nom de naissance" in report and "formule" in report
        assert await Holder.all().count() == 0

        write_feed(holders, HOLDER_HEADER, [holder_line(i) for i in range(1, 4)])  # the operator fixes it
        await pilot.press("ctrl+s", "o")
        await settle(pilot)
        assert "3 titulaire(s) créé(s)" in text_of(screen, "#feed-status")
        bar = screen.query_one("#feed-progress", ProgressBar)
        assert bar.progress == bar.total == holders.stat().st_size  # the bar followed the reading
        assert await Holder.all().count() == 3

        hours = write_feed(folder / "heures-2025.csv", HOURS_HEADER,
                           [hours_line(1, 2025), hours_line(2, 2025, ratio="50"), hours_line(3, 2025, hours="800")])
        screen.kind_set.focus()
        await pilot.press("right", "enter")
        await pilot.pause()
        assert not screen.year_input.disabled and screen.year_input.value == "2025"
        screen.path_input.focus()
        screen.path_input.value = ""
        await pilot.press(*"heures-2025.csv", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("o")
        await settle(pilot)
        assert "heures CPF 2025 créditées à 3 titulaire(s) (48 h au total)" in text_of(screen, "#feed-status")
        assert await HoursMovement.filter(reference_year=2025).count() == 3

        await pilot.press("ctrl+s", "o")  # the same year twice
        await settle(pilot)
        assert "refusé : 3 erreur(s)" in text_of(screen, "#feed-status")
        assert "déjà créditées" in text_of(screen, "#feed-report")
        assert await HoursMovement.filter(reference_year=2025).count() == 3
        assert hours.exists()

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_a_gestionnaire_has_no_feed_section(db, settings):
    gestionnaire = await make_account(Role.GESTIONNAIRE)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, gestionnaire)
        assert "Alimentation CDC" not in [section.label for section in app.screen.sections]
