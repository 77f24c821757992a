"""One selection in the user tree (80x24, keys only): search puts the cursor on the person found, the fiche
always shows what the cursor is on, and the actions act on it."""

from __future__ import annotations

from textual.widgets import DataTable, Static, Tree

from cpf_tui.app import make_app
from cpf_tui.services import accounts as accounts_service
from models import Account, Establishment, Profile, Role
from screens.user_search import UserSearchScreen
from screens.user_tree import UserTreeScreen
from tests.factories import make_organisation, make_staff
from tests.pilot import log_in, open_section, settle, wait_until


async def test_search_expands_the_tree_onto_the_person_and_the_fiche_follows_the_cursor(db, settings, monkeypatch):
    monkeypatch.setattr(UserSearchScreen, "debounce_seconds", 0.0)
    org = await make_organisation("Gamma", secondary=1)
    head, second = await Establishment.filter(organisation=org).order_by("-is_head_office", "id")
    principal = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org, establishment=head, nom="Garnier")
    target = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org, establishment=second,
                              nom="Fontaine", prenom="Jean")
    await Account.filter(id=target.id).update(search_text=accounts_service.search_text_of(target, second.name))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, principal)
        await open_section(pilot, "Utilisateurs")
        tree_screen = app.screen
        assert isinstance(tree_screen, UserTreeScreen)
        tree = tree_screen.query_one("#user-tree", Tree)
        await pilot.press("slash")
        await settle(pilot)
        await pilot.press(*"fontaine")
        await settle(pilot)
        assert app.screen.query_one("#search-results", DataTable).row_count == 1
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert app.screen is tree_screen
        await wait_until(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data is not None
                         and tree.cursor_node.data.kind == "account", "curseur sur le compte trouvé")
        assert tree.cursor_node.data.id == target.id
        assert tree.cursor_node.parent.data.id == second.id and tree.cursor_node.parent.is_expanded
        assert tree_screen.current is not None and tree_screen.current.id == target.id
        assert "Jean Fontaine" in str(tree_screen.query_one("#account-fiche", Static).content)
        # Up onto the establishment: no account's fiche is left on screen, and `e` has nothing to edit.
        await pilot.press("up")
        await settle(pilot)
        while tree.cursor_node.data.kind != "establishment":
            await pilot.press("up")
            await settle(pilot)
        assert tree_screen.current is None
        fiche = str(tree_screen.query_one("#account-fiche", Static).content)
        assert "Fontaine" not in fiche and "Établissement" in fiche
        await pilot.press("e")
        await settle(pilot)
        assert app.screen is tree_screen


async def _user_tree_of(pilot, principal):  # noqa: ANN001, ANN202 - (UserTreeScreen, Tree)
    """Log `principal` in, open Utilisateurs and wait until the tree lists accounts."""
    await log_in(pilot, principal)
    await open_section(pilot, "Utilisateurs")
    screen = pilot.app.screen
    tree = screen.query_one("#user-tree", Tree)
    await wait_until(pilot, lambda: any(n.data is not None and n.data.kind == "account"
                                        for est in tree.root.children for n in est.children),
                     "comptes chargés")
    return screen, tree


async def test_a_greyed_key_on_an_account_says_why(db, settings):
    org = await make_organisation("Epsilon")
    head = await Establishment.get(organisation=org)
    principal = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org, establishment=head, nom="Garnier")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        screen, tree = await _user_tree_of(pilot, principal)
        while not (tree.cursor_node is not None and tree.cursor_node.data is not None
                   and tree.cursor_node.data.kind == "account"):
            await pilot.press("down")
            await settle(pilot)
        assert screen.current is not None and screen.current.id == principal.id
        await pilot.press("d")
        await settle(pilot)
        assert app.screen is screen
        assert any("propre compte" in str(n.message) for n in app._notifications)


async def test_r_and_d_on_a_deactivated_or_own_account_say_why(db, settings):
    from models import AccountStatus

    org = await make_organisation("Zeta")
    head = await Establishment.get(organisation=org)
    principal = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org, establishment=head, nom="Aubert")
    gone = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org, establishment=head, nom="Zola")
    await Account.filter(id=gone.id).update(status=AccountStatus.DEACTIVATED)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        screen, tree = await _user_tree_of(pilot, principal)

        async def cursor_on(account_id: int) -> None:
            for _ in range(12):
                node = tree.cursor_node
                if node is not None and node.data is not None and node.data.kind == "account" \
                        and node.data.id == account_id:
                    return
                await pilot.press("down")
                await settle(pilot)
            raise AssertionError(f"compte {account_id} introuvable dans l'arbre")

        def said() -> list[str]:
            return [str(n.message) for n in app._notifications]

        await cursor_on(principal.id)
        await pilot.press("r")
        await settle(pilot)
        assert app.screen is screen and any("propre compte" in text for text in said())
        app.clear_notifications()
        await pilot.press("f")  # deactivated accounts shown
        await settle(pilot)
        app.clear_notifications()
        await cursor_on(gone.id)
        for key in ("r", "d"):
            await pilot.press(key)
            await settle(pilot)
            assert app.screen is screen  # no confirmation opened: nothing to do
            assert any("Ce compte est désactivé" in text for text in said()), key
            app.clear_notifications()
    assert (await Account.get(id=gone.id)).status == AccountStatus.DEACTIVATED
