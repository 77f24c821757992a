"""Organisations, establishments and principal administrators (CDC operator back office).

One organisation = one SIRET = one active principal administrator; the last rule is also enforced by
the partial unique index `uq_account_one_active_principal` (migration 0002), so two racing requests
can never both succeed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from cpf_tui import clock, permissions
from cpf_tui.config import SecuritySettings
from cpf_tui.errors import Conflict, NotFound, ValidationError
from cpf_tui.permissions import Capability
from cpf_tui.services import audit, sessions, validation
from cpf_tui.services.context import RequestContext
from cpf_tui.services.locking import serialised_transaction
from cpf_tui.services.audit import account_public_fields
from cpf_tui.services.provisioning import provision_account, search_text_of
from cpf_tui.text import fold

from models import Account, AccountStatus, AppSession, Establishment, Organisation, Profile, Role, StructureType
PRINCIPAL_TAKEN = (
    "Cet organisme a déjà un administrateur principal actif : seul un opérateur CDC peut le remplacer."
)
PRINCIPAL_CHANGED = (
    "L'administrateur principal de cet organisme a changé entre-temps : rechargez la fiche et recommencez."
)
SIRET_TAKEN = "Ce SIRET est déjà enregistré (organisme ou établissement)."


@dataclass(frozen=True)
class PersonInput:
    """What the forms send for a person (nom, prénom, e-mail, phone), raw."""

    nom: str
    prenom: str
    email: str
    phone: str = ""
    service: str = ""


@dataclass(frozen=True)
class OrganisationInput:
    """What the registration form sends for an organisation, raw."""

    raison_sociale: str
    siret: str
    address: str
    contact_email: str
    structure_type: str


@dataclass(frozen=True)
class OrganisationRow:
    """One organisation in the back-office list."""

    id: int
    siret: str
    siren: str
    raison_sociale: str
    structure_label: str
    structure_short: str
    principal_id: int | None
    principal_label: str
    establishments: int
    accounts: int


@dataclass(frozen=True)
class SirenGroup:
    """Organisations sharing one SIREN (structures multiples are shown together)."""

    siren: str
    organisations: list[OrganisationRow]


@dataclass(frozen=True)
class Registration:
    """The result of registering an organisation: its id and the principal administrator's identifier."""

    organisation_id: int
    establishment_id: int
    principal_id: int
    principal_identifier: str


def collect(errors: dict[str, str], key: str, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one field check; remember its French message under `key` instead of stopping."""
    try:
        return check(*args, **kwargs)
    except ValidationError as exc:
        errors[key] = exc.message
        return None


def raise_if_errors(errors: dict[str, str]) -> None:
    """One ValidationError listing every invalid field (the form shows each under its field)."""
    if errors:
        raise ValidationError("\n".join(errors.values()), errors)


def clean_person(person: PersonInput, errors: dict[str, str], prefix: str = "") -> PersonInput:
    """Validated and normalised person fields (phone optional only when the caller allows it)."""
    return PersonInput(
        nom=collect(errors, f"{prefix}nom", validation.validate_person_name, person.nom, "Nom") or "",
        prenom=collect(errors, f"{prefix}prenom", validation.validate_person_name, person.prenom, "Prénom") or "",
        email=collect(errors, f"{prefix}email", validation.validate_email, person.email, "E-mail") or "",
        phone=collect(errors, f"{prefix}phone", validation.validate_phone, person.phone, "Téléphone") or "",
        service=collect(
            errors, f"{prefix}service", validation.validate_text, person.service, "Service", max_length=200,
            required=False,
        ) or "",
    )


def _structure(value: str, errors: dict[str, str]) -> Any:
    try:
        return StructureType(value)
    except ValueError:
        errors["structure_type"] = "Type de structure : choisissez « structure unique » ou « structures multiples »."
        return None


async def siret_in_use(siret: str) -> bool:
    """Whether an organisation or an establishment already has this SIRET."""
    return await Organisation.filter(siret=siret).exists() or await Establishment.filter(siret=siret).exists()


async def list_organisations(ctx: RequestContext, query: str = "") -> list[SirenGroup]:
    """Organisations visible to the actor, grouped by SIREN, filtered by name, SIRET or SIREN."""
    from tortoise.functions import Count


    actor = await sessions.load_actor(ctx)
    if permissions.can(actor.role, actor.profile, Capability.ORGANISATION_LIST_ALL):
        organisations = await Organisation.all().order_by("siren", "siret")
    else:
        await sessions.require(ctx, Capability.ACCOUNT_VIEW_TREE)
        organisations = await Organisation.filter(id=actor.organisation_id)
    needle = fold(query)
    if needle:
        organisations = [
            o for o in organisations
            if needle in fold(o.raison_sociale) or needle.replace(" ", "") in o.siret
        ]
    ids = [o.id for o in organisations]
    if not ids:
        return []
    establishment_counts = dict(
        await Establishment.filter(organisation_id__in=ids).annotate(n=Count("id")).group_by("organisation_id")
        .values_list("organisation_id", "n")
    )
    account_counts = dict(
        await Account.filter(organisation_id__in=ids, status=AccountStatus.ACTIVE).annotate(n=Count("id"))
        .group_by("organisation_id").values_list("organisation_id", "n")
    )
    principals = {
        a.organisation_id: a
        for a in await Account.filter(organisation_id__in=ids, role=Role.PRINCIPAL_ADMIN, status=AccountStatus.ACTIVE)
    }
    groups: dict[str, list[OrganisationRow]] = {}
    for o in organisations:
        principal = principals.get(o.id)
        groups.setdefault(o.siren, []).append(
            OrganisationRow(
                id=o.id, siret=o.siret, siren=o.siren, raison_sociale=o.raison_sociale,
                structure_label=o.structure_type.label, structure_short=o.structure_type.short_label,
                principal_id=principal.id if principal else None,
                principal_label=str(principal) if principal else "(aucun administrateur principal actif)",
                establishments=establishment_counts.get(o.id, 0), accounts=account_counts.get(o.id, 0),
            )
        )
    return [SirenGroup(siren=siren, organisations=rows) for siren, rows in groups.items()]


async def register_organisation(
    ctx: RequestContext,
    organisation: OrganisationInput,
    principal: PersonInput,
    *,
    security: SecuritySettings | None = None,
) -> Registration:
    """Record an organisation, its head office and its principal administrator, in one transaction."""

    security = security or SecuritySettings()
    actor = await sessions.require(ctx, Capability.ORGANISATION_REGISTER)
    errors: dict[str, str] = {}
    name = collect(errors, "raison_sociale", validation.validate_text, organisation.raison_sociale,
                   "Raison sociale", max_length=200)
    siret = collect(errors, "siret", validation.validate_siret, organisation.siret)
    address = collect(errors, "address", validation.validate_text, organisation.address, "Adresse", max_length=300)
    contact = collect(errors, "contact_email", validation.validate_email, organisation.contact_email,
                      "E-mail de contact")
    structure = _structure(organisation.structure_type, errors)
    person = clean_person(principal, errors, prefix="admin_")
    raise_if_errors(errors)
    try:
        async with serialised_transaction() as conn:
            if await siret_in_use(siret):
                raise ValidationError(SIRET_TAKEN, {"siret": SIRET_TAKEN})
            siren = siret[:9]
            siblings = await Organisation.filter(siren=siren).using_db(conn)
            if siblings and (structure == StructureType.UNIQUE or any(
                s.structure_type == StructureType.UNIQUE for s in siblings
            )):
                message = (
                    "Un organisme de même SIREN est déjà enregistré : en structure unique, ajoutez plutôt un "
                    "établissement secondaire (les structures multiples doivent toutes être déclarées comme telles)."
                )
                raise ValidationError(message, {"structure_type": message})
            org = await Organisation.create(
                siret=siret, siren=siren, raison_sociale=name, address=address, contact_email=contact,
                structure_type=structure, using_db=conn,
            )
            head = await Establishment.create(
                organisation=org, siret=siret, name=name, address=address, is_head_office=True, using_db=conn
            )
            await audit.record(
                "organisation.register", ctx=ctx, actor=actor, target=org, organisation_id=org.id,
                after={"siret": siret, "raison_sociale": name, "address": address, "contact_email": contact,
                       "structure_type": structure.value},
                using_db=conn,
            )
            admin = await provision_account(
                role=Role.PRINCIPAL_ADMIN, profile=Profile.CLOTURE, organisation=org, establishment=head,
                nom=person.nom, prenom=person.prenom, email=person.email, phone=person.phone,
                created_by=actor, ctx=ctx, using_db=conn, temp_password_days=security.temp_password_days,
                identifier_by_mail=True,  # the kit: the principal administrator receives « ses identifiants »
            )
            await refresh_search_text(admin, head.name, using_db=conn)
    except IntegrityError:
        raise Conflict(SIRET_TAKEN + " (enregistrement simultané)") from None
    return Registration(org.id, head.id, admin.id, admin.identifier)


async def add_establishment(
    ctx: RequestContext, organisation_id: int, *, siret: str, name: str, address: str = ""
) -> int:
    """Add a secondary establishment whose SIRET shares the organisation's SIREN; returns its id."""

    actor = await sessions.require(ctx, Capability.ESTABLISHMENT_ADD)
    org = await Organisation.get_or_none(id=organisation_id)
    if org is None or not permissions.in_scope(actor, org.id):
        raise NotFound("Organisme introuvable ou hors de votre périmètre.")
    errors: dict[str, str] = {}
    clean_siret = collect(errors, "siret", validation.validate_siret, siret)
    clean_name = collect(errors, "name", validation.validate_text, name, "Nom de l'établissement", max_length=200)
    clean_address = collect(errors, "address", validation.validate_text, address, "Adresse", max_length=300,
                            required=False)
    if clean_siret and clean_siret[:9] != org.siren:
        errors["siret"] = (
            f"SIRET : un établissement secondaire doit avoir le même SIREN que l'organisme ({org.siren})."
        )
    raise_if_errors(errors)
    try:
        async with serialised_transaction() as conn:
            if await siret_in_use(clean_siret):
                raise ValidationError(SIRET_TAKEN, {"siret": SIRET_TAKEN})
            establishment = await Establishment.create(
                organisation=org, siret=clean_siret, name=clean_name, address=clean_address or "",
                is_head_office=False, using_db=conn,
            )
            await audit.record(
                "establishment.add", ctx=ctx, actor=actor, target=establishment, organisation_id=org.id,
                after={"siret": clean_siret, "name": clean_name, "address": clean_address or ""}, using_db=conn,
            )
    except IntegrityError:
        raise Conflict(SIRET_TAKEN) from None
    return establishment.id


async def replace_principal(
    ctx: RequestContext,
    organisation_id: int,
    person: PersonInput,
    *,
    expected_principal_id: int | None,
    security: SecuritySettings | None = None,
) -> tuple[int, str]:
    """Replace the organisation's principal administrator (operators only); returns the new id and identifier.

    The previous one, which must still be `expected_principal_id` (what the operator was looking at),
    is deactivated in the same transaction.
    """

    security = security or SecuritySettings()
    actor = await sessions.require(ctx, Capability.PRINCIPAL_REPLACE)
    org = await Organisation.get_or_none(id=organisation_id)
    if org is None:
        raise NotFound("Organisme introuvable.")
    errors: dict[str, str] = {}
    person = clean_person(person, errors, prefix="admin_")
    raise_if_errors(errors)
    now = clock.now()
    try:
        async with serialised_transaction() as conn:
            old = None
            if expected_principal_id is not None:
                old = await Account.get_or_none(
                    id=expected_principal_id, organisation_id=org.id, role=Role.PRINCIPAL_ADMIN, using_db=conn
                )
                won = await Account.filter(
                    id=expected_principal_id, organisation_id=org.id, role=Role.PRINCIPAL_ADMIN,
                    status=AccountStatus.ACTIVE,
                ).using_db(conn).update(
                    status=AccountStatus.DEACTIVATED, deactivated_at=now, deactivated_by_id=actor.id,
                    credentials_epoch=F("credentials_epoch") + 1, version=F("version") + 1,
                )
                if not won or old is None:
                    raise Conflict(PRINCIPAL_CHANGED)
                await AppSession.filter(account_id=old.id, ended_at__isnull=True).using_db(conn).update(
                    ended_at=now, end_reason="account_deactivated"
                )
            elif await Account.filter(
                organisation_id=org.id, role=Role.PRINCIPAL_ADMIN, status=AccountStatus.ACTIVE
            ).using_db(conn).exists():
                raise Conflict(PRINCIPAL_CHANGED)
            head = await Establishment.filter(organisation_id=org.id, is_head_office=True).using_db(conn).first()
            new = await provision_account(
                role=Role.PRINCIPAL_ADMIN, profile=Profile.CLOTURE, organisation=org, establishment=head,
                nom=person.nom, prenom=person.prenom, email=person.email, phone=person.phone,
                created_by=actor, ctx=ctx, using_db=conn, temp_password_days=security.temp_password_days,
                identifier_by_mail=True,  # registered by the CDC, like the first principal administrator
            )
            await refresh_search_text(new, head.name if head else "", using_db=conn)
            before = None
            if old is not None:
                before = account_public_fields(old)
                await old.refresh_from_db(using_db=conn)
            await audit.record(
                "principal.replace", ctx=ctx, actor=actor, target=org, organisation_id=org.id,
                before=before, after=account_public_fields(new), using_db=conn,
            )
    except IntegrityError:
        raise Conflict(PRINCIPAL_CHANGED) from None
    return new.id, new.identifier


async def create_operator(ctx: RequestContext, person: PersonInput, *,
                          security: SecuritySettings | None = None) -> tuple[int, str]:
    """A CDC operator creates another operator; returns its id and identifier."""

    security = security or SecuritySettings()
    actor = await sessions.require(ctx, Capability.OPERATOR_CREATE)
    errors: dict[str, str] = {}
    person = clean_person(person, errors)
    raise_if_errors(errors)
    async with serialised_transaction() as conn:
        account = await provision_account(
            role=Role.OPERATOR, profile=Profile.CLOTURE, organisation=None, establishment=None,
            nom=person.nom, prenom=person.prenom, email=person.email, phone=person.phone, service=person.service,
            created_by=actor, ctx=ctx, using_db=conn, temp_password_days=security.temp_password_days,
            audit_action="operator.create",
        )
        await refresh_search_text(account, "", using_db=conn)
    return account.id, account.identifier


async def refresh_search_text(account: Account, establishment_name: str, *, using_db: Any) -> None:
    """Store the search key of `account` (after creation or any change of the fields it covers)."""
    account.search_text = search_text_of(account, establishment_name)
    await Account.filter(id=account.id).using_db(using_db).update(search_text=account.search_text)
