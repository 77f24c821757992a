"""Keys sent in one burst (as SSH delivers them) reach exactly the field and screen they were typed for.

Every key goes through the App's KeyGate (screens/widgets/typeahead.py): a key is delivered once the
previous one has had all its effects (focus moved, screen opened and focused). Keyboard only, 80x24.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from cpf_tui.app import make_app
from models import Role
from screens.account_form import FormScreen
from screens.organisations import OrganisationsScreen
from tests.factories import make_staff
from tests.pilot import log_in, open_section, settle, wait_until


def burst(app, *keys: str) -> None:
    """Queue every key on the App at once, as the terminal driver does for one read of a burst."""
    for key in keys:
        if key in ("enter", "tab", "escape", "shift+tab"):
            character = {"enter": "\r", "tab": "\t", "escape": "\x1b"}.get(key)
            app.post_message(events.Key(key, character))
        else:
            for char in key:
                app.post_message(events.Key(char, char))


def field(screen, key: str) -> str:
    return screen.query_one(f"#field-{key}", Input).value


async def _organisations(pilot, settings) -> None:
    operator = await make_staff(Role.OPERATOR)
    await log_in(pilot, operator)
    await open_section(pilot, "Organismes")
    assert isinstance(pilot.app.screen, OrganisationsScreen)


async def test_keys_typed_with_the_key_that_opens_a_form_fill_its_fields_in_order(db, settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _organisations(pilot, settings)
        burst(app, "n", "abc", "enter", "def", "enter", "ghi", "enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        assert (field(form, "raison_sociale"), field(form, "siret"), field(form, "address")) == (
            "abc", "def", "ghi")
        assert form.focused is form.query_one("#field-contact_email")


async def test_tab_in_a_burst_moves_on_before_the_next_key(db, settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _organisations(pilot, settings)
        burst(app, "n", "abc", "tab", "def", "tab", "ghi")
        await settle(pilot)
        form = app.screen
        assert (field(form, "raison_sociale"), field(form, "siret"), field(form, "address")) == (
            "abc", "def", "ghi")


async def test_letters_typed_on_a_list_with_a_search_box_go_into_the_search(db, settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _organisations(pilot, settings)
        screen = app.screen
        assert not isinstance(screen.focused, Input)  # the list has the focus
        burst(app, "competences")
        await settle(pilot)
        assert app.screen is screen  # "o" (Opérateur) did not open a form
        assert screen.query_one("#orgs-search-input", Input).value == "competences"
        # Its keys still act once the list has the focus back.
        burst(app, "enter", "n")
        await settle(pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, FormScreen), "formulaire d'inscription")


async def test_a_key_that_is_an_action_of_the_list_still_acts(db, settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _organisations(pilot, settings)
        burst(app, "o", "Durand")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.focused is not None and form.focused.value == "Durand"
