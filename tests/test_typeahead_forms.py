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
from tests.factories import make_staff, planning_ready
from tests.pilot import log_in, open_section, settle, wait_until


_KEY_NAMES = {"/": "slash", "-": "minus", "!": "exclamation_mark", "#": "number_sign", " ": "space"}


def burst(app, *keys: str) -> None:
    """Queue every key on the App at once, as the terminal driver does for one read of a burst."""
    for key in keys:
        if key in ("enter", "tab", "escape", "shift+tab", "ctrl+a", "ctrl+k"):
            character = {"enter": "\r", "tab": "\t", "escape": "\x1b", "ctrl+a": "\x01", "ctrl+k": "\x0b"}.get(key)
            app.post_message(events.Key(key, character))
        else:
            for char in key:
                app.post_message(events.Key(_KEY_NAMES.get(char, char), char))


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


async def test_a_burst_fills_the_planning_box_opened_by_its_first_key(db, settings, frozen_clock):

    from models import PlanningMilestone
    from screens.planning import PlanningEditModal

    await planning_ready(frozen_clock)
    operator = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Planning")
        line_id = app.screen.current_line.id
        # `e` opens the box; select-all + kill empties each field before the new text.
        burst(app, "e", *[key for text in ("Ouverture", "CDC", "01/12/2014", "31122014")
                         for key in ("ctrl+a", "ctrl+k", text, "enter")])
        await settle(pilot)
        assert not isinstance(app.screen, PlanningEditModal)
        stored = await PlanningMilestone.get(id=line_id)
        assert (stored.action, stored.responsible, stored.start_text, stored.end_text) == (
            "Ouverture", "CDC", "01-12-2014", "31-12-2014")


async def test_a_burst_types_the_search_then_opens_the_person(db, settings, monkeypatch):
    from cpf_tui.services import accounts as accounts_service
    from models import Account, Establishment, Profile
    from screens.user_search import UserSearchScreen
    from screens.user_tree import UserTreeScreen
    from tests.factories import make_organisation

    monkeypatch.setattr(UserSearchScreen, "debounce_seconds", 0.0)
    org = await make_organisation("Delta")
    head = await Establishment.get(organisation=org)
    principal = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org, establishment=head, nom="Garnier")
    target = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org, establishment=head,
                              nom="Fontaine", prenom="Jean")
    await Account.filter(id=target.id).update(search_text=accounts_service.search_text_of(target, head.name))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        burst(app, "/", "fontaine")
        await settle(pilot)
        search = app.screen
        assert isinstance(search, UserSearchScreen)
        assert search.query_input.value == "fontaine"
        burst(app, "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, UserTreeScreen)
        await wait_until(pilot, lambda: app.screen.current is not None and app.screen.current.id == target.id,
                         "fiche de la personne trouvée")


async def test_a_burst_changes_the_password(db, settings, fast_argon2):
    from screens.password import PasswordScreen
    from tests.factories import DEFAULT_PASSWORD

    account = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        app.push_screen(PasswordScreen(app.session, mandatory=False))
        strong = "Vx9#qLm2-tRz8!kWp"
        burst(app, DEFAULT_PASSWORD, "enter", strong, "enter", strong, "enter")
        await settle(pilot)
        await wait_until(pilot, lambda: not isinstance(app.screen, PasswordScreen), "mot de passe changé")
        from cpf_tui.services import passwords
        from models import Account

        assert passwords.verify((await Account.get(id=account.id)).password_hash, strong)


async def test_a_key_typed_while_the_password_is_checked_acts_on_home(db, settings):
    """« identifier, Entrée, password, Entrée, 2 » in one burst: the 2 waits for the check, then opens section 2."""
    from models import Profile
    from screens.dossiers import DossierListScreen
    from tests.factories import DEFAULT_PASSWORD
    from tests.pilot import wait_for_screen

    user = await make_staff(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, "LoginScreen")
        await app.wait_database()
        burst(app, user.identifier, "enter", DEFAULT_PASSWORD, "enter", "2")
        await settle(pilot)
        assert isinstance(app.screen, DossierListScreen)


async def test_enter_typed_while_a_search_runs_opens_the_holder_found(db, settings):
    """« NIR, Entrée, Entrée » in one burst: the second Entrée waits for the results and opens the holder."""
    from models import Profile
    from screens.holder_page import HolderPageScreen
    from tests.holder_helpers import funded_holder
    from tests.pilot import login_and_open

    holder = await funded_holder()
    user = await make_staff(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        burst(app, holder.nir, "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, HolderPageScreen)
        assert app.screen.holder_id == holder.id


async def test_a_training_file_typed_in_one_burst_is_saved_as_typed(db, settings, frozen_clock):
    """« n », eight fields each followed by Entrée, then Ctrl+S, in one burst: the draft holds exactly what was typed."""
    from datetime import date

    from models import Dossier, DossierStatus, Profile
    from tests.factories import make_account, make_organisation
    from tests.holder_helpers import funded_holder
    from tests.pilot import login_and_open
    from tests.holder_helpers import PROVIDER_SIRET as SIRET

    org = await make_organisation()
    user = await make_account(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    holder = await funded_holder(50 * 60)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        typed = [holder.nir, "Anglais des affaires", "Lingua Pro", SIRET, "02/03/2026", "30/04/2026", "40 h",
                 "30 h 30"]
        burst(app, "n", *(key for value in typed for key in (value, "enter")), "ctrl+s")
        await settle(pilot)
        dossier = await Dossier.get()
        assert (dossier.status, dossier.training_title, dossier.provider_name, dossier.start_date,
                dossier.end_date, dossier.requested_minutes) == (
            DossierStatus.DRAFT, "Anglais des affaires", "Lingua Pro", date(2026, 3, 2), date(2026, 4, 30), 30 * 60 + 30)


async def test_the_holder_dialogs_typed_in_one_burst_store_what_was_typed(db, settings):
    """On a holder's page, « e », e-mail, Entrée, mobile, Entrée then « s », hours, Entrée, reason, Entrée."""
    from models import Holder, Profile
    from screens.holder_page import HolderPageScreen
    from tests.holder_helpers import funded_holder
    from tests.pilot import login_and_open

    holder = await funded_holder(dif_minutes=60 * 10)
    user = await make_staff(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        burst(app, holder.nir, "enter", "enter", "e", "ctrl+a", "ctrl+k", "burst@exemple.fr", "enter",
              "ctrl+a", "ctrl+k", "0612345678", "enter", "s", "ctrl+a", "ctrl+k", "12 h 30", "enter",
              "Attestation employeur", "enter")
        await settle(pilot)
        assert isinstance(app.screen, HolderPageScreen)
        stored = await Holder.get(id=holder.id)
        assert (stored.email, stored.mobile) == ("burst@exemple.fr", "+33612345678")
        from cpf_tui.services import holders

        page = await holders.holder_page(app.screen.ctx, holder.id)
        assert page.balances.dif_total == 12 * 60 + 30


async def test_keys_held_for_a_stuck_worker_go_on_after_the_safety_delay(monkeypatch):
    """A key's worker that never ends (a dead database) holds the next keys SAFETY_SECONDS at most."""
    import asyncio

    from textual.app import App
    from textual.binding import Binding
    from textual.screen import Screen

    from screens.widgets.typeahead import KeyGate

    monkeypatch.setattr(KeyGate, "SAFETY_SECONDS", 0.3)
    acted: list[str] = []

    class Stuck(Screen[None]):
        BINDINGS = [Binding("s", "stuck", "Bloqué"), Binding("a", "act('a')", "A"), Binding("b", "act('b')", "B")]

        def action_stuck(self) -> None:
            self.run_worker(asyncio.Event().wait(), group="stuck")

        def action_act(self, name: str) -> None:
            acted.append(name)

    class GateApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.key_gate = KeyGate(self, super().on_event)

        def on_mount(self) -> None:
            self.push_screen(Stuck())

        async def on_event(self, event) -> None:  # noqa: ANN001 - any event
            if isinstance(event, events.Key) and not event.is_forwarded:
                await self.key_gate.receive(event)
                return
            await super().on_event(event)

    app = GateApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        burst(app, "s", "a")
        await pilot.pause(0.1)
        assert acted == []  # held: the worker "s" started is still running
        await pilot.pause(0.4)
        burst(app, "b")
        await wait_until(pilot, lambda: acted == ["a", "b"], "touches relâchées après le délai de sûreté")


async def test_the_gate_rounds_never_make_textual_read_a_signature(db, settings, monkeypatch):
    """Each key's rounds post a callback to every node on the way to the App; Textual reads the signature
    of a callback it has not seen (`inspect.signature`, ≈ 0.1 ms each, 15 a key) unless the callback says
    how many parameters it takes. The gate's callbacks say it: typing costs no signature reading."""
    from textual import _callback

    read: list[str] = []
    original = _callback._count_parameters

    def spy(func):  # noqa: ANN001, ANN202 - any callable, as Textual's own
        read.append(getattr(func, "__qualname__", repr(func)))
        return original(func)

    await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        monkeypatch.setattr(_callback, "_count_parameters", spy)
        await pilot.press(*"ABCDEFGH", *["backspace"] * 8)
        await settle(pilot)
        assert app.key_gate.rounds_total > 0
    assert not [name for name in read if name.startswith("KeyGate.")], read
