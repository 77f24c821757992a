"""User tree, fiche, search and account actions at 80x24, keyboard only."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static, Tree

from cpf_tui.app import make_app
from cpf_tui.services import accounts as accounts_service
from models import Account, AccountStatus, Establishment, OutboxEmail, Profile, Role
from screens.account_form import FormScreen, IdentifierModal
from screens.user_search import UserSearchScreen
from screens.user_tree import UserTreeScreen
from tests.factories import make_organisation, make_staff
from tests.pilot import log_in, open_section, settle


@pytest.fixture(autouse=True)
def no_debounce(monkeypatch):
    monkeypatch.setattr(UserSearchScreen, "debounce_seconds", 0.0)


async def move_to(pilot, tree: Tree, node) -> None:
    """Move the tree cursor to `node` with the arrow keys."""
    delta = node.line - tree.cursor_line
    await pilot.press(*(["down"] * delta if delta > 0 else ["up"] * -delta))
    await pilot.pause()


def tree_of(app) -> Tree:
    return app.screen.query_one("#user-tree", Tree)


def establishment_node(tree: Tree, establishment_id: int):
    return next(n for n in tree.root.children if n.data and n.data.id == establishment_id)


def account_node(tree: Tree, account_id: int):
    for est in tree.root.children:
        for child in est.children:
            if child.data and child.data.kind == "account" and child.data.id == account_id:
                return child
    raise AssertionError(f"account {account_id} not in the tree")


def labels(tree: Tree) -> str:
    return " | ".join(str(c.label) for est in tree.root.children for c in [est, *est.children])


@pytest.fixture
async def org_world(db, frozen_clock):
    org = await make_organisation("Gamma", secondary=1)
    head, second = await Establishment.filter(organisation=org).order_by("-is_head_office", "id")
    principal = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org, establishment=head, nom="Garnier")
    return org, head, second, principal


async def test_principal_creates_edits_regenerates_and_deactivates(org_world, settings):
    org, head, second, principal = org_world
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        assert isinstance(app.screen, UserTreeScreen)
        tree = tree_of(app)
        assert len(tree.root.children) == 2

        # A delegated administrator in the secondary establishment.
        await move_to(pilot, tree, establishment_node(tree, second.id))
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        await pilot.press("enter", "up", "enter")  # role: Administrateur délégué
        await pilot.press("tab", "tab", *"Blanc", "enter", *"Inès", "enter", *"ib@ex.fr", "enter", "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, IdentifierModal)
        delegated = await Account.get(email="ib@ex.fr")
        assert (delegated.role, delegated.establishment_id, delegated.profile) == (
            Role.DELEGATED_ADMIN, second.id, Profile.CLOTURE)
        assert app.screen.identifier == delegated.identifier
        await pilot.press("escape")
        await settle(pilot)

        # A gestionnaire with the Validation profile, in the same establishment.
        tree = tree_of(app)
        await move_to(pilot, tree, establishment_node(tree, second.id))
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("tab", "enter", "down", "down", "enter")  # profile: Validation
        await pilot.press("tab", *"Petit", "enter", *"Noé", "enter", *"np@ex.fr", "enter", *"0611223344", "enter",
                          *"Accueil", "enter")
        await settle(pilot)
        assert isinstance(app.screen, IdentifierModal)
        gest = await Account.get(email="np@ex.fr")
        assert (gest.role, gest.profile, gest.phone, gest.service) == (
            Role.GESTIONNAIRE, Profile.VALIDATION, "+33611223344", "Accueil")
        await pilot.press("escape")
        await settle(pilot)

        # Open the establishment, highlight the gestionnaire: its fiche shows below the tree.
        tree = tree_of(app)
        node = establishment_node(tree, second.id)
        await move_to(pilot, tree, node)
        if not node.is_expanded:
            await pilot.press("space")
        await settle(pilot)
        assert "Blanc" in labels(tree) and "Petit" in labels(tree)
        await move_to(pilot, tree, account_node(tree, gest.id))
        await settle(pilot)
        fiche = str(app.screen.query_one("#account-fiche", Static).content)
        assert "Noé Petit" in fiche and gest.identifier in fiche and "Validation" in fiche

        # Edit: the profile list comes first, then the name.
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        await pilot.press("tab", *"Petit-Durand", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, UserTreeScreen)
        edited = await Account.get(id=gest.id)
        assert (edited.nom, edited.version) == ("Petit-Durand", 2)
        assert "petit-durand" in edited.search_text

        # Regenerate its password (confirmed), then deactivate it (confirmed).
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("o")
        await settle(pilot)
        assert await OutboxEmail.filter(account_id=gest.id, kind="password_regenerated").exists()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("n")  # changed its mind
        await settle(pilot)
        assert (await Account.get(id=gest.id)).status == AccountStatus.ACTIVE
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("o")
        await settle(pilot)
        assert (await Account.get(id=gest.id)).status == AccountStatus.DEACTIVATED
        assert "Désactivé" in str(app.screen.query_one("#account-fiche", Static).content)

        # The cursor stays on it, marked Désactivé (the fiche shows what the cursor is on); deactivated
        # accounts are otherwise hidden unless the filter key shows them.
        tree = tree_of(app)
        assert tree.cursor_node.data.id == gest.id and "Désactivé" in str(tree.cursor_node.label)
        await pilot.press("f")
        await settle(pilot)
        assert "Petit-Durand" in labels(tree_of(app))
        await pilot.press("f")
        await settle(pilot)
        assert "Petit-Durand" not in labels(tree_of(app))


async def test_delegated_admin_never_sees_another_establishment(org_world, settings):
    org, head, second, principal = org_world
    delegated = await make_staff(Role.DELEGATED_ADMIN, organisation=org, establishment=second, nom="Lemaire")
    await make_staff(Role.GESTIONNAIRE, organisation=org, establishment=head, nom="Siegeonly")
    mine = await make_staff(Role.GESTIONNAIRE, organisation=org, establishment=second, nom="Localone")
    await Account.filter(id=mine.id).update(search_text="localone")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, delegated)
        await open_section(pilot, "Utilisateurs")
        await settle(pilot)
        tree = tree_of(app)
        assert [n.data.id for n in tree.root.children] == [second.id]
        assert "Localone" in labels(tree)
        assert "Siegeonly" not in labels(tree) and "Garnier" not in labels(tree)
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, UserSearchScreen)
        await pilot.press(*"siegeonly")
        await settle(pilot)
        assert app.screen.query_one("#search-results", DataTable).row_count == 0
        await pilot.press("escape")
        await settle(pilot)
        # The creation form offers the gestionnaire role only.
        await move_to(pilot, tree_of(app), establishment_node(tree_of(app), second.id))
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        role_field = next(f for f in form.fields if f.key == "role")
        assert role_field.options == [("Gestionnaire", "gestionnaire")]


async def test_search_as_you_type_then_enter_opens_the_fiche(org_world, settings):
    org, head, second, principal = org_world
    target = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org, establishment=second,
                         nom="Fontaine", prenom="Jean")
    other = await make_staff(Role.GESTIONNAIRE, organisation=org, establishment=head, nom="Fontenay")
    for account, site in ((target, second), (other, head)):
        await Account.filter(id=account.id).update(
            search_text=accounts_service.search_text_of(account, site.name))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        await pilot.press("slash")
        await settle(pilot)
        table = app.screen.query_one("#search-results", DataTable)
        await pilot.press(*"font")
        await settle(pilot)
        assert table.row_count == 2
        await pilot.press(*"ai")
        await settle(pilot)
        assert table.row_count == 1
        assert str(table.get_row_at(0)[0]) == target.identifier
        await pilot.press("enter", "enter")  # to the results, then open the first one
        await settle(pilot)
        assert isinstance(app.screen, UserTreeScreen)
        assert app.screen.current is not None and app.screen.current.id == target.id
        assert "Jean Fontaine" in str(app.screen.query_one("#account-fiche", Static).content)


async def test_concurrent_edit_keeps_the_input_and_says_so(org_world, settings):
    org, head, second, principal = org_world
    target = await make_staff(Role.GESTIONNAIRE, organisation=org, establishment=head, nom="Moreau", prenom="Luc")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        tree = tree_of(app)
        node = establishment_node(tree, head.id)
        await move_to(pilot, tree, node)
        await pilot.press("space")
        await settle(pilot)
        await move_to(pilot, tree, account_node(tree, target.id))
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        await pilot.press("tab", *"Moreau-Vidal")
        await Account.filter(id=target.id).update(version=5, nom="Autre")  # someone else saved meanwhile
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "modifié par quelqu'un d'autre" in str(form.query_one("#form-message", Static).content)
        assert form.values()["nom"] == "Moreau-Vidal"
        assert (await Account.get(id=target.id)).nom == "Autre"


async def test_large_establishment_pages_and_names_are_never_markup(org_world, settings, monkeypatch):
    org, head, second, principal = org_world
    monkeypatch.setattr(UserTreeScreen, "page_size", 3)
    for i in range(4):
        await make_staff(Role.GESTIONNAIRE, organisation=org, establishment=second, nom=f"Agent{i}", prenom="Zoé")
    await make_staff(Role.GESTIONNAIRE, organisation=org, establishment=second, nom="[b]Crochet[/b]", prenom="Al")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        tree = tree_of(app)
        node = establishment_node(tree, second.id)
        assert "5 gest." in str(node.label)
        await move_to(pilot, tree, node)
        await pilot.press("space")
        await settle(pilot)
        kinds = [c.data.kind for c in node.children]
        assert kinds == ["account", "account", "account", "more"]
        await move_to(pilot, tree, node.children[-1])
        await pilot.press("enter")
        await settle(pilot)
        assert [c.data.kind for c in node.children] == ["account"] * 5
        assert "[b]Crochet[/b]" in str(node.children[-1].label)  # shown as typed, not read as markup


async def test_fiche_is_beside_the_tree_on_a_wide_terminal(org_world, settings):
    org, head, second, principal = org_world
    app = make_app(settings)
    async with app.run_test(size=(140, 30)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        screen = app.screen
        assert screen.has_class("-wide")
        tree_region = screen.query_one("#user-tree").region
        fiche_region = screen.query_one("#account-fiche").region
        assert fiche_region.x >= tree_region.right and fiche_region.y == tree_region.y


async def test_principal_adds_a_secondary_establishment_with_the_same_siren(org_world, settings):
    from tests.factories import make_siret

    org, head, second, principal = org_world
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        await pilot.press(*make_siret("732829320", 55), "enter", *"Annexe", "ctrl+s")
        await settle(pilot)
        assert "même SIREN" in str(form.query_one("#error-siret", Static).content)
        await pilot.press(*make_siret(org.siren, 55), "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, UserTreeScreen)
        added = await Establishment.get(organisation=org, name="Annexe")
        assert not added.is_head_office
        assert len(tree_of(app).root.children) == 3


async def test_account_form_confirmation_names_the_person_beside_the_identifier(org_world, settings):
    """80x24, keyboard only: the identifier to hand over, whose it is, and that the e-mail does not hold it."""
    org, head, second, principal = org_world
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        tree = tree_of(app)
        await move_to(pilot, tree, establishment_node(tree, second.id))
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("tab", "tab", *"Payet", "enter", *"Zoé", "enter", *"zp@ex.re", "enter",
                          *"0692 03 67 28", "enter", *"Accueil", "enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, IdentifierModal)
        created = await Account.get(email="zp@ex.re")
        assert created.phone == "+262692036728"  # Réunion mobile written nationally
        assert modal.identifier == created.identifier
        person = str(modal.query_one("#identifier-person", Static).content)
        assert person == "Identifiant de Zoé Payet (zp@ex.re) :"
        assert str(modal.query_one("#identifier-value", Static).content) == created.identifier
        advice = str(modal.query_one("#identifier-advice", Static).content)
        assert advice.startswith("Transmettez vous-même cet identifiant à Zoé Payet")
        assert "il ne figure pas dans le courriel" in advice
        # Everything the person must read fits the 80x24 screen.
        for widget_id in ("#identifier-person", "#identifier-value", "#identifier-advice", "#identifier-ok"):
            region = modal.query_one(widget_id).region
            assert region.width > 0 and region.bottom <= 24, widget_id
        mail = await OutboxEmail.get(account_id=created.id)
        assert created.identifier not in mail.body and "Zoé Payet" in mail.body
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UserTreeScreen)
