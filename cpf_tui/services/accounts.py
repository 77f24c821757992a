"""Habilitation management: the user tree, search, the fiche descriptive and account actions.

Every function re-reads the actor (`sessions.require`), checks the scope (operator: all, principal
administrator: its organisation, delegated administrator: its establishment) and, for actions on an
account, `permissions.require_manage` (never oneself, never someone at or above one's level).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from tortoise.expressions import F

from cpf_tui import clock, permissions
from cpf_tui.config import SecuritySettings
from cpf_tui.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cpf_tui.permissions import Capability
from cpf_tui.services import audit, sessions, validation
from cpf_tui.services.context import RequestContext
from cpf_tui.services.locking import serialised_transaction
from cpf_tui.services.organisations import PersonInput, collect, raise_if_errors, refresh_search_text
from cpf_tui.services.audit import account_public_fields
from cpf_tui.services.provisioning import (
    issue_temporary_password,
    provision_account,
    search_text_of,
)
from cpf_tui.text import fold

from models import Account, AccountStatus, AppSession, Establishment, Organisation, Profile, Role
PAGE_SIZE = 200
SEARCH_LIMIT = 50
OUT_OF_SCOPE = "Ce compte est introuvable ou hors de votre périmètre."
EDIT_CONFLICT = (
    "Ce compte a été modifié par quelqu'un d'autre pendant votre saisie : rechargez la fiche "
    "(votre saisie est conservée)."
)


@dataclass(frozen=True)
class EstablishmentNode:
    """An establishment in the tree, with its counts."""

    id: int
    organisation_id: int
    name: str
    siret: str
    is_head_office: bool
    administrators: int
    gestionnaires: int
    deactivated: int


@dataclass(frozen=True)
class AccountRow:
    """An account as listed in the tree or the search results."""

    id: int
    identifier: str
    full_name: str
    role: str
    role_label: str
    profile_label: str
    status_label: str
    is_active: bool
    establishment_id: int | None
    establishment_name: str = ""


@dataclass(frozen=True)
class AccountPage:
    """The accounts of one establishment: administrators first, then one page of gestionnaires."""

    administrators: list[AccountRow]
    gestionnaires: list[AccountRow]
    gestionnaires_total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.gestionnaires) < self.gestionnaires_total


@dataclass(frozen=True)
class AccountDetail:
    """The fiche descriptive of an account, as shown beside the tree."""

    id: int
    identifier: str
    nom: str
    prenom: str
    email: str
    phone: str
    service: str
    role: str
    role_label: str
    profile: str
    profile_label: str
    status_label: str
    is_active: bool
    is_locked: bool
    password_is_temporary: bool
    organisation_id: int | None
    organisation_name: str
    establishment_id: int | None
    establishment_name: str
    created_at: datetime | None
    created_by: str
    last_login_at: datetime | None
    deactivated_at: datetime | None
    version: int
    can_manage: bool


@dataclass(frozen=True)
class CreatedAccount:
    """What the creating administrator sees: the identifier to hand over to the person named, who gets
    the temporary password (and only that) by e-mail at `email`."""

    id: int
    identifier: str
    full_name: str
    email: str = ""
    establishment_name: str = ""


ROW_FIELDS = ("id", "identifier", "nom", "prenom", "role", "profile", "status", "establishment_id")
"""The columns a list row needs (lists fetch only these, not whole accounts)."""


@lru_cache(maxsize=64)
def _labels(role: str, profile: str, status: str) -> tuple[str, str, str, str, bool]:
    """Role value and label, profile label, status label and activity of one combination (cached)."""
    role_enum, status_enum = Role(role), AccountStatus(status)
    profile_label = Profile(profile).label if role_enum == Role.GESTIONNAIRE else "Clôture (administrateur)"
    return role_enum.value, role_enum.label, profile_label, status_enum.label, status_enum == AccountStatus.ACTIVE


def _row(values: dict[str, Any], establishment_name: str = "") -> AccountRow:
    """A list row from `QuerySet.values(*ROW_FIELDS)`."""
    role, role_label, profile_label, status_label, is_active = _labels(
        values["role"], values["profile"], values["status"]
    )
    return AccountRow(
        id=values["id"], identifier=values["identifier"], full_name=f"{values['prenom']} {values['nom']}",
        role=role, role_label=role_label, profile_label=profile_label, status_label=status_label,
        is_active=is_active, establishment_id=values["establishment_id"], establishment_name=establishment_name,
    )


def _scoped_accounts(actor: Account) -> Any:
    """Accounts within the actor's scope (a queryset), operators excepted for non-operators."""
    role = Role(actor.role)
    if role == Role.OPERATOR:
        return Account.all()
    if role == Role.DELEGATED_ADMIN:
        return Account.filter(organisation_id=actor.organisation_id, establishment_id=actor.establishment_id)
    return Account.filter(organisation_id=actor.organisation_id)


async def _visible_establishment(actor: Account, establishment_id: int, *, using_db: Any = None) -> Any:
    establishment = await Establishment.get_or_none(id=establishment_id, using_db=using_db)
    if establishment is None or not permissions.in_scope(actor, establishment.organisation_id, establishment.id):
        raise NotFound("Établissement introuvable ou hors de votre périmètre.")
    return establishment


async def _visible_account(actor: Account, account_id: int, *, using_db: Any = None) -> Any:
    account = await Account.get_or_none(id=account_id, using_db=using_db)
    if account is None or not permissions.in_scope(actor, account.organisation_id, account.establishment_id):
        raise NotFound(OUT_OF_SCOPE)
    return account


# -- Reading: tree, fiche, search ----------------------------------------------------------------
@dataclass(frozen=True)
class OrganisationHeader:
    """The root of the user tree."""

    id: int
    raison_sociale: str
    siret: str


async def organisation_header(ctx: RequestContext, organisation_id: int | None = None) -> OrganisationHeader:
    """The organisation at the root of the tree: the given one (in scope) or the actor's own."""
    actor = await sessions.require(ctx, Capability.ACCOUNT_VIEW_TREE)
    wanted = organisation_id if organisation_id is not None else actor.organisation_id
    if wanted is None or (Role(actor.role) != Role.OPERATOR and actor.organisation_id != wanted):
        raise NotFound("Organisme introuvable ou hors de votre périmètre.")
    organisation = await Organisation.get_or_none(id=wanted)
    if organisation is None:
        raise NotFound("Organisme introuvable ou hors de votre périmètre.")
    return OrganisationHeader(organisation.id, organisation.raison_sociale, organisation.siret)


async def establishment_nodes(ctx: RequestContext, organisation_id: int) -> list[EstablishmentNode]:
    """The establishments of an organisation the actor may see, with account counts per node."""
    from tortoise.functions import Count


    actor = await sessions.require(ctx, Capability.ACCOUNT_VIEW_TREE)
    in_scope = Role(actor.role) == Role.OPERATOR or actor.organisation_id == organisation_id
    if not in_scope or not await Organisation.exists(id=organisation_id):
        raise NotFound("Organisme introuvable ou hors de votre périmètre.")
    query = Establishment.filter(organisation_id=organisation_id)
    if Role(actor.role) == Role.DELEGATED_ADMIN:
        query = query.filter(id=actor.establishment_id)
    establishments = await query.order_by("-is_head_office", "name", "id")
    counts: dict[tuple[int, str, str], int] = {}
    rows = (
        await Account.filter(organisation_id=organisation_id)
        .annotate(n=Count("id"))
        .group_by("establishment_id", "role", "status")
        .values_list("establishment_id", "role", "status", "n")
    )
    for establishment_id, role, status, n in rows:
        counts[(establishment_id, str(getattr(role, "value", role)), str(getattr(status, "value", status)))] = n

    def count(est_id: int, roles: tuple[Role, ...], status: AccountStatus) -> int:
        return sum(counts.get((est_id, r.value, status.value), 0) for r in roles)

    admins = (Role.PRINCIPAL_ADMIN, Role.DELEGATED_ADMIN)
    everyone = (*admins, Role.GESTIONNAIRE)
    return [
        EstablishmentNode(
            id=e.id, organisation_id=e.organisation_id, name=e.name, siret=e.siret, is_head_office=e.is_head_office,
            administrators=count(e.id, admins, AccountStatus.ACTIVE),
            gestionnaires=count(e.id, (Role.GESTIONNAIRE,), AccountStatus.ACTIVE),
            deactivated=count(e.id, everyone, AccountStatus.DEACTIVATED),
        )
        for e in establishments
    ]


async def establishment_accounts(
    ctx: RequestContext,
    establishment_id: int,
    *,
    include_deactivated: bool = False,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> AccountPage:
    """Administrators, then one page of gestionnaires (by name) of an establishment in scope."""

    actor = await sessions.require(ctx, Capability.ACCOUNT_VIEW_TREE)
    establishment = await _visible_establishment(actor, establishment_id)
    base = Account.filter(organisation_id=establishment.organisation_id, establishment_id=establishment.id)
    if not include_deactivated:
        base = base.filter(status=AccountStatus.ACTIVE)
    administrators = []
    if offset == 0:
        # "-role": principal_admin sorts before delegated_admin.
        administrators = await base.filter(role__in=[Role.PRINCIPAL_ADMIN, Role.DELEGATED_ADMIN]).order_by(
            "-role", "nom", "prenom", "id"
        ).values(*ROW_FIELDS)
    gestionnaires_query = base.filter(role=Role.GESTIONNAIRE)
    total = await gestionnaires_query.count()
    gestionnaires = (
        await gestionnaires_query.order_by("nom", "prenom", "id").offset(offset).limit(limit).values(*ROW_FIELDS)
    )
    return AccountPage(
        administrators=[_row(a) for a in administrators],
        gestionnaires=[_row(a) for a in gestionnaires],
        gestionnaires_total=total,
        offset=offset,
        limit=limit,
    )


async def account_detail(ctx: RequestContext, account_id: int) -> AccountDetail:
    """The fiche descriptive of an account in the actor's scope."""
    actor = await sessions.require(ctx, Capability.ACCOUNT_VIEW_TREE)
    account = await _visible_account(actor, account_id)
    await account.fetch_related("organisation", "establishment")
    creator = await Account.get_or_none(id=account.created_by_id) if account.created_by_id else None
    is_gestionnaire = account.role == Role.GESTIONNAIRE
    return AccountDetail(
        id=account.id, identifier=account.identifier, nom=account.nom, prenom=account.prenom, email=account.email,
        phone=account.phone, service=account.service, role=account.role.value, role_label=account.role.label,
        profile=account.profile.value,
        profile_label=account.profile.label if is_gestionnaire else "Clôture (administrateur)",
        status_label=account.status.label, is_active=account.status == AccountStatus.ACTIVE,
        is_locked=account.locked_at is not None, password_is_temporary=account.password_is_temporary,
        organisation_id=account.organisation_id,
        organisation_name=account.organisation.raison_sociale if account.organisation else "Caisse des dépôts",
        establishment_id=account.establishment_id,
        establishment_name=account.establishment.name if account.establishment else "",
        created_at=account.created_at, created_by=str(creator) if creator else "",
        last_login_at=account.last_login_at, deactivated_at=account.deactivated_at, version=account.version,
        can_manage=permissions.can_manage(actor, account),
    )


async def search_accounts(
    ctx: RequestContext,
    text: str = "",
    *,
    organisation_id: int | None = None,
    establishment_id: int | None = None,
    profile: str | None = None,
    status: str | None = None,
    role: str | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[AccountRow]:
    """Accounts in scope whose search key holds every word typed, with optional filters.

    Ordered by the search key (names first), so that the index (organisation_id, search_text) gives
    the first page without sorting every match.
    """

    actor = await sessions.require(ctx, Capability.ACCOUNT_SEARCH)
    query = _scoped_accounts(actor).exclude(role=Role.OPERATOR)
    if organisation_id is not None:
        query = query.filter(organisation_id=organisation_id)
    if establishment_id is not None:
        query = query.filter(establishment_id=establishment_id)
    try:
        if profile:
            query = query.filter(profile=Profile(profile), role=Role.GESTIONNAIRE)
        if status:
            query = query.filter(status=AccountStatus(status))
        if role:
            query = query.filter(role=Role(role))
    except ValueError:
        raise ValidationError("Filtre de recherche inconnu.") from None
    for word in fold(text).split()[:6]:
        query = query.filter(search_text__contains=word)
    accounts = await query.order_by("search_text", "id").limit(limit).values(*ROW_FIELDS)
    site_ids = {a["establishment_id"] for a in accounts if a["establishment_id"]}
    names = dict(await Establishment.filter(id__in=site_ids).values_list("id", "name")) if site_ids else {}
    return [_row(a, names.get(a["establishment_id"], "")) for a in accounts]


# -- Actions ---------------------------------------------------------------------------------------
def _clean_person(person: PersonInput, errors: dict[str, str], *, phone_required: bool) -> PersonInput:
    return PersonInput(
        nom=collect(errors, "nom", validation.validate_person_name, person.nom, "Nom") or "",
        prenom=collect(errors, "prenom", validation.validate_person_name, person.prenom, "Prénom") or "",
        email=collect(errors, "email", validation.validate_email, person.email, "E-mail") or "",
        phone=collect(errors, "phone", validation.validate_phone, person.phone, "Téléphone",
                      required=phone_required) or "",
        service=collect(errors, "service", validation.validate_text, person.service, "Service", max_length=200,
                        required=False) or "",
    )


def _profile(value: str | None, errors: dict[str, str]) -> Any:
    try:
        return Profile(value)
    except ValueError:
        errors["profile"] = "Profil : choisissez Consultation, Création, Validation ou Clôture."
        return None


async def create_account(
    ctx: RequestContext,
    *,
    role: str,
    profile: str,
    establishment_id: int,
    person: PersonInput,
    security: SecuritySettings | None = None,
) -> CreatedAccount:
    """An administrator (or operator) creates a delegated administrator or a gestionnaire.

    The identifier is returned for the administrator to pass on; the temporary password goes by e-mail.
    """

    security = security or SecuritySettings()
    try:
        wanted = Role(role)
    except ValueError:
        raise ValidationError("Rôle : choisissez administrateur délégué ou gestionnaire.") from None
    if wanted == Role.DELEGATED_ADMIN:
        actor = await sessions.require(ctx, Capability.ACCOUNT_CREATE_DELEGATED)
    elif wanted == Role.GESTIONNAIRE:
        actor = await sessions.require(ctx, Capability.ACCOUNT_CREATE_GESTIONNAIRE)
    else:
        await sessions.load_actor(ctx)
        raise PermissionDenied(
            "Ce rôle ne se crée pas ici : l'administrateur principal est désigné par un opérateur CDC."
        )
    establishment = await _visible_establishment(actor, establishment_id)
    errors: dict[str, str] = {}
    chosen = Profile.CLOTURE if wanted == Role.DELEGATED_ADMIN else _profile(profile, errors)
    clean = _clean_person(person, errors, phone_required=False)
    raise_if_errors(errors)
    await establishment.fetch_related("organisation")
    async with serialised_transaction() as conn:
        account = await provision_account(
            role=wanted, profile=chosen, organisation=establishment.organisation, establishment=establishment,
            nom=clean.nom, prenom=clean.prenom, email=clean.email, phone=clean.phone, service=clean.service,
            created_by=actor, ctx=ctx, using_db=conn, temp_password_days=security.temp_password_days,
        )
        await refresh_search_text(account, establishment.name, using_db=conn)
    return CreatedAccount(account.id, account.identifier, account.full_name, account.email, establishment.name)


async def _target_for_action(ctx: RequestContext, capability: Capability, account_id: int) -> tuple[Any, Any]:
    actor = await sessions.require(ctx, capability)
    target = await _visible_account(actor, account_id)
    permissions.require_manage(actor, target)
    return actor, target


async def _establishment_name(establishment_id: int | None, using_db: Any) -> str:
    if establishment_id is None:
        return ""
    establishment = await Establishment.get_or_none(id=establishment_id, using_db=using_db)
    return establishment.name if establishment else ""


async def edit_account(
    ctx: RequestContext,
    account_id: int,
    person: PersonInput,
    *,
    expected_version: int,
    establishment_id: int | None = None,
    profile: str | None = None,
) -> int:
    """Edit the fiche descriptive (and, with its own right, the profile); returns the new version.

    Optimistic lock: `expected_version` is the version the form was loaded with.
    """

    actor, target = await _target_for_action(ctx, Capability.ACCOUNT_EDIT, account_id)
    errors: dict[str, str] = {}
    clean = _clean_person(person, errors, phone_required=target.role == Role.PRINCIPAL_ADMIN)
    new_profile = target.profile
    if profile is not None and profile != target.profile.value:
        await sessions.require(ctx, Capability.ACCOUNT_CHANGE_PROFILE)
        if target.role != Role.GESTIONNAIRE:
            errors["profile"] = "Profil : un administrateur a toujours le profil Clôture."
        else:
            new_profile = _profile(profile, errors) or target.profile
    new_establishment_id = target.establishment_id
    if establishment_id is not None and establishment_id != target.establishment_id:
        if target.role == Role.PRINCIPAL_ADMIN:
            errors["establishment"] = "Établissement : l'administrateur principal reste rattaché au siège."
        else:
            establishment = await _visible_establishment(actor, establishment_id)
            if establishment.organisation_id != target.organisation_id:
                raise PermissionDenied("Établissement : il doit appartenir à l'organisme du compte.")
            new_establishment_id = establishment.id
    raise_if_errors(errors)
    before = account_public_fields(target)
    changes = dict(
        nom=clean.nom, prenom=clean.prenom, email=clean.email, phone=clean.phone, service=clean.service,
        establishment_id=new_establishment_id, profile=Profile(new_profile),
    )
    async with serialised_transaction() as conn:
        updated = await Account.filter(id=target.id, version=expected_version).using_db(conn).update(
            **changes, version=F("version") + 1
        )
        if not updated:
            raise Conflict(EDIT_CONFLICT)
        account = await Account.get(id=target.id, using_db=conn)
        await refresh_search_text(account, await _establishment_name(account.establishment_id, conn), using_db=conn)
        action = "account.edit" if new_profile == target.profile else "account.edit_and_change_profile"
        await audit.record(
            action, ctx=ctx, actor=actor, target=account, organisation_id=account.organisation_id,
            before=before, after=account_public_fields(account), using_db=conn,
        )
    return account.version


async def change_profile(ctx: RequestContext, account_id: int, profile: str, *, expected_version: int) -> int:
    """Give a gestionnaire another dossier profile; returns the new version."""
    actor, target = await _target_for_action(ctx, Capability.ACCOUNT_CHANGE_PROFILE, account_id)
    if target.role != Role.GESTIONNAIRE:
        raise ValidationError("Profil : un administrateur a toujours le profil Clôture.")
    errors: dict[str, str] = {}
    new_profile = _profile(profile, errors)
    raise_if_errors(errors)
    before = account_public_fields(target)
    async with serialised_transaction() as conn:
        updated = await Account.filter(id=target.id, version=expected_version).using_db(conn).update(
            profile=Profile(new_profile), version=F("version") + 1
        )
        if not updated:
            raise Conflict(EDIT_CONFLICT)
        account = await Account.get(id=target.id, using_db=conn)
        await refresh_search_text(account, await _establishment_name(account.establishment_id, conn), using_db=conn)
        await audit.record(
            "account.change_profile", ctx=ctx, actor=actor, target=account, organisation_id=account.organisation_id,
            before=before, after=account_public_fields(account), using_db=conn,
        )
    return account.version


async def _end_sessions(account_id: int, reason: str, using_db: Any) -> int:
    return await AppSession.filter(account_id=account_id, ended_at__isnull=True).using_db(using_db).update(
        ended_at=clock.now(), end_reason=reason
    )


async def deactivate_account(ctx: RequestContext, account_id: int) -> None:
    """Soft-delete an account: it can no longer log in, keeps its history and identifier."""
    actor, target = await _target_for_action(ctx, Capability.ACCOUNT_DEACTIVATE, account_id)
    if target.status != AccountStatus.ACTIVE:
        raise ValidationError("Ce compte est déjà désactivé.")
    before = account_public_fields(target)
    async with serialised_transaction() as conn:
        updated = await Account.filter(id=target.id, status=AccountStatus.ACTIVE).using_db(conn).update(
            status=AccountStatus.DEACTIVATED, deactivated_at=clock.now(), deactivated_by_id=actor.id,
            credentials_epoch=F("credentials_epoch") + 1, version=F("version") + 1,
        )
        if not updated:
            raise Conflict("Ce compte vient d'être désactivé par quelqu'un d'autre.")
        await _end_sessions(target.id, sessions.END_ACCOUNT_DEACTIVATED, conn)
        account = await Account.get(id=target.id, using_db=conn)
        await refresh_search_text(account, await _establishment_name(account.establishment_id, conn), using_db=conn)
        await audit.record(
            "account.deactivate", ctx=ctx, actor=actor, target=account, organisation_id=account.organisation_id,
            before=before, after=account_public_fields(account), using_db=conn,
        )


async def regenerate_password(
    ctx: RequestContext, account_id: int, *, security: SecuritySettings | None = None
) -> None:
    """Send a new temporary password by e-mail (ends lockout and open sessions)."""

    security = security or SecuritySettings()
    actor, target = await _target_for_action(ctx, Capability.ACCOUNT_REGENERATE_PASSWORD, account_id)
    if target.status != AccountStatus.ACTIVE:
        raise ValidationError("Ce compte est désactivé : son mot de passe ne peut pas être régénéré.")
    before = {**account_public_fields(target), "locked": target.locked_at is not None,
              "failed_attempts": target.failed_attempts}
    async with serialised_transaction() as conn:
        account = await Account.get(id=target.id, using_db=conn)
        await issue_temporary_password(
            account, ctx=ctx, using_db=conn, temp_password_days=security.temp_password_days, actor=actor
        )
        await _end_sessions(account.id, sessions.END_PASSWORD_REGENERATED, conn)
        expires_at = account.temp_password_expires_at
        await audit.record(
            "account.regenerate_password", ctx=ctx, actor=actor, target=account,
            organisation_id=account.organisation_id, before=before,
            after={**account_public_fields(account), "locked": False, "failed_attempts": 0,
                   "temporary_password_expires_at": expires_at.isoformat() if expires_at else None},
            using_db=conn,
        )


def is_search_text_current(account: Account, establishment_name: str) -> bool:
    """Whether the stored search key matches the account (used by tests and checks)."""
    return bool(account.search_text == search_text_of(account, establishment_name))
