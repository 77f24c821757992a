"""Habilitation management services: tree, fiche, search and account actions with their rules."""

from __future__ import annotations

import pytest

from cpf_tui.errors import Conflict, NotFound, PermissionDenied, SessionEnded, ValidationError
from cpf_tui.services import accounts
from cpf_tui.services.context import RequestContext
from cpf_tui.services.organisations import PersonInput, search_text_of
from models import (
    Account,
    AccountStatus,
    AppSession,
    AuditEvent,
    Establishment,
    OutboxEmail,
    Profile,
    Role,
)
from tests.factories import make_organisation, make_staff


def ctx_of(account: Account) -> RequestContext:
    return RequestContext(account_id=account.id)


def person(**overrides) -> PersonInput:
    values = dict(nom="Bernard", prenom="Élodie", email="elodie.bernard@example.fr", phone="", service="Accueil")
    values.update(overrides)
    return PersonInput(**values)


@pytest.fixture
async def world(db, frozen_clock):
    """Organisation A (siège + 2 secondary establishments) with its admins, and organisation B."""
    org = await make_organisation("Alpha", secondary=2)
    head, second, third = await Establishment.filter(organisation=org).order_by("-is_head_office", "name")
    other_org = await make_organisation("Beta")
    w = {
        "org": org, "head": head, "second": second, "third": third, "other_org": other_org,
        "other_head": await Establishment.get(organisation=other_org),
        "operator": await make_staff(Role.OPERATOR),
        "principal": await make_staff(Role.PRINCIPAL_ADMIN, organisation=org, establishment=head),
        "delegated": await make_staff(Role.DELEGATED_ADMIN, organisation=org, establishment=second),
        "delegated_third": await make_staff(Role.DELEGATED_ADMIN, organisation=org, establishment=third),
    }
    w["g_second"] = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org, establishment=second,
                                     nom="Zola", prenom="Émile")
    w["g_third"] = await make_staff(Role.GESTIONNAIRE, organisation=org, establishment=third,
                                    nom="Hugo", prenom="Victor")
    w["g_other"] = await make_staff(Role.GESTIONNAIRE, organisation=other_org, nom="Sand")
    await index_search_text()
    return w


async def index_search_text() -> None:
    """Factories leave search_text empty: compute it as the services do."""
    names = dict(await Establishment.all().values_list("id", "name"))
    for account in await Account.all():
        await Account.filter(id=account.id).update(
            search_text=search_text_of(account, names.get(account.establishment_id, ""))
        )


async def test_principal_creates_delegated_and_gestionnaire_and_sees_only_the_identifier(world):
    ctx = ctx_of(world["principal"])
    delegated = await accounts.create_account(ctx, role="delegated_admin", profile="consultation",
                                              establishment_id=world["third"].id, person=person())
    stored = await Account.get(id=delegated.id)
    assert (stored.role, stored.profile) == (Role.DELEGATED_ADMIN, Profile.CLOTURE)
    assert stored.password_is_temporary
    assert not hasattr(delegated, "password")
    mail = await OutboxEmail.get(account_id=delegated.id)
    # The identifier goes to the creating administrator only; the e-mail holds the password and says so.
    assert mail.contains_secret and delegated.identifier not in mail.body
    principal = world["principal"]
    assert f"{principal.prenom} {principal.nom} vous le communique" in mail.body
    assert (delegated.email, delegated.full_name) == (stored.email, f"{stored.prenom} {stored.nom}")
    assert delegated.establishment_name == world["third"].name
    gest = await accounts.create_account(ctx, role="gestionnaire", profile="validation",
                                         establishment_id=world["head"].id,
                                         person=person(email="g@example.fr", phone="0611223344"))
    stored = await Account.get(id=gest.id)
    assert (stored.profile, stored.phone, stored.created_by_id) == (Profile.VALIDATION, "+33611223344",
                                                                    world["principal"].id)
    assert stored.search_text == search_text_of(stored, world["head"].name)
    event = await AuditEvent.filter(action="account.create", target_id=str(gest.id)).first()
    assert event.after["profile"] == "validation" and "password_hash" not in event.after


async def test_delegated_creates_gestionnaires_only_in_its_establishment(world):
    ctx = ctx_of(world["delegated"])
    created = await accounts.create_account(ctx, role="gestionnaire", profile="creation",
                                            establishment_id=world["second"].id, person=person())
    assert (await Account.get(id=created.id)).establishment_id == world["second"].id
    count = await Account.all().count()
    with pytest.raises(NotFound):
        await accounts.create_account(ctx, role="gestionnaire", profile="creation",
                                      establishment_id=world["third"].id, person=person())
    with pytest.raises(PermissionDenied):
        await accounts.create_account(ctx, role="delegated_admin", profile="cloture",
                                      establishment_id=world["second"].id, person=person())
    with pytest.raises(PermissionDenied, match="opérateur CDC"):
        await accounts.create_account(ctx_of(world["principal"]), role="principal_admin", profile="cloture",
                                      establishment_id=world["second"].id, person=person())
    assert await Account.all().count() == count


async def test_gestionnaire_cannot_create_users(world):
    with pytest.raises(PermissionDenied):
        await accounts.create_account(ctx_of(world["g_second"]), role="gestionnaire", profile="consultation",
                                      establishment_id=world["second"].id, person=person())


async def test_create_reports_bad_fields_in_french(world):
    with pytest.raises(ValidationError) as caught:
        await accounts.create_account(ctx_of(world["principal"]), role="gestionnaire", profile="super",
                                      establishment_id=world["second"].id,
                                      person=person(nom="", email="nope", phone="99"))
    assert set(caught.value.errors) == {"nom", "email", "phone", "profile"}
    assert "Profil" in caught.value.errors["profile"]


async def test_tree_counts_and_delegated_sees_only_its_establishment(world):
    await make_staff(Role.GESTIONNAIRE, organisation=world["org"], establishment=world["second"],
                       status=AccountStatus.DEACTIVATED)
    nodes = await accounts.establishment_nodes(ctx_of(world["principal"]), world["org"].id)
    assert [n.id for n in nodes] == [world["head"].id, world["second"].id, world["third"].id]
    second = nodes[1]
    assert (second.administrators, second.gestionnaires, second.deactivated) == (1, 1, 1)
    assert nodes[0].administrators == 1  # the principal, at the head office
    mine = await accounts.establishment_nodes(ctx_of(world["delegated"]), world["org"].id)
    assert [n.id for n in mine] == [world["second"].id]
    with pytest.raises(NotFound):
        await accounts.establishment_accounts(ctx_of(world["delegated"]), world["third"].id)
    with pytest.raises(NotFound):
        await accounts.establishment_nodes(ctx_of(world["principal"]), world["other_org"].id)
    page = await accounts.establishment_accounts(ctx_of(world["delegated"]), world["second"].id)
    assert [r.id for r in page.administrators] == [world["delegated"].id]
    assert [r.id for r in page.gestionnaires] == [world["g_second"].id]
    with_deactivated = await accounts.establishment_accounts(ctx_of(world["delegated"]), world["second"].id,
                                                             include_deactivated=True)
    assert with_deactivated.gestionnaires_total == 2


async def test_large_establishment_is_paged_by_name(world):
    for i in range(7):
        await make_staff(Role.GESTIONNAIRE, organisation=world["org"], establishment=world["third"],
                         nom=f"Nom{i:02d}")
    ctx = ctx_of(world["principal"])
    first = await accounts.establishment_accounts(ctx, world["third"].id, limit=3)
    assert first.gestionnaires_total == 8 and first.has_more
    names = [r.full_name for r in first.gestionnaires]
    assert names == sorted(names, key=lambda n: n.split()[-1])
    last = await accounts.establishment_accounts(ctx, world["third"].id, offset=6, limit=3)
    assert len(last.gestionnaires) == 2 and not last.has_more and last.administrators == []


async def test_fiche_is_in_scope_only(world):
    detail = await accounts.account_detail(ctx_of(world["delegated"]), world["g_second"].id)
    assert (detail.nom, detail.establishment_name, detail.can_manage) == ("Zola", world["second"].name, True)
    assert detail.profile_label == "Création"
    with pytest.raises(NotFound):
        await accounts.account_detail(ctx_of(world["delegated"]), world["g_third"].id)
    with pytest.raises(NotFound):
        await accounts.account_detail(ctx_of(world["principal"]), world["g_other"].id)
    assert (await accounts.account_detail(ctx_of(world["operator"]), world["g_other"].id)).nom == "Sand"


async def test_search_by_words_and_filters_within_scope(world):
    principal = ctx_of(world["principal"])
    assert [r.id for r in await accounts.search_accounts(principal, "emile ZOL")] == [world["g_second"].id]
    assert [r.id for r in await accounts.search_accounts(principal, world["g_third"].identifier.lower())] == [
        world["g_third"].id]
    assert await accounts.search_accounts(principal, "sand") == []  # other organisation
    assert [r.id for r in await accounts.search_accounts(principal, "", profile="creation")] == [
        world["g_second"].id]
    by_site = await accounts.search_accounts(principal, "", establishment_id=world["third"].id, role="gestionnaire")
    assert [r.id for r in by_site] == [world["g_third"].id]
    assert await accounts.search_accounts(ctx_of(world["delegated"]), "hugo") == []
    assert [r.id for r in await accounts.search_accounts(ctx_of(world["operator"]), "sand")] == [world["g_other"].id]
    await accounts.deactivate_account(principal, world["g_third"].id)
    assert [r.id for r in await accounts.search_accounts(principal, "", status="deactivated")] == [
        world["g_third"].id]
    assert [r.id for r in await accounts.search_accounts(principal, "hugo desactive")] == [world["g_third"].id]
    with pytest.raises(ValidationError):
        await accounts.search_accounts(principal, "", status="perdu")


async def test_edit_uses_optimistic_lock_and_keeps_search_text_current(world):
    ctx = ctx_of(world["principal"])
    target = world["g_second"]
    version = await accounts.edit_account(
        ctx, target.id, person(nom="Zola-Martin", email="zm@example.fr"), expected_version=target.version,
        establishment_id=world["third"].id, profile="cloture",
    )
    stored = await Account.get(id=target.id)
    assert (stored.nom, stored.establishment_id, stored.profile, stored.version) == (
        "Zola-Martin", world["third"].id, Profile.CLOTURE, version)
    assert "zola-martin" in stored.search_text and accounts.is_search_text_current(stored, world["third"].name)
    event = await AuditEvent.get(action="account.edit_and_change_profile")
    assert (event.before["nom"], event.after["nom"]) == ("Zola", "Zola-Martin")
    with pytest.raises(Conflict, match="modifié par quelqu'un d'autre"):
        await accounts.edit_account(ctx, target.id, person(nom="Autre"), expected_version=target.version)
    assert (await Account.get(id=target.id)).nom == "Zola-Martin"


async def test_delegated_cannot_move_a_gestionnaire_elsewhere(world):
    with pytest.raises(NotFound):
        await accounts.edit_account(ctx_of(world["delegated"]), world["g_second"].id, person(),
                                    expected_version=1, establishment_id=world["third"].id)
    assert (await Account.get(id=world["g_second"].id)).establishment_id == world["second"].id


async def test_change_profile_only_for_gestionnaires(world):
    ctx = ctx_of(world["principal"])
    await accounts.change_profile(ctx, world["g_second"].id, "validation", expected_version=1)
    assert (await Account.get(id=world["g_second"].id)).profile == Profile.VALIDATION
    with pytest.raises(ValidationError, match="Clôture"):
        await accounts.change_profile(ctx, world["delegated"].id, "consultation", expected_version=1)


async def test_nobody_acts_on_itself_or_on_its_level_or_above(world):
    principal, delegated = world["principal"], world["delegated"]
    with pytest.raises(PermissionDenied, match="propre compte"):
        await accounts.deactivate_account(ctx_of(delegated), delegated.id)
    peer = await make_staff(Role.DELEGATED_ADMIN, organisation=world["org"], establishment=world["second"])
    with pytest.raises(PermissionDenied, match="niveau"):
        await accounts.regenerate_password(ctx_of(delegated), peer.id)
    with pytest.raises(PermissionDenied, match="niveau"):
        await accounts.deactivate_account(ctx_of(world["delegated"]), await _principal_visible_to(world))
    with pytest.raises(NotFound):  # another establishment is not even visible
        await accounts.deactivate_account(ctx_of(delegated), world["delegated_third"].id)
    with pytest.raises(PermissionDenied, match="propre compte"):
        await accounts.edit_account(ctx_of(principal), principal.id, person(), expected_version=1)
    assert await Account.filter(status=AccountStatus.DEACTIVATED).count() == 0
    await accounts.deactivate_account(ctx_of(principal), delegated.id)
    assert (await Account.get(id=delegated.id)).status == AccountStatus.DEACTIVATED


async def test_deactivation_is_soft_ends_sessions_and_stops_the_actor(world, frozen_clock):
    delegated = world["delegated"]
    await AppSession.create(token="t" * 64, account=delegated, started_at=frozen_clock.current,
                            last_activity_at=frozen_clock.current)
    await accounts.deactivate_account(ctx_of(world["principal"]), delegated.id)
    stored = await Account.get(id=delegated.id)
    assert (stored.status, stored.deactivated_by_id, stored.identifier) == (
        AccountStatus.DEACTIVATED, world["principal"].id, delegated.identifier)
    session = await AppSession.get(account=delegated)
    assert session.ended_at == frozen_clock.current
    with pytest.raises(SessionEnded):
        await accounts.deactivate_account(ctx_of(delegated), world["g_second"].id)
    with pytest.raises(ValidationError, match="déjà désactivé"):
        await accounts.deactivate_account(ctx_of(world["principal"]), delegated.id)
    event = await AuditEvent.get(action="account.deactivate")
    assert (event.before["status"], event.after["status"]) == ("active", "deactivated")


async def test_regenerate_ends_lockout_and_mails_a_new_temporary_password(world, frozen_clock):
    target = world["g_second"]
    await Account.filter(id=target.id).update(locked_at=frozen_clock.current, failed_attempts=10)
    old_hash = target.password_hash
    await accounts.regenerate_password(ctx_of(world["delegated"]), target.id)
    stored = await Account.get(id=target.id)
    assert (stored.locked_at, stored.failed_attempts, stored.password_is_temporary) == (None, 0, True)
    assert stored.password_hash != old_hash
    mail = await OutboxEmail.get(account_id=target.id, kind="password_regenerated")
    assert mail.contains_secret
    # The new password with the person, the organisation and the expiry in Paris time; never the identifier.
    assert target.identifier not in mail.body and world["delegated"].identifier not in mail.body
    assert f"Bonjour {target.prenom} {target.nom}," in mail.body
    assert f"l'organisme {world['org'].raison_sociale} (établissement {world['second'].name})" in mail.body
    assert "Il expire le 22/01/2026 à 10:00 (heure de Paris)." in mail.body
    event = await AuditEvent.get(action="account.regenerate_password")
    assert event.before["locked"] is True and event.after["locked"] is False
    assert "password_hash" not in event.after and stored.password_hash not in str(event.after)


async def test_a_downgraded_actor_loses_its_rights_at_once(world):
    await Account.filter(id=world["delegated"].id).update(role=Role.GESTIONNAIRE)
    with pytest.raises(PermissionDenied):
        await accounts.deactivate_account(ctx_of(world["delegated"]), world["g_second"].id)
    assert (await Account.get(id=world["g_second"].id)).status == AccountStatus.ACTIVE


async def _principal_visible_to(world) -> int:
    """Move the delegated administrator to the head office, where the principal is visible to it."""
    await Account.filter(id=world["delegated"].id).update(establishment_id=world["head"].id)
    return world["principal"].id
