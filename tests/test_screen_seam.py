"""The one seam between screens and the App, proven on every section of home.

An account deactivated while its session is open: whatever section it opens next, the first service
call ends the session at once (login screen, reason shown), never a toast inside the screen.
"""

from __future__ import annotations

import pytest
from textual.widgets import Static

from cpf_tui.app import make_app
from cpf_tui.errors import SessionEnded
from cpf_tui.permissions import can
from models import Account, AccountStatus
from models.enums import Profile, Role
from screens.base import CpfScreen
from screens.login import LoginScreen
from screens.sections import SECTIONS, Section
from tests.factories import DEFAULT_PASSWORD, make_account
from tests.pilot import log_in, log_in_with_keys, open_section, settle, text_of, wait_until

ROLES = ((Role.OPERATOR, Profile.CLOTURE), (Role.PRINCIPAL_ADMIN, Profile.CLOTURE),
         (Role.DELEGATED_ADMIN, Profile.CLOTURE), (Role.GESTIONNAIRE, Profile.CLOTURE))
FIRST_KEYS = {"holders": (*"185057800608491", "enter")}
"""Keys that make a section call a service, for the sections that wait for the user before reading."""
NO_SERVICE_AT_OPEN = {"password", "holder-feed"}
"""Sections that read nothing before the user submits a form or a file (the password form: tested in
test_screens_auth; the CDC feed: in test_screens_holder_feed)."""


def role_for(section: Section) -> tuple[Role, Profile]:
    return next((role, profile) for role, profile in ROLES
                if section.allowed(_Info(role, profile)))


class _Info:
    def __init__(self, role: Role, profile: Profile) -> None:
        self.role, self.profile = role, profile


@pytest.mark.parametrize("section", [s for s in SECTIONS if s.id not in NO_SERVICE_AT_OPEN], ids=lambda s: s.id)
async def test_a_deactivated_account_is_logged_out_from_every_section(db, settings, section):
    role, profile = role_for(section)
    account = await make_account(role, profile)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        await Account.filter(id=account.id).update(status=AccountStatus.DEACTIVATED)
        await open_section(pilot, section.id)
        if section.id in FIRST_KEYS:
            await pilot.press(*FIRST_KEYS[section.id])
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), f"retour à la connexion ({section.id})")
        await settle(pilot)
        assert app.session is None
        assert "désactivé" in text_of(app.screen, "#login-message")


async def test_a_regenerated_password_ends_the_session_with_its_own_reason(db, settings):
    from cpf_tui.services import accounts
    from cpf_tui.services.context import RequestContext

    admin = await make_account(Role.PRINCIPAL_ADMIN)
    gestionnaire = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION, organisation=await admin.organisation)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in_with_keys(pilot, gestionnaire.identifier, DEFAULT_PASSWORD)
        await accounts.regenerate_password(RequestContext(account_id=admin.id), gestionnaire.id)
        await open_section(pilot, "dossiers")
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), "retour à la connexion")
        await settle(pilot)
        assert "régénéré" in text_of(app.screen, "#login-message")


async def test_a_french_refusal_stays_on_the_screen_and_an_unexpected_error_is_reported(db, settings):
    """The seam's other paths: a CpfError on the message line, anything else notified (never silent)."""
    account = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        await open_section(pilot, "dossiers")
        screen = app.screen
        assert isinstance(screen, CpfScreen)

        async def refused() -> None:
            from cpf_tui.errors import PermissionDenied

            raise PermissionDenied("Refus de test « <b>[bold]x[/bold]</b> »")

        async def broken() -> None:
            raise RuntimeError("boom")

        screen.run_worker(refused(), exit_on_error=False)
        await settle(pilot)
        assert app.screen is screen
        assert text_of(screen, "#dossiers-message") == "Refus de test « <b>[bold]x[/bold]</b> »"
        assert screen.query_one("#dossiers-message", Static).has_class("-error")
        screen.run_worker(broken(), exit_on_error=False)
        await settle(pilot)
        assert app.screen is screen
        assert any("Erreur inattendue" in str(n.message) for n in app._notifications)
        screen.run_worker(_ended(), exit_on_error=False)
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), "retour à la connexion")
        await settle(pilot)
        assert text_of(app.screen, "#login-message") == "Session terminée pour le test."


async def _ended() -> None:
    raise SessionEnded("Session terminée pour le test.")


def test_every_section_names_a_capability_or_is_open_to_all():
    for section in SECTIONS:
        assert section.capability is None or any(can(role, profile, section.capability) for role, profile in ROLES)
        assert section.factory().__class__.__name__ == section.screen.split(":")[1]
