"""Typing identifier, Enter and password without pausing never puts the password in the identifier field."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from cpf_tui.app import make_app
from screens.home import HomeScreen
from screens.login import LoginScreen
from tests.factories import DEFAULT_PASSWORD, make_account
from tests.pilot import workers_done


async def _type_ahead(app, text: str) -> None:
    """Queue every key on the identifier field at once, as a fast typist over SSH does."""
    target = app.screen.query_one("#login-identifier", Input)
    for char in text:
        if char == "\n":
            target.post_message(events.Key("enter", "\r"))
        elif char == "\t":
            target.post_message(events.Key("tab", "\t"))
        else:
            target.post_message(events.Key(char, char))


async def test_password_typed_ahead_after_enter_goes_to_the_password_field(db, settings):
    account = await make_account()
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await _type_ahead(app, f"{account.identifier}\n{DEFAULT_PASSWORD}\n")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_password_typed_ahead_after_tab_is_never_shown(db, settings):
    account = await make_account()
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await _type_ahead(app, f"{account.identifier}\tsecret")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#login-identifier", Input).value == account.identifier
        assert app.screen.query_one("#login-password", Input).value == "secret"
