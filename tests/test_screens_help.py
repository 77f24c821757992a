"""Help (F1 / ?) at 80x24, keyboard only: every key of the current screen in French, and the CDC contact."""

from __future__ import annotations

from textual.widgets import Input

from cpf_tui.app import make_app
from models import Profile, Role
from screens.help import HelpModal, key_label
from screens.home import HomeScreen
from screens.login import LoginScreen
from tests.factories import make_account
from tests.pilot import log_in, workers_done


def help_of(app) -> str:
    assert isinstance(app.screen, HelpModal)
    return app.screen.content.plain


def test_key_labels_are_french():
    assert key_label("ctrl+q") == "Ctrl+Q"
    assert key_label("question_mark") == "?"
    assert key_label("escape") == "Échap"
    assert key_label("shift+tab") == "Maj+Tab"
    assert key_label("f1") == "F1"


async def test_help_on_login_lists_its_keys_and_the_contact(db, settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        assert isinstance(app.screen, LoginScreen)
        await pilot.press("question_mark")  # typing in the identifier field: a character, not the help
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#login-identifier", Input).value == "?"
        await pilot.press("f1")
        await pilot.pause()
        text = help_of(app)
        assert "Ctrl+Q" in text and "Quitter" in text
        assert "F1 " in text and "Ctrl+P" in text
        assert "F1 / ?" not in text  # "?" is a character while a field has the focus
        assert "Tab" in text and "Élément suivant" in text
        assert "Comptes de formation" not in text  # F3 exists only in the training sandbox
        for line in ("Caisse des dépôts", "24 rue Louis Gain", "49939 ANGERS Cedex 9", "CPF-gestion@caissedesdepots.fr"):
            assert line in text
        assert "Focus" not in text and "Quit " not in text  # no English left
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)


async def test_help_on_login_in_the_sandbox_shows_training_accounts_key(db, settings):
    settings.sandbox = True
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await pilot.press("f1")
        await pilot.pause()
        assert "F3" in help_of(app) and "Comptes de formation" in help_of(app)


async def test_help_on_home_lists_its_keys(db, settings):
    account = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await log_in(pilot, account)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        text = help_of(app)
        screen_part = text.split("Touches disponibles partout")[0]
        assert "x  Se déconnecter" in screen_part
        assert "Entrée" in text and "↑" in text and "↓" in text  # the menu's keys, in French
        assert "F1 / ?" in text
        await pilot.press("f1")  # F1 again closes it
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
