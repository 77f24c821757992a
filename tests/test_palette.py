"""The command palette (Ctrl+P) at 80x24, keyboard only: French actions, only those the profile allows."""

from __future__ import annotations


from textual.command import CommandList, CommandPalette

from cpf_tui.app import make_app
from models import Profile, Role
from screens.home import HomeScreen
from screens.planning import PlanningScreen
from tests.factories import make_account, planning_ready
from tests.pilot import log_in, workers_done

ENGLISH_SYSTEM_COMMANDS = {"Theme", "Quit", "Keys", "Screenshot", "Maximize", "Minimize"}


async def palette_entries(app, pilot, query: str = "") -> list[str]:
    """Open the palette with Ctrl+P (and type `query`), return the commands it lists."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    assert CommandPalette.is_open(app)
    if query:
        await pilot.press(*query)
    for _ in range(10):
        await pilot.pause(0.05)
        entries = [str(option.prompt).split("\n")[0] for option in app.screen.query_one(CommandList).options]
        if entries:
            break
    return entries


async def test_consultation_gestionnaire_gets_no_operator_or_admin_command(db, settings):
    account = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await log_in(pilot, account)
        entries = await palette_entries(app, pilot)
        assert {"Planning", "Se déconnecter", "Aide", "Quitter l'application", "Changer mon mot de passe"} <= set(entries)
        for forbidden in ("Organismes", "Journal d'audit", "File d'envoi", "Habilitation en masse", "Utilisateurs",
                          "Sessions ouvertes"):
            assert forbidden not in entries
        assert not ENGLISH_SYSTEM_COMMANDS & set(entries)
        await pilot.press("escape")
        await pilot.pause()
        searched = await palette_entries(app, pilot, "journal")
        assert searched and all("Journal" not in entry for entry in searched)
        assert searched[0].startswith("Aucune commande ne correspond")


async def test_operator_and_administrator_get_their_commands(db, settings):
    operator = await make_account(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await log_in(pilot, operator)
        entries = await palette_entries(app, pilot)
        assert {"Organismes", "Journal d'audit", "File d'envoi", "Planning"} <= set(entries)
    admin = await make_account(Role.PRINCIPAL_ADMIN)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await log_in(pilot, admin)
        entries = await palette_entries(app, pilot)
        assert "Journal d'audit" in entries and "Organismes" not in entries and "File d'envoi" not in entries


async def test_palette_opens_a_section_and_offers_the_screen_actions(db, settings, frozen_clock):
    await planning_ready(frozen_clock)
    reader = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    operator = await make_account(Role.OPERATOR)
    for account, may_edit in ((reader, False), (operator, True)):
        app = make_app(settings)
        async with app.run_test(size=(80, 24)) as pilot:
            await workers_done(app)
            await log_in(pilot, account)
            assert isinstance(app.screen, HomeScreen)
            entries = await palette_entries(app, pilot, "Planning")
            assert entries[0] == "Planning"
            await pilot.press("enter")
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
            assert isinstance(app.screen, PlanningScreen)
            entries = await palette_entries(app, pilot)
            assert "Actualiser" in entries and "Retour" in entries
            assert ("Modifier" in entries) is may_edit


async def test_palette_matches_without_accents_or_case_and_on_descriptions(db, settings):
    from screens.organisations import OrganisationsScreen
    from tests.factories import make_staff
    from tests.pilot import open_section, settle

    operator = await make_staff(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, operator)
        await open_section(pilot, "Organismes")
        assert isinstance(app.screen, OrganisationsScreen)
        assert "Établissement" in await palette_entries(app, pilot, "etablissement")
        await pilot.press("escape")
        await settle(pilot)
        assert "Opérateur" in await palette_entries(app, pilot, "OPERATEUR")
        await pilot.press("escape")
        await settle(pilot)
        # Found by its description (« Remplacer l'administrateur principal »), not its short name.
        assert "Remplacer l'admin." in await palette_entries(app, pilot, "administrateur principal")


async def test_palette_finds_regenerer_without_accents_and_by_the_guides_words(db, settings):
    """Ctrl+P « regenerer » and « mot de passe » (the user guide's example) both find « Régénérer »."""
    from textual.widgets import Tree

    from screens.user_tree import UserTreeScreen
    from tests.factories import make_organisation, make_staff
    from tests.pilot import open_section, settle

    org = await make_organisation()
    admin = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org)
    colleague = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, admin)
        await open_section(pilot, "Utilisateurs")
        assert isinstance(app.screen, UserTreeScreen)
        tree = app.screen.query_one("#user-tree", Tree)
        for _ in range(10):  # the cursor onto the gestionnaire: « Régénérer » acts on it
            node = tree.cursor_node
            if node is not None and node.data is not None and node.data.kind == "account" and node.data.id == colleague.id:
                break
            await pilot.press("down")
            await settle(pilot)
        assert app.screen.current is not None and app.screen.current.id == colleague.id
        for query in ("regenerer", "REGENERER", "mot de passe"):
            assert "Régénérer" in await palette_entries(app, pilot, query), query
            await pilot.press("escape")
            await settle(pilot)
