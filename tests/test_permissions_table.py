"""The capability table, for every role and profile, inside and outside the actor's scope.

Allowed actions succeed through the services; the others are refused with a French message and
leave the database exactly as it was.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cpf_tui import permissions
from cpf_tui.errors import CpfError, NotFound, PermissionDenied
from cpf_tui.permissions import Capability
from cpf_tui.services import accounts, mail, sessions
from cpf_tui.services import organisations as orgs
from cpf_tui.services.context import RequestContext
from models import (
    Account,
    AccountStatus,
    AuditEvent,
    Establishment,
    Organisation,
    OutboxEmail,
    Profile,
    Role,
)
from tests.factories import make_organisation, make_siren, make_siret, make_staff

OP, PA, DA, GE = Role.OPERATOR, Role.PRINCIPAL_ADMIN, Role.DELEGATED_ADMIN, Role.GESTIONNAIRE
C1, C2, C3, C4 = Profile.CONSULTATION, Profile.CREATION, Profile.VALIDATION, Profile.CLOTURE
ACTORS = [(OP, C4), (PA, C4), (DA, C4), (GE, C1), (GE, C2), (GE, C3), (GE, C4)]

# Written out by hand, independently of the implementation: who holds each capability.
GESTIONNAIRES_FROM = {C1: {C1, C2, C3, C4}, C2: {C2, C3, C4}, C3: {C3, C4}, C4: {C4}}
ROLE_RIGHTS = {
    Capability.ORGANISATION_REGISTER: {OP},
    Capability.ORGANISATION_LIST_ALL: {OP},
    Capability.PRINCIPAL_REPLACE: {OP},
    Capability.OPERATOR_CREATE: {OP},
    Capability.OUTBOX_VIEW: {OP},
    Capability.PLANNING_EDIT: {OP},
    Capability.HOLDER_FEED: {OP},
    Capability.ESTABLISHMENT_ADD: {OP, PA},
    Capability.ACCOUNT_VIEW_TREE: {OP, PA, DA},
    Capability.ACCOUNT_SEARCH: {OP, PA, DA},
    Capability.ACCOUNT_CREATE_DELEGATED: {OP, PA},
    Capability.ACCOUNT_CREATE_GESTIONNAIRE: {OP, PA, DA},
    Capability.ACCOUNT_EDIT: {OP, PA, DA},
    Capability.ACCOUNT_CHANGE_PROFILE: {OP, PA, DA},
    Capability.ACCOUNT_DEACTIVATE: {OP, PA, DA},
    Capability.ACCOUNT_REGENERATE_PASSWORD: {OP, PA, DA},
    Capability.SESSIONS_MANAGE: {OP, PA, DA},
    Capability.BULK_IMPORT: {OP, PA},
    Capability.AUDIT_VIEW: {OP, PA, DA},
    Capability.PLANNING_VIEW: {OP, PA, DA, GE},
}
PROFILE_RIGHTS = {  # minimum gestionnaire profile; administrators have Clôture; operators only read
    Capability.HOLDER_VIEW: (C1, True),
    Capability.HOLDER_UPDATE_CONTACT: (C1, False),
    Capability.HOLDER_SET_DIF: (C1, False),
    Capability.DOSSIER_VIEW: (C1, True),
    Capability.DOSSIER_EDIT_DRAFT: (C2, False),
    Capability.DOSSIER_VALIDATE: (C3, False),
    Capability.DOSSIER_CLOSE: (C4, False),
}


def expected_can(role: Role, profile: Profile, capability: Capability) -> bool:
    if capability in ROLE_RIGHTS:
        return role in ROLE_RIGHTS[capability]
    minimum, operators_too = PROFILE_RIGHTS[capability]
    if role == OP:
        return operators_too
    effective = C4 if role in (PA, DA) else profile
    return effective in GESTIONNAIRES_FROM[minimum]


def test_the_hand_written_table_covers_every_capability():
    assert set(ROLE_RIGHTS) | set(PROFILE_RIGHTS) == set(Capability)


@pytest.mark.parametrize("capability", list(Capability), ids=lambda c: c.value)
def test_can_matches_the_table_for_every_role_and_profile(capability):
    for role, profile in ACTORS:
        assert permissions.can(role, profile, capability) == expected_can(role, profile, capability), (role, profile)


SCOPES = ("same_establishment", "other_establishment", "other_organisation")


def scope_allows(role: Role, scope: str, level: str) -> bool:
    """Operator: everything; principal: its organisation; delegated: its establishment; gestionnaire: nobody."""
    if role == OP:
        return True
    if role == PA:
        return scope != "other_organisation"
    if role == DA:
        return scope == "same_establishment" and level == "establishment"
    return False


@dataclass
class World:
    """Organisation A (siège A1, secondary A2), organisation B (siège B1); actors sit in A2 (principal in A1)."""

    org_a: Organisation
    a1: Establishment
    a2: Establishment
    org_b: Organisation
    b1: Establishment
    actors: dict[tuple[Role, Profile], Account]

    def establishment(self, scope: str) -> Establishment:
        return {"same_establishment": self.a2, "other_establishment": self.a1, "other_organisation": self.b1}[scope]

    def organisation(self, scope: str) -> Organisation:
        return self.org_b if scope == "other_organisation" else self.org_a


_sirens = itertools.count(500)


async def build_world() -> World:
    org_a = await make_organisation("Alpha", secondary=1)
    a1, a2 = await Establishment.filter(organisation=org_a).order_by("-is_head_office", "id")
    org_b = await make_organisation("Beta")
    b1 = await Establishment.get(organisation=org_b)
    actors = {}
    for role, profile in ACTORS:
        est = None if role == OP else (a1 if role == PA else a2)
        actors[(role, profile)] = await make_staff(
            role, profile, organisation=org_a if est else None, establishment=est
        )
    await make_staff(PA, organisation=org_b)
    return World(org_a, a1, a2, org_b, b1, actors)


async def database_state() -> tuple[Any, ...]:
    return (
        tuple(await Account.all().order_by("id").values_list(
            "id", "status", "role", "profile", "nom", "email", "establishment_id", "version", "password_hash",
            "locked_at")),
        tuple(await Organisation.all().order_by("id").values_list("id", "siret")),
        tuple(await Establishment.all().order_by("id").values_list("id", "siret")),
        await OutboxEmail.all().count(),
        await AuditEvent.all().count(),
    )


async def fresh_gestionnaire(establishment: Establishment) -> Account:
    target = await make_staff(GE, C2, organisation_id=establishment.organisation_id, establishment=establishment,
                              organisation=await Organisation.get(id=establishment.organisation_id))
    await Account.filter(id=target.id).update(
        search_text=orgs.search_text_of(target, establishment.name)
    )
    return target


PERSON = orgs.PersonInput(nom="Petit", prenom="Lou", email="lou.petit@example.fr", phone="0612345678")
Action = Callable[[RequestContext, World, str], Awaitable[Any]]


async def do_register(ctx: RequestContext, w: World, scope: str) -> Any:
    siret = make_siret(make_siren(next(_sirens)), 12)
    return await orgs.register_organisation(
        ctx, orgs.OrganisationInput("Nouvel organisme", siret, "1 rue A, 75001 Paris", "c@example.fr", "unique"),
        PERSON,
    )


async def do_list_all(ctx: RequestContext, w: World, scope: str) -> Any:
    groups = await orgs.list_organisations(ctx)
    if w.org_b.id not in {o.id for g in groups for o in g.organisations}:
        raise PermissionDenied("Organisme B non visible")
    return groups


async def do_replace(ctx: RequestContext, w: World, scope: str) -> Any:
    org = w.organisation(scope)
    current = await Account.get(organisation=org, role=PA, status=AccountStatus.ACTIVE)
    return await orgs.replace_principal(ctx, org.id, PERSON, expected_principal_id=current.id)


async def do_create_operator(ctx: RequestContext, w: World, scope: str) -> Any:
    return await orgs.create_operator(ctx, PERSON)


async def do_outbox(ctx: RequestContext, w: World, scope: str) -> Any:
    return await mail.outbox_overview(ctx)


async def do_add_establishment(ctx: RequestContext, w: World, scope: str) -> Any:
    org = w.organisation(scope)
    return await orgs.add_establishment(ctx, org.id, siret=make_siret(org.siren, 7000 + next(_sirens)),
                                        name="Annexe")


async def do_view_tree(ctx: RequestContext, w: World, scope: str) -> Any:
    return await accounts.establishment_accounts(ctx, w.establishment(scope).id)


async def do_search(ctx: RequestContext, w: World, scope: str) -> Any:
    target = await fresh_gestionnaire(w.establishment(scope))
    found = await accounts.search_accounts(ctx, target.identifier)
    if [r.id for r in found] != [target.id]:
        raise NotFound("Compte hors périmètre")
    return found


def do_create(role: str) -> Action:
    async def action(ctx: RequestContext, w: World, scope: str) -> Any:
        return await accounts.create_account(ctx, role=role, profile="creation",
                                             establishment_id=w.establishment(scope).id, person=PERSON)
    return action


async def do_edit(ctx: RequestContext, w: World, scope: str) -> Any:
    target = await fresh_gestionnaire(w.establishment(scope))
    state = await database_state()
    try:
        return await accounts.edit_account(ctx, target.id, PERSON, expected_version=target.version)
    except CpfError:
        assert await database_state() == state
        raise


async def with_target(ctx: RequestContext, w: World, scope: str, call: Callable[[Account], Awaitable[Any]]) -> Any:
    target = await fresh_gestionnaire(w.establishment(scope))
    state = await database_state()
    try:
        return await call(target)
    except CpfError:
        assert await database_state() == state
        raise


async def do_change_profile(ctx: RequestContext, w: World, scope: str) -> Any:
    return await with_target(ctx, w, scope, lambda t: accounts.change_profile(ctx, t.id, "validation",
                                                                              expected_version=t.version))


async def do_deactivate(ctx: RequestContext, w: World, scope: str) -> Any:
    return await with_target(ctx, w, scope, lambda t: accounts.deactivate_account(ctx, t.id))


async def do_regenerate(ctx: RequestContext, w: World, scope: str) -> Any:
    return await with_target(ctx, w, scope, lambda t: accounts.regenerate_password(ctx, t.id))


# capability -> (action, scope level or None when the capability has no scope, whether it writes)
SERVICE_ACTIONS: dict[Capability, tuple[Action, str | None, bool]] = {
    Capability.ORGANISATION_REGISTER: (do_register, None, True),
    Capability.ORGANISATION_LIST_ALL: (do_list_all, None, False),
    Capability.PRINCIPAL_REPLACE: (do_replace, "organisation", True),
    Capability.OPERATOR_CREATE: (do_create_operator, None, True),
    Capability.OUTBOX_VIEW: (do_outbox, None, False),
    Capability.ESTABLISHMENT_ADD: (do_add_establishment, "organisation", True),
    Capability.ACCOUNT_VIEW_TREE: (do_view_tree, "establishment", False),
    Capability.ACCOUNT_SEARCH: (do_search, "establishment", False),
    Capability.ACCOUNT_CREATE_DELEGATED: (do_create("delegated_admin"), "organisation", True),
    Capability.ACCOUNT_CREATE_GESTIONNAIRE: (do_create("gestionnaire"), "establishment", True),
    Capability.ACCOUNT_EDIT: (do_edit, "establishment", True),
    Capability.ACCOUNT_CHANGE_PROFILE: (do_change_profile, "establishment", True),
    Capability.ACCOUNT_DEACTIVATE: (do_deactivate, "establishment", True),
    Capability.ACCOUNT_REGENERATE_PASSWORD: (do_regenerate, "establishment", True),
}


@pytest.mark.parametrize("capability", list(SERVICE_ACTIONS), ids=lambda c: c.value)
async def test_services_enforce_the_table_inside_and_outside_scope(db, frozen_clock, capability):
    action, level, writes = SERVICE_ACTIONS[capability]
    world = await build_world()
    # Operators last: their successful actions (replacing principal A) must not disturb the others' cases.
    for (role, profile), actor in sorted(world.actors.items(), key=lambda item: item[0][0] == OP):
        for scope in SCOPES if level else ("none",):
            allowed = expected_can(role, profile, capability) and (level is None or scope_allows(role, scope, level))
            ctx = RequestContext(account_id=actor.id)
            before = await database_state()
            case = f"{role.value}/{profile.value}/{scope}"
            if allowed:
                await action(ctx, world, scope)
                if writes:
                    assert await database_state() != before, case
            else:
                with pytest.raises(CpfError) as caught:
                    await action(ctx, world, scope)
                assert isinstance(caught.value, (PermissionDenied, NotFound)), case
                assert caught.value.message and caught.value.message[0].isupper(), case
                if capability not in (Capability.ACCOUNT_SEARCH, Capability.ACCOUNT_EDIT,
                                      Capability.ACCOUNT_CHANGE_PROFILE, Capability.ACCOUNT_DEACTIVATE,
                                      Capability.ACCOUNT_REGENERATE_PASSWORD):
                    # (those create their target first and compare the state themselves)
                    assert await database_state() == before, case


@pytest.mark.parametrize("capability", [c for c in Capability if c not in SERVICE_ACTIONS], ids=lambda c: c.value)
async def test_require_enforces_the_other_capabilities_with_a_french_message(db, capability):
    world = await build_world()
    for (role, profile), actor in world.actors.items():
        ctx = RequestContext(account_id=actor.id)
        if expected_can(role, profile, capability):
            assert (await sessions.require(ctx, capability)).id == actor.id
        else:
            with pytest.raises(PermissionDenied) as caught:
                await sessions.require(ctx, capability)
            assert "droit" in caught.value.message or "profil" in caught.value.message


async def test_scope_helpers_for_every_role(db):
    world = await build_world()
    for (role, profile), actor in world.actors.items():
        for scope in SCOPES:
            est = world.establishment(scope)
            assert permissions.in_scope(actor, est.organisation_id, est.id) == (
                role == OP or (role in (PA, GE) and scope != "other_organisation")
                or (role == DA and scope == "same_establishment")
            ), (role, scope)
            target = await make_staff(GE, organisation=await Organisation.get(id=est.organisation_id),
                                      establishment=est)
            assert permissions.can_manage(actor, target) == scope_allows(role, scope, "establishment"), (role, scope)
