"""Operator back office at 80x24, keyboard only: register an organisation, outbox state."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from cpf_tui.app import make_app
from cpf_tui.services import outbox
from models import Account, AccountStatus, Establishment, Organisation, OutboxEmail, OutboxStatus, Role
from screens.account_form import FormScreen, IdentifierModal
from screens.organisations import OrganisationsScreen
from screens.outbox import OutboxScreen
from screens.user_tree import UserTreeScreen
from tests.factories import make_organisation, make_siren, make_siret, make_staff
from tests.pilot import log_in, open_section, settle


async def test_operator_registers_an_organisation_with_the_keyboard(db, settings, frozen_clock):
    operator = await make_staff(Role.OPERATOR)
    siret = make_siret(make_siren(811), 12)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Organismes")
        assert isinstance(app.screen, OrganisationsScreen)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        await pilot.press(*"CF Loire", "enter")
        await pilot.press(*"12345678901234", "enter")  # bad checksum, fixed below
        await pilot.press(*"2 rue Crébillon", "enter")
        await pilot.press(*"c@cfl.fr", "tab", "tab")  # structure: unique (default)
        await pilot.press(*"Morel", "enter", *"Hélène", "enter", *"hm@cfl.fr", "enter")
        await pilot.press(*"0240000000", "enter")  # Entrée on the last field saves
        await settle(pilot)
        assert app.screen is form
        error = str(form.query_one("#error-siret", Static).content)
        assert "clé de contrôle" in error
        assert await Organisation.all().count() == 0
        assert form.focused is form.query_one("#field-siret")  # text selected: typing replaces it
        await pilot.press(*siret, "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, IdentifierModal)
        org = await Organisation.get(siret=siret)
        principal = await Account.get(organisation=org, role=Role.PRINCIPAL_ADMIN)
        assert app.screen.identifier == principal.identifier
        assert str(app.screen.query_one("#identifier-value", Static).content) == principal.identifier
        # A principal registered by the CDC receives « ses identifiants » by e-mail: the dialog says so.
        assert str(app.screen.query_one("#identifier-person", Static).content) == (
            "Identifiant de Hélène Morel (hm@cfl.fr) :")
        assert "reçoit aussi ses identifiants par courriel" in str(
            app.screen.query_one("#identifier-advice", Static).content)
        assert (principal.nom, principal.prenom, principal.phone) == ("Morel", "Hélène", "+33240000000")
        assert await Establishment.filter(organisation=org, is_head_office=True, siret=siret).exists()
        assert await OutboxEmail.filter(to_address="hm@cfl.fr", contains_secret=True).exists()
        await pilot.press("c")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, OrganisationsScreen)
        table = app.screen.query_one("#orgs-table", DataTable)
        assert table.row_count == 1
        assert "CF Loire" in str(table.get_row_at(0)[1])


async def test_operator_replaces_a_principal_and_opens_the_tree(db, settings, frozen_clock):
    operator = await make_staff(Role.OPERATOR)
    org = await make_organisation("Delta")
    old = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Organismes")
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("o")  # confirm
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        await pilot.press(*"Roux", "enter", *"Marc", "enter", *"mr@ex.fr", "enter", *"0611223344",
                          "enter")
        await settle(pilot)
        assert isinstance(app.screen, IdentifierModal)
        await pilot.press("escape")
        await settle(pilot)
        assert (await Account.get(id=old.id)).status == AccountStatus.DEACTIVATED
        new = await Account.get(organisation=org, role=Role.PRINCIPAL_ADMIN, status=AccountStatus.ACTIVE)
        assert new.nom == "Roux"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserTreeScreen)
        assert app.screen.organisation_id == org.id


async def test_operator_sees_the_outbox_and_sends_it(db, settings, frozen_clock):
    operator = await make_staff(Role.OPERATOR)
    await outbox.enqueue(kind="account_created", to_address="a@example.fr", subject="Vos identifiants",
                         body="mot de passe : Secret-1234", contains_secret=True)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "File d'envoi")
        screen = app.screen
        assert isinstance(screen, OutboxScreen)
        assert "En attente : 1" in str(screen.query_one("#outbox-counts", Static).content)
        table = screen.query_one("#outbox-table", DataTable)
        assert table.row_count == 1
        assert "Secret-1234" not in " ".join(str(c) for c in table.get_row_at(0))
        await pilot.press("s")
        await settle(pilot)
        assert "Envoyé : 1" in str(screen.query_one("#outbox-counts", Static).content)
        assert (await OutboxEmail.first()).status == OutboxStatus.SENT
        assert len(list(settings.spool_path.glob("*.eml"))) == 1


async def test_administrators_have_no_back_office_sections(db, settings):
    admin = await make_staff(Role.PRINCIPAL_ADMIN)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, admin)
        ids = [section.id for section in app.screen.sections]
        assert "users" in ids and "organisations" not in ids and "outbox" not in ids
