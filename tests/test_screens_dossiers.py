"""Training-file screens at 80x24, keyboard only: create/save, validate, close with fewer hours, read-only
profiles, and the stale-save conflict that keeps the user's input."""

from __future__ import annotations

from datetime import date

from textual.widgets import DataTable, Input, Static

from cpf_tui.app import make_app
from cpf_tui.services import dossiers, holders, ledger
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from models import Dossier, DossierStatus, Profile, Role
from screens.dossier_form import DossierFormScreen
from screens.dossiers import DossierListScreen
from screens.home import HomeScreen
from screens.login import LoginScreen
from screens.modals import ConfirmModal
from tests.factories import make_account, make_organisation
from tests.holder_helpers import PROVIDER_SIRET as SIRET
from tests.holder_helpers import closable_file, funded_holder, open_first_file
from tests.holder_helpers import training_file as _file
from tests.pilot import (bound_actions, login_and_open, open_section, restyled_nodes, type_into, wait_until,
                          workers_done)

H = 60


async def test_creation_profile_creates_and_saves_a_draft(db, settings, frozen_clock):
    org = await make_organisation()
    user = await make_account(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    holder = await funded_holder(50 * H)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        assert isinstance(app.screen, DossierListScreen)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, DossierFormScreen)
        assert bound_actions(form) >= {"save"} and not bound_actions(form) & {"validate", "close_file"}
        # A first attempt with an end date before the start date is refused in French; input stays.
        for value in (holder.nir, "Anglais des affaires", "Lingua Pro", SIRET, "02/03/2026", "01/03/2026",
                      "40 h", "30 h 30"):
            await pilot.press(*value, "tab")
        await pilot.press("ctrl+s")
        await workers_done(app)
        await pilot.pause()
        assert "précéder" in str(form.query_one("#dossier-error-end_date", Static).content)
        assert await Dossier.all().count() == 0
        assert form.query_one("#dossier-end_date", Input).has_focus
        await type_into(pilot, "30/04/2026")
        await pilot.press("ctrl+s")
        await workers_done(app)
        await pilot.pause()
        dossier = await Dossier.get()
        assert (dossier.status, dossier.training_title, dossier.requested_minutes, dossier.end_date) == (
            DossierStatus.DRAFT, "Anglais des affaires", 30 * H + 30, date(2026, 4, 30))
        assert dossier.number in str(form.query_one("#dossier-title", Static).content)
        assert "enregistré" in str(form.query_one("#dossier-message", Static).content)
        # Modify and save again: a new version, the history shows both lines.
        form.query_one("#dossier-training_title", Input).focus()
        await type_into(pilot, "Anglais juridique")
        await pilot.press("ctrl+s")
        await workers_done(app)
        await pilot.pause()
        await dossier.refresh_from_db()
        assert (dossier.training_title, dossier.version) == ("Anglais juridique", 2)
        assert form.query_one("#dossier-history", DataTable).row_count == 2
        # Delete the draft (confirmed): back to the list, the file is gone.
        await pilot.press("f8")
        await pilot.pause()
        await pilot.press("o")
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, DossierListScreen)
        assert await Dossier.all().count() == 0


async def test_validation_profile_validates_a_draft(db, settings, frozen_clock):
    org = await make_organisation()
    holder = await funded_holder(30 * H, 10 * H)
    draft = await _file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.VALIDATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        form = await open_first_file(app, pilot)
        assert "validate" in bound_actions(form) and "close_file" not in bound_actions(form)
        await pilot.press("f5")
        await pilot.pause()
        await pilot.press("o")
        await workers_done(app)
        await pilot.pause()
        await draft.refresh_from_db()
        assert draft.status == DossierStatus.VALIDATED
        assert (draft.reserved_dif_minutes, draft.reserved_cpf_minutes, draft.validated_by_id) == (
            10 * H, 25 * H, user.id)
        # Validated, the file leaves nothing to this Validation profile: said in the title.
        assert "Validé (lecture seule)" in str(form.query_one("#dossier-title", Static).content)
        assert "validate" not in bound_actions(form) and "save" not in bound_actions(form)
        assert form.query_one("#dossier-training_title", Input).disabled
        # The holder's balances shown are those after the reservation (10 h DIF, then 25 h CPF).
        assert "disponible : CPF 5 h, DIF 0 h" in str(form.query_one("#dossier-balance", Static).content)


async def test_validation_refused_for_lack_of_hours_is_explained(db, settings):
    org = await make_organisation()
    holder = await funded_holder(20 * H)
    draft = await _file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.VALIDATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        form = await open_first_file(app, pilot)
        await pilot.press("f5", "o")
        await workers_done(app)
        await pilot.pause()
        assert "Heures insuffisantes" in str(form.query_one("#dossier-message", Static).content)
    await draft.refresh_from_db()
    assert draft.status == DossierStatus.DRAFT


async def test_cloture_profile_closes_with_fewer_hours(db, settings, frozen_clock):
    org = await make_organisation()
    holder = await funded_holder(60 * H)
    dossier, user = await closable_file(org, holder, frozen_clock)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        form = await open_first_file(app, pilot)
        assert bound_actions(form) & {"close_file", "save", "validate"} == {"close_file"}
        assert "lecture seule" not in str(form.query_one("#dossier-title", Static).content)  # it can be closed
        await pilot.press("f6")
        await pilot.pause()
        await type_into(pilot, "28 h")
        await pilot.press("ctrl+s")  # the closure is irreversible: asked first
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "confirmation de clôture")
        assert "La clôture est définitive" in str(app.screen.query_one("#confirm-question", Static).content)
        await pilot.press("o")  # fewer hours without a reason: refused, the dialog stays
        await workers_done(app)
        await pilot.pause()
        assert "Motif" in str(app.screen.query_one("#close-message", Static).content)
        await pilot.press("tab", *"Absences justifiées", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "confirmation de clôture")
        await pilot.press("o")
        await workers_done(app)
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        assert app.screen is form
        assert "Clos (lecture seule)" in str(form.query_one("#dossier-title", Static).content)
    await dossier.refresh_from_db()
    assert (dossier.status, dossier.done_minutes, dossier.closure_reason) == (
        DossierStatus.CLOSED, 28 * H, "Absences justifiées")
    await holder.refresh_from_db()
    assert (holder.cpf_consumed_minutes, holder.cpf_reserved_minutes, holder.cpf_available_minutes) == (
        28 * H, 0, 32 * H)
    assert await ledger.check_ledger() == []


async def test_a_closure_before_the_training_starts_records_no_hours(db, settings, frozen_clock):
    """Training 02/03/2026-27/03/2026 (35 h reserved), closed on 15/01/2026: 20 h refused in French, 0 h
    with a reason cancels it and gives every hour back."""
    org = await make_organisation()
    holder = await funded_holder(60 * H)
    dossier = await _file(org, holder, validated=True)
    user = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        await open_first_file(app, pilot)
        await pilot.press("f6")
        await wait_until(pilot, lambda: app.screen.query("#close-done"), "dialogue de clôture")
        modal = app.screen
        assert "pas encore commencée (début le 02/03/2026)" in str(
            modal.query_one("#close-not-started", Static).content)
        assert modal.query_one("#close-done", Input).value == "0 h"  # nothing can have been done yet
        await type_into(pilot, "20 h")
        await pilot.press("tab", *"Essai", "ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "confirmation de clôture")
        await pilot.press("o")
        await wait_until(pilot, lambda: app.screen is modal and "commence le 02/03/2026" in str(
            modal.query_one("#close-message", Static).content), "refus des heures avant le début")
        await dossier.refresh_from_db()
        assert (dossier.status, dossier.done_minutes) == (DossierStatus.VALIDATED, None)
        modal.query_one("#close-done", Input).focus()
        await type_into(pilot, "0")
        await pilot.press("tab", "ctrl+a", "ctrl+k", *"Formation annulée", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "confirmation de clôture")
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, DossierFormScreen), "dossier clos")
    await dossier.refresh_from_db()
    assert (dossier.status, dossier.done_minutes, dossier.closure_reason) == (
        DossierStatus.CLOSED, 0, "Formation annulée")
    await holder.refresh_from_db()
    assert (holder.cpf_reserved_minutes, holder.cpf_available_minutes) == (0, 60 * H)


async def test_consultation_profile_sees_no_action_keys(db, settings):
    org = await make_organisation()
    holder = await funded_holder(60 * H)
    dossier = await _file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        assert "new" not in bound_actions(app.screen)
        await pilot.press("n")
        await pilot.pause()
        form = await open_first_file(app, pilot)
        assert not bound_actions(form) & {"save", "validate", "close_file", "delete"}
        assert form.query_one("#dossier-training_title", Input).disabled
        assert "En cours d'élaboration (lecture seule)" in str(form.query_one("#dossier-title", Static).content)
        await pilot.press("f5", "f8", "ctrl+s")
        await pilot.pause()
        assert app.screen is form
    await dossier.refresh_from_db()
    assert (dossier.status, dossier.version) == (DossierStatus.DRAFT, 1)


async def test_stale_save_is_refused_and_input_kept(db, settings):
    org = await make_organisation()
    holder = await funded_holder(60 * H)
    dossier = await _file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        form = await open_first_file(app, pilot)
        # Somebody else saves the same draft meanwhile.
        other = RequestContext(account_id=(await make_account(Role.GESTIONNAIRE, Profile.CREATION,
                                                              organisation=org)).id)
        data = DossierInput(holder_nir=holder.nir, training_title="Titre de l'autre")
        await dossiers.save_draft(other, dossier.id, data, expected_version=1)
        form.query_one("#dossier-training_title", Input).focus()
        await type_into(pilot, "Mon titre")
        await pilot.press("ctrl+s")
        await workers_done(app)
        await pilot.pause()
        assert "modifié par quelqu'un d'autre" in str(form.query_one("#dossier-message", Static).content)
        assert form.query_one("#dossier-training_title", Input).value == "Mon titre"
    await dossier.refresh_from_db()
    assert dossier.training_title == "Titre de l'autre"


async def test_list_filters_by_status_and_pages(db, settings):
    org = await make_organisation()
    holder = await funded_holder(150 * H)
    await _file(org, holder, validated=True)
    for _ in range(2):
        await _file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        table = app.screen.query_one("#dossiers-table", DataTable)
        assert table.row_count == 3
        assert "next_page" not in bound_actions(app.screen)
        await pilot.press("slash", *"zzz", "enter")
        await workers_done(app)
        await pilot.pause()
        assert table.row_count == 0
        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")
        await workers_done(app)
        await pilot.pause()
        assert table.row_count == 3
        await pilot.press("t")
        await workers_done(app)
        await pilot.pause()
        assert "plus anciens" in str(app.screen.query_one("#dossiers-message", Static).content)


async def test_an_open_drop_down_list_offers_its_key_in_french(db, settings):
    org = await make_organisation()
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        for _ in range(8):
            if app.focused is not None and app.focused.id == "filter-status":
                break
            await pilot.press("tab")
        assert app.focused.id == "filter-status"
        await pilot.press("enter")
        await pilot.pause()
        shown = {active.binding.action: active.binding.description for active in app.screen.active_bindings.values()
                 if active.binding.show}
        assert shown.get("dismiss") == "Fermer la liste"
        assert "Dismiss menu" not in shown.values()


async def test_an_opened_file_is_composed_with_its_data_and_a_vanished_one_is_said_on_the_list(
        db, settings, monkeypatch):
    """Entrée reads the file first, then shows its form filled in (an empty form filled in afterwards
    cost a restyle and a relayout per field); a file deleted meanwhile is said on the list."""
    org = await make_organisation()
    holder = await funded_holder(60 * H)
    first = await _file(org, holder)
    second = await _file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    app = make_app(settings)
    composed_with: list[str] = []
    original_compose = DossierFormScreen.compose

    def spying_compose(screen: DossierFormScreen):  # noqa: ANN202 - the form's widgets
        composed_with.append(screen.view.number if screen.view is not None else "")
        yield from original_compose(screen)

    list_loads: list[int] = []
    original_load = DossierListScreen.load

    def spying_load(screen: DossierListScreen):  # noqa: ANN202 - the worker
        list_loads.append(screen.page_number)
        return original_load(screen)

    balance_reads: list[str] = []
    original_balance = holders.balance_for_nir

    async def spying_balance(ctx, nir):  # noqa: ANN001, ANN202 - the service's signature
        balance_reads.append(nir)
        return await original_balance(ctx, nir)

    monkeypatch.setattr(DossierFormScreen, "compose", spying_compose)
    monkeypatch.setattr(DossierListScreen, "load", spying_load)
    opened: list[int] = []
    original_open = dossiers.open_dossier

    async def spying_open(ctx, dossier_id):  # noqa: ANN001, ANN202 - the service's signature
        opened.append(dossier_id)
        return await original_open(ctx, dossier_id)

    monkeypatch.setattr(holders, "balance_for_nir", spying_balance)
    monkeypatch.setattr(dossiers, "open_dossier", spying_open)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        await workers_done(app)
        await pilot.pause()
        # The list too was read before it was shown (section opened from home): not read again.
        assert list_loads == [] and app.screen.first_page is not None
        form = await open_first_file(app, pilot)
        assert composed_with == [form.view.number]  # read before the form was built
        assert form.query_one("#dossier-holder_nir", Input).value == holder.nir
        assert "disponible" in str(form.query_one("#dossier-balance", Static).content)
        # The holder's balances were read with the file, in one service call (the NIR field's first value
        # does not read them again).
        assert opened == [form.view.id] and balance_reads == []
        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        assert list_loads == [1]  # back from a file: the list is read again
        # The first row's file is deleted by its owner while the list still shows it.
        row_key = app.screen.query_one(DataTable).coordinate_to_cell_key((0, 0)).row_key.value
        gone = first if row_key == str(first.id) else second
        await dossiers.delete_draft(RequestContext(account_id=gone.created_by_id), gone.id)
        await pilot.press("enter")
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, DossierListScreen)
        assert "Dossier introuvable" in str(app.screen.query_one("#dossiers-message", Static).content)
        assert composed_with == [form.view.number]


async def test_opening_a_file_styles_its_form_once(db, settings, monkeypatch):
    """The form's widgets are styled when mounted and not again: no restyle of a widget being built,
    no second styling of the whole screen when it is first shown, no focus passing through the
    scrolling body (each restyled every field)."""
    org = await make_organisation()
    holder = await funded_holder(60 * H)
    await _file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        await workers_done(app)
        await pilot.pause()
        restyled = restyled_nodes(app, monkeypatch)
        form = await open_first_file(app, pilot)
        widgets = list(form.walk_children(with_self=True))
        assert len(widgets) > 40
        assert len(restyled) < 10, sorted({type(node).__name__ for node in restyled})
        assert form.focused is form.query_one("#dossier-holder_nir", Input) or form.focused.id == "dossier-history"


async def _open_row_of(app, pilot, dossier: Dossier) -> DossierFormScreen:  # noqa: ANN001 - a CpfApp, its Pilot
    """From the list, the cursor moved to `dossier`'s row with the arrow keys, then Entrée."""
    table = app.screen.query_one("#dossiers-table", DataTable)
    await pilot.press("home")
    while table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value != str(dossier.id):
        await pilot.press("down")
    return await open_first_file(app, pilot)


async def test_the_list_shows_each_file_in_the_form_it_kept_and_nothing_of_the_last_one(
        db, settings, monkeypatch):
    """The list opens every file in one form, kept and filled again (`CpfSeam.push_reusing`): the next
    file shows its own fields, history, balance and rights, and nothing of the last one's typing, field
    errors, message or scroll position; its widgets are not composed or styled again."""
    org = await make_organisation()
    holder_a = await funded_holder(60 * H, nir="185057800608491")
    holder_b = await funded_holder(40 * H)
    draft = await _file(org, holder_a)
    validated = await _file(org, holder_b, validated=True)
    user = await make_account(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        await workers_done(app)
        form = await _open_row_of(app, pilot, draft)
        assert form.view.number == draft.number and form.editable()
        # Wrong values typed, saved: errors under the fields and a message; scrolled down; left unsaved.
        form.query_one("#dossier-holder_nir", Input).focus()
        for value in ("123", "", "", "123", "99/99/2026", "99/99/2026", "zz", "zz"):
            await pilot.press("ctrl+a", "ctrl+k", *value, "tab") if value else await pilot.press("tab")
        await pilot.press("ctrl+s")
        await workers_done(app)
        await pilot.pause()
        assert form.query_one("#dossier-error-start_date", Static).has_class("-shown")
        assert str(form.query_one("#dossier-message", Static).content)
        form.query_one("#dossier-body").scroll_end(animate=False)
        await pilot.pause()
        assert form.query_one("#dossier-body").scroll_y > 0, form.query_one("#dossier-body").max_scroll_y
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("o")  # drop the input
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, DossierListScreen)

        restyled = restyled_nodes(app, monkeypatch)
        again = await _open_row_of(app, pilot, validated)
        assert again is form  # the same screen, filled again
        # Restyled: only what changed state (8 fields now read only, the focus, the error lines hidden,
        # the message), not the whole form (> 40 widgets) as a screen shown again is.
        assert len(restyled) <= 18, sorted({type(node).__name__ for node in restyled})
        assert len(list(form.walk_children(with_self=True))) > 40
        assert validated.number in str(form.query_one("#dossier-title", Static).content)
        assert form.query_one("#dossier-holder_nir", Input).value == holder_b.nir
        assert form.query_one("#dossier-start_date", Input).value == "02/03/2026"
        assert all(field.disabled for field in form.query(Input))  # a validated file: read only here
        assert not any(error.has_class("-shown") or str(error.content) for error in form.query(".dossier-error"))
        assert str(form.query_one("#dossier-message", Static).content) == ""
        assert "CPF 5 h" in str(form.query_one("#dossier-balance", Static).content)  # 40 h, 35 h reserved
        assert "Validé le" in str(form.query_one("#dossier-info", Static).content)
        assert form.query_one("#dossier-history", DataTable).row_count == 2
        assert form.query_one("#dossier-body").scroll_y == 0
        assert form.focused is form.query_one("#dossier-history", DataTable)
        assert bound_actions(form) & {"save", "validate", "delete"} == set()

        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        again = await _open_row_of(app, pilot, draft)
        assert again is form
        assert form.query_one("#dossier-start_date", Input).value == "02/03/2026"  # not the typing dropped
        assert not any(field.disabled for field in form.query(Input))
        nir = form.query_one("#dossier-holder_nir", Input)
        assert form.focused is nir
        await pilot.pause()
        assert sorted(nir.selection) == [0, len(nir.value)]  # its text selected, as in a new form
        await pilot.press("end", "escape")  # the same file again: the field focused last is focused anew
        await workers_done(app)
        await pilot.pause()
        assert await _open_row_of(app, pilot, draft) is form
        await pilot.pause()
        assert form.focused is nir and sorted(nir.selection) == [0, len(nir.value)]
        assert "CPF 60 h" in str(form.query_one("#dossier-balance", Static).content)
        assert "save" in bound_actions(form)
        # Home, the list again: the same form (kept by home, for the session); gone at logout.
        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen) and app.is_screen_installed(form)
        await open_section(pilot, "dossiers")
        assert await _open_row_of(app, pilot, validated) is form
        assert validated.number in str(form.query_one("#dossier-title", Static).content)
        for key in ("escape", "escape", "x", "o"):  # the list, home, logout confirmed
            await pilot.press(key)
            await workers_done(app)
            await pilot.pause()
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), "écran de connexion")
        assert not app.is_screen_installed(form) and not form.is_attached


async def test_a_kept_form_stops_its_work_when_closed_and_is_styled_again_after_a_theme_change(
        db, settings, monkeypatch):
    """Closed, a kept form's workers are cancelled as a removed screen's would be; shown again after the
    App's styles changed, it is styled again."""
    import asyncio

    from textual.worker import WorkerState

    org = await make_organisation()
    holder = await funded_holder(60 * H)
    await _file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    # Keys do not wait for the endless worker (the KeyGate waits for a screen's own work).
    monkeypatch.setattr(DossierFormScreen, "BACKGROUND_WORKERS", frozenset({"test-endless"}))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "dossiers")
        await workers_done(app)
        form = await open_first_file(app, pilot)
        endless = form.run_worker(asyncio.Event().wait, group="test-endless", exit_on_error=False)
        inner = form.query_one("#dossier-history", DataTable).run_worker(
            asyncio.Event().wait, group="test-endless-inner", exit_on_error=False)
        await pilot.pause()
        assert endless.state == WorkerState.RUNNING
        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, DossierListScreen) and app.is_screen_installed(form)
        assert endless.state == WorkerState.CANCELLED and inner.state == WorkerState.CANCELLED

        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        restyled = restyled_nodes(app, monkeypatch)
        assert await open_first_file(app, pilot) is form
        assert len([node for node in restyled if node in set(form.walk_children(with_self=True))]) > 40
