"""The gestionnaire's day at 80x24, keyboard only (issue 17): home work queues and number keys, a file started
from the holder's page with its balance in sight, the over-balance warning, the split in the validation and
closure confirmations, the holder page's privacy, the file list's total; with the keystroke goals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from textual.widgets import DataTable, OptionList, Static

from cpf_tui import clock
from cpf_tui.services import dossiers, holders
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from models import Dossier, DossierStatus, Holder, Profile, Role
from screens.dossier_form import DossierFormScreen
from screens.dossiers import DossierListScreen
from screens.holder_page import HolderPageScreen
from screens.home import HomeScreen
from screens.modals import ConfirmModal
from screens.user_tree import UserTreeScreen
from tests.factories import make_organisation, make_siren, make_siret, make_staff
from tests.holder_helpers import funded_holder
from tests.pilot import SIZE, log_in, new_app, open_section, settle, text_of, wait_until

H = 60
SIRET = make_siret(make_siren(923), 21)
NIR = "185057800608491"


class Keys:
    """Presses keys through the Pilot and counts them (typed text counted apart from the other keys)."""

    def __init__(self, pilot) -> None:  # noqa: ANN001 - Pilot
        self.pilot = pilot
        self.other = 0
        self.typed = 0

    async def press(self, *keys: str, until: Callable[[], bool] | None = None, what: str = "") -> None:
        """Press `keys`, then wait for `until` (a modal waiting for an answer keeps its worker running) or settle."""
        self.other += len(keys)
        await self.pilot.press(*keys)
        if until is None:
            await settle(self.pilot)
        else:
            await wait_until(self.pilot, until, what)

    async def type(self, text: str, then: str = "enter") -> None:
        """Type `text` (counted as typed) then one key (counted)."""
        self.typed += len(text)
        self.other += 1
        await self.pilot.press(*text, then)
        await settle(self.pilot)


def complete(holder: Holder, title: str = "Comptabilité", *, hours: int = 35, end: date = date(2026, 3, 27)):
    return DossierInput(holder_nir=holder.nir, training_title=title, provider_name="Compta Formation",
                        provider_siret=SIRET, start_date=date(2026, 1, 5), end_date=end,
                        duration_minutes=hours * H, requested_minutes=hours * H)


def screen_text(screen) -> str:  # noqa: ANN001 - any screen
    """Every Static's text of a screen (modals included), joined."""
    return "\n".join(str(s.content) for s in screen.query(Static))


def table_text(table: DataTable) -> str:
    return "\n".join(" | ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count))


async def test_validation_of_the_oldest_waiting_file_from_home_in_four_keys(db, settings, frozen_clock):
    org = await make_organisation()
    colleague = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    holder = await funded_holder(100 * H, 10 * H)
    oldest = await dossiers.create_draft(RequestContext(account_id=colleague.id), complete(holder, "Le plus ancien"))
    frozen_clock.advance(minutes=10)
    newer = await dossiers.create_draft(RequestContext(account_id=colleague.id), complete(holder, "Plus récent"))
    user = await make_staff(Role.GESTIONNAIRE, Profile.VALIDATION, organisation=org)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, user)
        home = app.screen
        assert isinstance(home, HomeScreen)
        queues = home.query_one("#home-queues", OptionList)
        await wait_until(pilot, lambda: queues.option_count > 0, "files d'attente affichées")
        lines = [str(queues.get_option_at_index(i).prompt) for i in range(queues.option_count)]
        assert "Mes brouillons à compléter : 0" in lines
        assert "À valider, plus anciens d'abord : 2" in lines
        assert lines.index(next(x for x in lines if "Le plus ancien" in x)) < lines.index(
            next(x for x in lines if "Plus récent" in x))
        assert "À traiter : 2" in text_of(home, "#home-queues-title")

        keys = Keys(pilot)
        await keys.press("tab")  # to the queues, the oldest file to validate highlighted
        await keys.press("enter")  # opens it
        assert isinstance(app.screen, DossierFormScreen) and app.screen.view.id == oldest.id
        await keys.press("f5", until=lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        question = screen_text(app.screen)
        assert "DIF 10 h puis CPF 25 h" in question and "CPF 75 h et DIF 0 h" in question
        await keys.press("o")
        assert keys.other <= 4, f"{keys.other} touches pour valider depuis l'accueil"
        await oldest.refresh_from_db()
        assert oldest.status == DossierStatus.VALIDATED
        # Back home, the counts follow.
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is home
        await wait_until(pilot, lambda: "À traiter : 1" in text_of(home, "#home-queues-title"), "compte mis à jour")
        lines = [str(queues.get_option_at_index(i).prompt) for i in range(queues.option_count)]
        assert not any("Le plus ancien" in x for x in lines) and any("Plus récent" in x for x in lines)
    assert (await Dossier.get(id=newer.id)).status == DossierStatus.DRAFT


async def test_number_keys_open_sections_and_consultation_has_no_queue(db, settings):
    user = await make_staff(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, user)
        home = app.screen
        assert isinstance(home, HomeScreen)
        assert not home.query_one("#home-work").display and not home.has_class("-with-queues")
        menu = home.query_one("#home-sections", OptionList)
        assert str(menu.get_option_at_index(1).prompt).startswith("2 Dossiers de formation")
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, DossierListScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("9")  # no ninth section: nothing happens
        await settle(pilot)
        assert app.screen is home


async def test_administrator_opens_a_locked_account_from_home(db, settings, frozen_clock):
    org = await make_organisation()
    admin = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org)
    locked = await make_staff(Role.GESTIONNAIRE, organisation=org, nom="Verrou", prenom="Léa", locked_at=clock.now())
    await make_staff(Role.GESTIONNAIRE, organisation=org, password_is_temporary=True,
                     temp_password_expires_at=clock.now() - timedelta(days=2), nom="Expire")
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, admin)
        home = app.screen
        queues = home.query_one("#home-queues", OptionList)
        await wait_until(pilot, lambda: queues.option_count > 0, "files d'attente affichées")
        lines = [str(queues.get_option_at_index(i).prompt) for i in range(queues.option_count)]
        assert "Mots de passe temporaires expirés : 1" in lines and "Comptes verrouillés : 1" in lines
        await pilot.press("tab")
        await settle(pilot)
        while queues.highlighted_option is None or queues.highlighted_option.id != f"account:{locked.id}":
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        tree = app.screen
        assert isinstance(tree, UserTreeScreen)
        await wait_until(pilot, lambda: locked.identifier in str(tree.fiche.content), "fiche du compte verrouillé")


async def test_a_file_started_from_the_holder_page_in_few_keys_with_balance_and_warning(db, settings, frozen_clock):
    holder = await funded_holder(113 * H, 20 * H, nir=NIR, nom_naissance="Durand", search_name="DURAND")
    user = await make_staff(Role.GESTIONNAIRE, Profile.CREATION)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, user)
        await open_section(pilot, "holders")
        await pilot.press(*NIR, "enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        page = app.screen
        assert isinstance(page, HolderPageScreen)

        keys = Keys(pilot)
        await keys.press("n")
        form = app.screen
        assert isinstance(form, DossierFormScreen)
        assert form.query_one("#dossier-holder_nir").value == NIR
        assert form.query_one("#dossier-training_title").has_focus
        await wait_until(pilot, lambda: "CPF 113 h, DIF 20 h" in text_of(form, "#dossier-balance"), "soldes")
        for value in ("Anglais des affaires", "Lingua Pro", SIRET, "02/03/2026", "30/04/2026", "140 h"):
            await keys.type(value)
        # Hours typed: the split (DIF first) and what is left, at once; then more than available: a warning.
        await pilot.press(*"30 h")  # a first try, not counted: the user will ask more
        await settle(pilot)
        assert "DIF 20 h puis CPF 10 h — resterait CPF 103 h, DIF 0 h" in text_of(form, "#dossier-balance")
        await pilot.press("ctrl+a", "ctrl+k", *"134 h")
        keys.typed += len("134 h")
        await settle(pilot)
        balance = form.query_one("#dossier-balance", Static)
        assert "134 h demandées pour 133 h disponibles" in str(balance.content) and balance.has_class("-warning")
        await keys.press("enter")  # Entrée on the last field saves the draft
        dossier = await Dossier.get()
        assert (dossier.holder_id, dossier.status, dossier.requested_minutes) == (holder.id, DossierStatus.DRAFT, 134 * H)
        message = text_of(form, "#dossier-message")
        assert "enregistré en brouillon" in message and "la validation sera refusée" in message
        assert keys.other <= 45, f"{keys.other} touches en plus de la saisie"
        # Back on the holder's page, the new file is listed.
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is page
        assert dossier.number in table_text(page.query_one("#holder-files", DataTable))


async def test_closure_shows_the_hours_released(db, settings, frozen_clock):
    org = await make_organisation()
    user = await make_staff(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
    holder = await funded_holder(100 * H, 10 * H)
    ctx = RequestContext(account_id=user.id)
    done = await dossiers.validate(ctx, (await dossiers.create_draft(ctx, complete(holder, end=date(2026, 1, 10)))).id)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, user)
        home = app.screen
        queues = home.query_one("#home-queues", OptionList)
        await wait_until(pilot, lambda: queues.option_count > 0, "files d'attente affichées")
        assert "Formations terminées à clôturer : 1" in [str(queues.get_option_at_index(i).prompt)
                                                         for i in range(queues.option_count)]
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DossierFormScreen) and app.screen.view.id == done.id
        await pilot.press("f6")
        await settle(pilot)
        modal = app.screen
        assert "DIF 10 h, CPF 25 h" in screen_text(modal)
        await pilot.press("ctrl+a", "ctrl+k", *"30")
        await settle(pilot)
        assert "rendu au titulaire : 5 h (DIF 0 h, CPF 5 h)" in text_of(modal, "#close-effect")


async def test_holder_page_shows_other_organisations_files_without_their_number(db, settings, frozen_clock):
    org, other = await make_organisation(), await make_organisation()
    stranger = await make_staff(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=other, nom="Secret")
    holder = await funded_holder(100 * H)
    sctx = RequestContext(account_id=stranger.id)
    theirs = await dossiers.validate(sctx, (await dossiers.create_draft(sctx, complete(holder, "Confidentiel"))).id)
    user = await make_staff(Role.GESTIONNAIRE, Profile.CONSULTATION, organisation=org)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, user)
        await open_section(pilot, "holders")
        await pilot.press(*holder.nir, "enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        page = app.screen
        assert isinstance(page, HolderPageScreen)
        assert "new_file" not in {a.binding.action for a in page.active_bindings.values()}  # Consultation
        files = table_text(page.query_one("#holder-files", DataTable))
        ledger = table_text(page.query_one("#holder-ledger", DataTable))
        assert holders.OTHER_ORGANISATION_FILE in files and "Validé" in files and "35 h" in files
        for secret in (theirs.number, "Confidentiel", "Secret"):
            assert secret not in files and secret not in ledger
        # Entrée on another organisation's file opens nothing.
        page.query_one("#holder-files", DataTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is page


async def test_file_list_shows_page_and_total(db, settings):
    org = await make_organisation()
    user = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    holder = await funded_holder(150 * H)
    for _ in range(3):
        await dossiers.create_draft(RequestContext(account_id=user.id), DossierInput(holder_nir=holder.nir))
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, user)
        await open_section(pilot, "dossiers")
        assert text_of(app.screen, "#dossiers-message").startswith("Page 1/1 — 3 dossier(s) sur 3 — tri :")


async def test_queues_are_read_during_the_login_never_for_the_prepared_home(db, settings, fast_argon2, monkeypatch):
    """Read once, during the password check, for the account that logs in; shown with home's first frame."""
    from cpf_tui.services import work_queues
    from screens.login import LoginScreen
    from tests.factories import DEFAULT_PASSWORD

    calls: list[int | None] = []
    real, real_for = work_queues.work_queues, work_queues.queues_for

    async def recorded(ctx, **kwargs):  # noqa: ANN001, ANN202
        calls.append(ctx.account_id)
        return await real(ctx, **kwargs)

    async def recorded_for(actor, **kwargs):  # noqa: ANN001, ANN202
        calls.append(actor.id)
        return await real_for(actor, **kwargs)

    monkeypatch.setattr(work_queues, "work_queues", recorded)
    monkeypatch.setattr(work_queues, "queues_for", recorded_for)
    user = await make_staff(Role.GESTIONNAIRE, Profile.VALIDATION)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*user.identifier)
        await settle(pilot)
        prepared = app._prepared_home
        assert isinstance(prepared, HomeScreen) and isinstance(app.screen, LoginScreen)
        assert calls == [] and prepared.query_one("#home-queues", OptionList).option_count == 0
        await pilot.press("enter", *DEFAULT_PASSWORD, "enter")
        await settle(pilot)
        await wait_until(pilot, lambda: app.screen is prepared, "home")
        # Filled with the rest of home (the read happened during the check), and not read again on showing.
        assert prepared.query_one("#home-queues", OptionList).option_count > 0
        assert calls == [user.id]
