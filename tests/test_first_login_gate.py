"""Issue 18.1: nothing but the CGU acceptance and the password change before the first-login steps are done."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.command import CommandList, CommandPalette

from cpf_tui.app import make_app
from cpf_tui.errors import PermissionDenied, SessionEnded
from cpf_tui.permissions import Capability, can
from cpf_tui.services import accounts, auth, cgu, dossiers, sessions
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from cpf_tui.services.organisations import PersonInput
from models import Account, Establishment
from models.enums import Profile, Role
from screens.cgu import CguScreen
from tests.factories import make_account, make_staff
from tests.pilot import log_in, settle, wait_until

ROLES = ((Role.OPERATOR, Profile.CLOTURE), (Role.PRINCIPAL_ADMIN, Profile.CLOTURE),
         (Role.DELEGATED_ADMIN, Profile.CLOTURE), (Role.GESTIONNAIRE, Profile.CLOTURE))


@pytest.mark.parametrize(("role", "profile"), ROLES, ids=lambda v: str(getattr(v, "value", v)))
async def test_every_capability_is_refused_on_a_temporary_password(db, frozen_clock, role, profile):
    account = await make_account(role, profile, temporary=True,
                                 temp_password_expires_at=frozen_clock.current + timedelta(days=3))
    ctx = RequestContext(account_id=account.id)
    owned = [capability for capability in Capability if can(role, profile, capability)]
    assert owned
    for capability in owned:
        with pytest.raises(PermissionDenied) as refused:
            await sessions.require(ctx, capability)
        assert refused.value.message == sessions.FIRST_LOGIN_PENDING


async def test_the_two_attacks_of_the_review_are_refused(db, frozen_clock):
    """GSTN6NEW created a file and PRNC4MTB an account while still on their temporary password."""
    principal = await make_account(Role.PRINCIPAL_ADMIN, temporary=True,
                                   temp_password_expires_at=frozen_clock.current + timedelta(days=3))
    head = await Establishment.get(organisation_id=principal.organisation_id)
    with pytest.raises(PermissionDenied):
        await accounts.create_account(RequestContext(account_id=principal.id), role="gestionnaire",
                                      profile="creation", establishment_id=head.id,
                                      person=PersonInput("Durand", "Alice", "alice@example.fr", "0612345678"))
    gestionnaire = await make_account(Role.GESTIONNAIRE, Profile.CREATION, temporary=True,
                                      temp_password_expires_at=frozen_clock.current + timedelta(days=3))
    with pytest.raises(PermissionDenied):
        await dossiers.create_draft(RequestContext(account_id=gestionnaire.id), DossierInput(training_title="X"))
    assert await Account.filter(created_by_id=principal.id).count() == 0


async def test_a_newer_cgu_version_closes_everything_until_accepted(db, frozen_clock):
    account = await make_staff(Role.GESTIONNAIRE, Profile.CONSULTATION)
    ctx = RequestContext(account_id=account.id)
    await cgu.latest_version()
    await sessions.require(ctx, Capability.HOLDER_VIEW)
    await cgu.publish("Version 2 des CGU.\nArticle unique.", published_by="ops")
    with pytest.raises(PermissionDenied) as refused:
        await sessions.require(ctx, Capability.HOLDER_VIEW)
    assert refused.value.message == sessions.CGU_PENDING
    await cgu.accept(ctx, 2)
    await sessions.require(ctx, Capability.HOLDER_VIEW)


async def test_a_temporary_password_that_expires_ends_the_open_session(db, frozen_clock):
    account = await make_account(Role.GESTIONNAIRE, temporary=True,
                                 temp_password_expires_at=frozen_clock.current + timedelta(hours=1))
    ctx = RequestContext(account_id=account.id)
    await sessions.load_actor(ctx)
    frozen_clock.current += timedelta(hours=2)
    with pytest.raises(SessionEnded) as ended:
        await sessions.load_actor(ctx)
    assert ended.value.message == sessions.TEMPORARY_EXPIRED


async def test_the_palette_offers_no_section_before_the_first_login_steps(db, settings, frozen_clock):
    account = await make_account(Role.GESTIONNAIRE, Profile.CREATION, temporary=True,
                                 temp_password_expires_at=frozen_clock.current + timedelta(days=3))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, account)
        assert isinstance(app.screen, CguScreen)
        assert app.session is not None and app.session.first_login_pending
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: CommandPalette.is_open(app), "palette ouverte")
        await pilot.press(*"Titulaires")

        def entries() -> list[str]:
            return [str(option.prompt).split("\n")[0] for option in app.screen.query_one(CommandList).options]

        await wait_until(pilot, lambda: "J'accepte" not in entries(), "liste filtrée par « Titulaires »")
        await settle(pilot)
        assert entries() == ["Aucune commande ne correspond à « Titulaires »"]
        await pilot.press("escape")
        await settle(pilot)
    assert (await auth.session_info(account.id)).first_login_pending
