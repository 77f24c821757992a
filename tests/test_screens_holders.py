"""Holder screens at 80x24, keyboard only: search by NIR and by name, a Consultation gestionnaire updates a
holder's mobile phone and DIF balance, CDC operators get no edit keys."""

from __future__ import annotations

from datetime import date

from textual.widgets import DataTable, Static

from cpf_tui.app import make_app
from models import AuditEvent, Holder, HoursMovement, MovementKind, Profile, Role
from screens.holder_page import HolderPageScreen
from screens.holders import HolderSearchScreen
from tests.factories import make_account
from tests.holder_helpers import funded_holder
from tests.pilot import bound_actions, login_and_open, type_into, workers_done

H = 60
NIR = "185057800608491"


async def open_holder(pilot, query: str) -> HolderPageScreen:  # noqa: ANN001 - a Pilot
    """On the holder search: `query`, Entrée (the search), Entrée (the first holder's page, read first)."""
    await pilot.press(*query, "enter")
    await workers_done(pilot.app)
    await pilot.pause()
    await pilot.press("enter")
    await workers_done(pilot.app)
    await pilot.pause()
    page = pilot.app.screen
    assert isinstance(page, HolderPageScreen)
    return page


def spy_on_pages(monkeypatch) -> tuple[list[tuple[int, bool]], list[int]]:  # noqa: ANN001 - pytest's MonkeyPatch
    """From now on: each holder's page composed (holder id, composed with its data) and each page read
    again by its own worker (holder id)."""
    composed: list[tuple[int, bool]] = []
    loads: list[int] = []
    original_compose, original_load = HolderPageScreen.compose, HolderPageScreen.load

    def spying_compose(screen: HolderPageScreen):  # noqa: ANN202 - the page's widgets
        composed.append((screen.holder_id, screen.page is not None))
        yield from original_compose(screen)

    def spying_load(screen: HolderPageScreen):  # noqa: ANN202 - the worker
        loads.append(screen.holder_id)
        return original_load(screen)

    monkeypatch.setattr(HolderPageScreen, "compose", spying_compose)
    monkeypatch.setattr(HolderPageScreen, "load", spying_load)
    return composed, loads


async def test_consultation_updates_phone_and_dif_balance(db, settings, frozen_clock):
    holder = await funded_holder(40 * H, nir=NIR, nom_naissance="Durand", search_name="DURAND",
                                 mobile="+33611111111")
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        assert isinstance(app.screen, HolderSearchScreen)
        await pilot.press(*"1 85 05 78 006 084 91", "enter")
        await workers_done(app)
        await pilot.pause()
        assert app.screen.query_one("#holder-results", DataTable).row_count == 1
        await pilot.press("enter")
        await workers_done(app)
        await pilot.pause()
        page = app.screen
        assert isinstance(page, HolderPageScreen)
        assert "CPF disponible 40 h" in str(page.query_one("#holder-balances", Static).content)
        assert {"edit_contact", "set_dif"} <= bound_actions(page)
        # Coordonnées médiatiques: a landline is refused in French, then a mobile is accepted.
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("tab")
        await type_into(pilot, "01 23 45 67 89")
        await pilot.press("ctrl+s")
        await workers_done(app)
        await pilot.pause()
        assert "mobile" in str(app.screen.query_one("#modal-message", Static).content)
        await type_into(pilot, "07 98 76 54 32")
        await pilot.press("ctrl+s")
        await workers_done(app)
        await pilot.pause()
        await workers_done(app)
        assert app.screen is page
        assert "07 98 76 54 32" in str(page.query_one("#holder-contact", Static).content)
        # DIF balance with its justification.
        await pilot.press("s")
        await pilot.pause()
        await type_into(pilot, "35 h 30")
        await pilot.press("tab", *"Attestation employeur 2014-88", "enter")
        await workers_done(app)
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        assert app.screen is page
        assert "DIF disponible 35 h 30" in str(page.query_one("#holder-balances", Static).content)
        assert page.query_one("#holder-ledger", DataTable).row_count == 2
    await holder.refresh_from_db()
    assert (holder.mobile, holder.dif_total_minutes) == ("+33798765432", 35 * H + 30)
    setting = await HoursMovement.get(holder_id=holder.id, kind=MovementKind.DIF_SETTING, author_id=user.id)
    assert setting.reason == "Attestation employeur 2014-88"
    assert await AuditEvent.filter(action="holder.update_contact", actor_id=user.id).count() == 1


async def test_search_by_name_and_birth_date(db, settings):
    born = date(1979, 11, 23)
    await funded_holder(nom_naissance="Lemoine", search_name="LEMOINE", prenoms="Paul", date_naissance=born)
    await funded_holder(nom_naissance="Lemaire", search_name="LEMAIRE", prenoms="Inès", date_naissance=born)
    await funded_holder(nom_naissance="Lemoine", search_name="LEMOINE", date_naissance=date(1980, 1, 1))
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        await pilot.press(*"lem", "enter")  # a name: the cursor goes to the date of birth
        await pilot.pause()
        await pilot.press(*"23/11/1979", "enter")
        await workers_done(app)
        await pilot.pause()
        table = app.screen.query_one("#holder-results", DataTable)
        assert table.row_count == 2
        assert [str(table.get_row_at(i)[1]) for i in range(2)] == ["Lemaire", "Lemoine"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"1 85", "enter")
        await workers_done(app)
        await pilot.pause()
        assert "15 caractères" in str(app.screen.query_one("#holder-message", Static).content)


async def test_operator_sees_holder_without_edit_keys(db, settings):
    holder = await funded_holder(10 * H, nir=NIR)
    operator = await make_account(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, operator, "holders")
        page = await open_holder(pilot, NIR)
        assert not bound_actions(page) & {"edit_contact", "set_dif"}
        await pilot.press("e", "s")
        await pilot.pause()
        assert app.screen is page
    assert (await Holder.get(id=holder.id)).version == holder.version


async def test_holder_page_accepts_a_reunion_mobile(db, settings, frozen_clock):
    holder = await funded_holder(nir=NIR, nom_naissance="Hoarau", search_name="HOAREAU", mobile="")
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        page = await open_holder(pilot, NIR)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("tab")
        await type_into(pilot, "0692 03 67 28")  # Réunion, written the national way
        await pilot.press("ctrl+s")
        await workers_done(app)
        await pilot.pause()
        await workers_done(app)
        assert app.screen is page
        assert "Mobile : 0692 03 67 28" in str(page.query_one("#holder-contact", Static).content)
    await holder.refresh_from_db()
    assert holder.mobile == "+262692036728"


async def test_a_holder_page_is_shown_filled_in_read_again_when_it_comes_back_and_kept(db, settings, monkeypatch):
    """Entrée on a search result reads the holder first, then shows the page composed with it (no empty
    page filled in afterwards); the page reads again only when it comes back from another screen. The
    next holder opened from the search is shown in the same page, kept and filled again
    (`CpfSeam.push_reusing`): their own identity, balances, files and history, read once, the history
    focused; the page is not composed again."""
    from tests.factories import make_organisation
    from tests.holder_helpers import training_file

    first = await funded_holder(40 * H, nir=NIR, nom_naissance="Durand", search_name="DURAND",
                                mobile="+33611111111")
    second = await funded_holder(25 * H, nom_naissance="Martin", search_name="MARTIN")
    await training_file(await make_organisation(), second)
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    composed, loads = spy_on_pages(monkeypatch)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        page = await open_holder(pilot, NIR)
        assert [filled for _, filled in composed] == [True] and loads == []
        assert "CPF disponible 40 h" in str(page.query_one("#holder-balances", Static).content)
        await pilot.press("e")  # the contact dialog, closed without a change
        await pilot.pause()
        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        assert app.screen is page and loads == [page.holder_id]
        await workers_done(app)
        loads.clear()
        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        search = app.screen
        assert isinstance(search, HolderSearchScreen)
        search.query_one("#holder-query").focus()
        await pilot.press("ctrl+a", "ctrl+k")
        again = await open_holder(pilot, second.nir)
        assert again is page and composed == [(first.id, True)] and loads == []
        assert page.holder_id == second.id
        assert "Martin" in str(page.query_one("#holder-identity", Static).content)
        assert "CPF disponible 25 h" in str(page.query_one("#holder-balances", Static).content)
        assert page.query_one("#holder-files", DataTable).row_count == 1
        assert "Dossiers de formation : 1" in str(page.query_one("#holder-files-title", Static).content)
        assert page.focused is page.query_one("#holder-ledger", DataTable)

