"""Forms at 80x24, keys only: Entrée moves on everywhere, Échap on a changed form asks, one planning date form."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from textual.widgets import Input

from cpf_tui.app import make_app
from cpf_tui.errors import ValidationError
from cpf_tui.services.planning import parse_planning_date, planning_date_text
from models import PlanningMilestone, Role
from screens.account_form import FormScreen
from screens.dossier_form import DossierFormScreen
from screens.modals import ConfirmModal
from screens.organisations import OrganisationsScreen
from screens.planning import PlanningEditModal, PlanningScreen
from tests.factories import make_organisation, make_staff, planning_ready
from tests.holder_helpers import closable_file, funded_holder, open_first_file
from tests.pilot import log_in, login_and_open, open_section, settle


@pytest.mark.parametrize("typed, stored", [
    ("15/01/2015", "15-01-2015"), ("5.1.2015", "05-01-2015"), ("15012015", "15-01-2015"),
    ("15 01 2015", "15-01-2015"), ("1/2015", "01-2015"), ("01-2015", "01-2015"), ("", ""),
])
def test_planning_dates_are_stored_in_one_form(typed, stored):
    assert planning_date_text(parse_planning_date(typed, "Début")) == stored


def test_a_date_that_is_no_date_is_refused_in_french():
    with pytest.raises(ValidationError, match="n'est pas une date"):
        parse_planning_date("1501201", "Début")


async def test_planning_edit_enter_moves_on_and_the_date_is_stored_in_one_form(db, settings, frozen_clock):
    await planning_ready(frozen_clock)
    operator = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Planning")
        assert isinstance(app.screen, PlanningScreen)
        await pilot.press("e")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, PlanningEditModal)
        await pilot.press("end", *" (kit)", "enter")  # Entrée in the first field: next field, no save
        await settle(pilot)
        assert app.screen is modal and modal.focused is modal.query_one("#planning-edit-responsible", Input)
        assert not await PlanningMilestone.filter(action__endswith="(kit)").exists()
        await pilot.press("enter", "ctrl+u", *"15/01/2015", "enter", "ctrl+u", *"31012015", "enter")
        await settle(pilot)
        assert app.screen is not modal
        stored = await PlanningMilestone.get(id=modal.line.id)
        assert (stored.action.endswith("(kit)"), stored.start_text, stored.end_text) == (
            True, "15-01-2015", "31-01-2015")


async def test_escape_on_a_changed_form_asks_and_keeps_the_input(db, settings):
    operator = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Organismes")
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        await pilot.press("escape")  # nothing typed: closed at once
        await settle(pilot)
        assert isinstance(app.screen, OrganisationsScreen)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        await pilot.press(*"CF Loire", "escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")  # keep typing
        await settle(pilot)
        assert app.screen is form
        assert form.query_one("#field-raison_sociale", Input).value == "CF Loire"
        await pilot.press("escape", "o")
        await settle(pilot)
        assert isinstance(app.screen, OrganisationsScreen)


async def test_a_mismatched_confirmation_keeps_the_new_password(db, settings, fast_argon2):
    from screens.password import PasswordScreen
    from tests.factories import DEFAULT_PASSWORD

    account = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        app.push_screen(PasswordScreen(app.session, mandatory=False))
        await settle(pilot)
        screen = app.screen
        strong = "Vx9#qLm2-tRz8!kWp"
        await pilot.press(*DEFAULT_PASSWORD, "enter", *strong, "enter", *strong[:-1], "enter")
        await settle(pilot)
        assert app.screen is screen
        assert "ne correspond pas" in str(screen.query_one("#password-message").content)
        assert screen.new_input.value == strong  # kept: only the confirmation is typed again
        assert screen.confirm_input.value == "" and screen.focused is screen.confirm_input


async def test_a_new_establishment_starts_with_the_organisations_siren(db, settings):
    from models import Establishment
    from tests.factories import make_organisation, make_siret

    operator = await make_staff(Role.OPERATOR)
    organisation = await make_organisation("Atelier Loire")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Organismes")
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.query_one("#field-siret", Input).value == organisation.siren
        nic = make_siret(organisation.siren, 7)[9:]
        await pilot.press(*nic, "enter", *"Atelier Est", "enter", "enter")
        await settle(pilot)
        assert await Establishment.filter(siret=organisation.siren + nic, name="Atelier Est").exists()


async def test_x_on_home_asks_before_logging_out(db, settings):
    from screens.home import HomeScreen
    from screens.login import LoginScreen

    account = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen) and app.session is not None
        await pilot.press("x", "o")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None


@pytest.mark.parametrize("typed", ["18061991", "18/06/1991", "18/6/1991", "18.06.1991", "1991-06-18"])
def test_dates_are_accepted_in_the_usual_forms(typed):
    from datetime import date

    from cpf_tui.services.validation import parse_date_fr

    assert parse_date_fr(typed, "Date de naissance") == date(1991, 6, 18)


def test_an_impossible_compact_date_is_refused_in_french():
    from cpf_tui.services.validation import parse_date_fr

    with pytest.raises(ValidationError, match="date invalide"):
        parse_date_fr("31021991", "Date de naissance")


def _login_message(app) -> str:  # noqa: ANN001
    from textual.widgets import Static

    return str(app.screen.query_one("#login-message", Static).content)


def _screen_text(app) -> list[str]:  # noqa: ANN001
    """The lines the screen draws now (toasts included)."""
    from cpf_tui.textual_internals import screen_strips

    return [strip.text for strip in screen_strips(app.screen)]


async def test_the_previous_users_logout_notice_is_gone_for_the_next_one(db, settings):
    account = await make_staff(Role.OPERATOR)
    other = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        await pilot.press("x", "o")
        await settle(pilot)
        assert "déconnecté" in _login_message(app)
        assert not app._notifications  # on the login screen's line, not in a toast over its windows (F3, F2)
        await log_in(pilot, other)
        assert not any("déconnecté" in line for line in _screen_text(app))


async def test_holder_search_by_compact_birth_date_and_no_stale_row_after_a_refusal(db, settings):
    from datetime import date

    from textual.widgets import DataTable, Static

    from models import Profile
    from tests.holder_helpers import funded_holder
    from tests.pilot import login_and_open

    await funded_holder(nom_naissance="Lemoine", search_name="LEMOINE", prenoms="Paul", date_naissance=date(1991, 6, 18))
    user = await make_staff(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        await pilot.press(*"lem", "enter", *"18061991", "enter")
        await settle(pilot)
        table = app.screen.query_one("#holder-results", DataTable)
        assert table.row_count == 1
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"1 85 05 78 006 084 00", "enter")  # wrong key
        await settle(pilot)
        assert "clé" in str(app.screen.query_one("#holder-message", Static).content)
        assert table.row_count == 0  # the previous answer is gone


async def test_escape_on_a_changed_training_file_asks_and_keeps_the_input(db, settings):
    from models import Dossier, Profile
    from screens.dossier_form import DossierFormScreen
    from screens.dossiers import DossierListScreen
    from tests.pilot import login_and_open

    user = await make_staff(Role.GESTIONNAIRE, Profile.CREATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DossierFormScreen)
        await pilot.press("tab", *"Anglais des affaires", "escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")  # keep typing: nothing lost
        await settle(pilot)
        assert app.screen is form
        assert form.query_one("#dossier-training_title", Input).value == "Anglais des affaires"
        await pilot.press("escape", "o")
        await settle(pilot)
        assert isinstance(app.screen, DossierListScreen)
        await pilot.press("n")  # a form left untouched closes at once
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DossierListScreen)
    assert await Dossier.all().count() == 0


async def test_the_logout_notice_is_gone_for_a_newcomer_on_the_cgu(db, settings, fast_argon2):
    """Typed at the login screen, the next person's first login opens the CGU without the previous notice."""
    from screens.cgu import CguScreen
    from tests.factories import DEFAULT_PASSWORD, make_account
    from tests.pilot import log_in_with_keys, wait_until

    account = await make_staff(Role.OPERATOR)
    newcomer = await make_account(Role.GESTIONNAIRE, temporary=True,
                                  temp_password_expires_at=datetime.now(timezone.utc) + timedelta(days=7))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        await pilot.press("x", "o")
        await settle(pilot)
        assert "déconnecté" in _login_message(app)
        await log_in_with_keys(pilot, newcomer.identifier, DEFAULT_PASSWORD)
        await wait_until(pilot, lambda: isinstance(app.screen, CguScreen), "CGU du nouvel utilisateur")
        assert not any("déconnecté" in line for line in _screen_text(app))


async def test_escape_on_a_typed_password_change_asks_first(db, settings):
    from screens.home import HomeScreen
    from screens.password import PasswordScreen
    from tests.pilot import open_section

    account = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        await open_section(pilot, "password")
        screen = app.screen
        assert isinstance(screen, PasswordScreen) and not screen.mandatory
        await pilot.press("escape")  # nothing typed: back at once
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        await open_section(pilot, "password")
        screen = app.screen
        await pilot.press(*"Vx9#qLm2", "escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen and screen.focused is not None and screen.focused.value == "Vx9#qLm2"
        await pilot.press("escape", "o")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def _escape_asks_then_keeps_then_discards(pilot, dialog_type) -> None:  # noqa: ANN001
    """On the dialog shown: Échap unchanged closes it; typed then Échap asks, `n` keeps, Échap `o` closes."""
    app = pilot.app
    dialog = app.screen
    assert isinstance(dialog, dialog_type), type(dialog).__name__
    field = dialog.focused
    assert isinstance(field, Input), field
    await pilot.press("end", *"xyz", "escape")
    await settle(pilot)
    assert isinstance(app.screen, ConfirmModal)
    await pilot.press("n")  # keep typing
    await settle(pilot)
    assert app.screen is dialog and field.value.endswith("xyz")
    await pilot.press("escape", "o")
    await settle(pilot)
    assert not isinstance(app.screen, dialog_type | ConfirmModal)


async def _holder_page(pilot, user):  # noqa: ANN001
    from tests.holder_helpers import funded_holder
    from tests.pilot import login_and_open

    holder = await funded_holder(dif_minutes=60 * 10)
    await login_and_open(pilot, user, "holders")
    await pilot.press(*holder.nir, "enter")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.parametrize("key", ["e", "s"], ids=["coordonnees", "solde-dif"])
async def test_escape_on_a_changed_holder_dialog_asks_and_keeps_the_input(db, settings, key):
    from models import Profile
    from screens.holder_page import HolderPageScreen

    user = await make_staff(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _holder_page(pilot, user)
        page = app.screen
        assert isinstance(page, HolderPageScreen)
        await pilot.press(key)
        await settle(pilot)
        await _escape_asks_then_keeps_then_discards(pilot, type(app.screen))
        assert app.screen is page


async def test_escape_on_a_changed_closure_dialog_asks_and_keeps_the_input(db, settings, frozen_clock):
    org = await make_organisation()
    _dossier, user = await closable_file(org, await funded_holder(60 * 60), frozen_clock)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        form = await open_first_file(app, pilot)
        assert isinstance(form, DossierFormScreen)
        await pilot.press("f6")
        await settle(pilot)
        await _escape_asks_then_keeps_then_discards(pilot, type(app.screen))
        assert app.screen is form


async def test_escape_on_a_changed_planning_line_asks_and_keeps_the_input(db, settings, frozen_clock):
    await planning_ready(frozen_clock)
    operator = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Planning")
        planning = app.screen
        await pilot.press("e")
        await settle(pilot)
        await _escape_asks_then_keeps_then_discards(pilot, PlanningEditModal)
        assert app.screen is planning
