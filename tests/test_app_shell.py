"""The App shell: login by keyboard reaches home; quitting asks first."""

from __future__ import annotations

from textual.widgets import Input, Static

from cpf_tui.app import make_app
from models import Profile, Role
from screens.home import HomeScreen
from screens.login import LoginScreen
from tests.factories import DEFAULT_PASSWORD, make_account
from tests.pilot import restyled_nodes, workers_done


async def test_login_with_keyboard_reaches_home(db, settings):
    account = await make_account(Role.GESTIONNAIRE, Profile.VALIDATION, nom="Martin", prenom="Claire")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        assert isinstance(app.screen, LoginScreen)
        await pilot.press(*account.identifier, "enter")
        await pilot.press(*DEFAULT_PASSWORD, "enter")
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert app.screen.query_one("#home-name", Static).content == "Claire Martin"
        assert "Validation" in str(app.screen.query_one("#home-role", Static).content)


async def test_wrong_password_stays_on_login_with_french_message(db, settings):
    account = await make_account()
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await pilot.press(*account.identifier, "enter", *"mauvais", "enter")
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        assert "incorrect" in str(app.screen.query_one("#login-message", Static).content)
        assert app.screen.query_one("#login-password", Input).value == ""


async def test_quit_asks_for_confirmation(db, settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
    assert app.return_code == 0


async def test_a_widget_is_restyled_once_mounted_not_while_it_is_built(db, settings, monkeypatch):
    """Class changes made while a widget is built (an Input's "-textual-compact", "-valid") restyle
    nothing; mounting applies the stylesheet, classes included; a mounted widget's class change does."""
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        restyled = restyled_nodes(app, monkeypatch)
        field = Input("déjà rempli", compact=True)
        field.add_class("-error")
        assert field.has_class("-textual-compact", "-error") and field not in restyled
        await app.screen.mount(field)
        await pilot.pause()
        assert field not in restyled
        assert field.outer_size.height == 1  # the compact style (no border) was applied at mounting
        field.add_class("-shown")
        assert field in restyled
