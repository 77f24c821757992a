"""Account provisioning: identifier, temporary password, welcome e-mail and audit, inside the caller's transaction.

Callers (operator registration, administrators' screens, bulk import, CLI bootstrap) check permissions
and scope first; these helpers only do the mechanics shared by all of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cpf_tui import clock, text
from cpf_tui.services import audit, outbox, passwords
from cpf_tui.services.context import RequestContext
from cpf_tui.services.identifiers import allocate_identifier

if TYPE_CHECKING:
    from models import Account, Establishment, Organisation, Profile, Role

PORTAL_NAME = "l'espace privé de gestion du Compte personnel de formation (CPF)"
CONTACT_EMAIL = "CPF-gestion@caissedesdepots.fr"


def account_public_fields(account: Any) -> dict[str, Any]:
    """The fields of an account that may appear in the audit journal (never a password or hash)."""
    return {
        "identifier": account.identifier,
        "role": _value(account.role),
        "profile": _value(account.profile),
        "status": _value(account.status),
        "nom": account.nom,
        "prenom": account.prenom,
        "email": account.email,
        "phone": account.phone,
        "service": account.service,
        "organisation_id": account.organisation_id,
        "establishment_id": account.establishment_id,
    }


def _value(item: Any) -> Any:
    return getattr(item, "value", item)


def format_expiry(moment: datetime) -> str:
    """A French date and time, in UTC, for e-mails: `22/01/2026 à 09:00 (UTC)`."""
    return moment.strftime("%d/%m/%Y à %H:%M (UTC)")


def welcome_mail(account: Any, password: str, expires_at: datetime) -> tuple[str, str]:
    """Subject and plain-text French body of the e-mail sent to a new account."""
    subject = "Vos identifiants pour l'espace de gestion CPF"
    body = (
        f"Bonjour {account.prenom} {account.nom},\n\n"
        f"Un compte vient d'être créé pour vous dans {PORTAL_NAME}.\n\n"
        f"Votre identifiant : {account.identifier}\n"
        f"Votre mot de passe temporaire : {password}\n\n"
        "Ce mot de passe est temporaire : il vous sera demandé de le changer lors de votre première\n"
        "connexion, après l'acceptation des conditions générales d'utilisation.\n"
        f"Il expire le {format_expiry(expires_at)}. Passé ce délai, demandez à votre administrateur\n"
        "d'en générer un nouveau.\n\n"
        "Ne communiquez jamais votre mot de passe, y compris à votre administrateur.\n\n"
        f"Pour toute question : {CONTACT_EMAIL}\n\n"
        "La Caisse des dépôts — Compte personnel de formation\n"
    )
    return subject, body


def regenerated_mail(account: Any, password: str, expires_at: datetime, actor: Any = None) -> tuple[str, str]:
    """Subject and plain-text French body of the e-mail sent after a password regeneration."""
    subject = "Nouveau mot de passe temporaire pour l'espace de gestion CPF"
    by_whom = f" par {actor.prenom} {actor.nom} ({actor.identifier})" if actor is not None else ""
    body = (
        f"Bonjour {account.prenom} {account.nom},\n\n"
        f"Un nouveau mot de passe temporaire a été généré{by_whom} pour votre compte dans {PORTAL_NAME}.\n\n"
        f"Votre identifiant : {account.identifier}\n"
        f"Votre mot de passe temporaire : {password}\n\n"
        "Ce mot de passe est temporaire : il vous sera demandé de le changer lors de votre prochaine\n"
        "connexion. Vos sessions ouvertes ont été fermées et un éventuel verrouillage est levé.\n"
        f"Il expire le {format_expiry(expires_at)}.\n\n"
        "Si vous n'êtes pas à l'origine de cette demande, prévenez votre administrateur.\n\n"
        f"Pour toute question : {CONTACT_EMAIL}\n\n"
        "La Caisse des dépôts — Compte personnel de formation\n"
    )
    return subject, body


async def provision_account(
    *,
    role: Role,
    profile: Profile,
    organisation: Organisation | None,
    establishment: Establishment | None,
    nom: str,
    prenom: str,
    email: str,
    phone: str = "",
    service: str = "",
    created_by: Account | None,
    ctx: RequestContext,
    using_db: Any,
    temp_password_days: int = 7,
    audit_action: str = "account.create",
) -> Account:
    """Create an account with a fresh identifier and temporary password, queue its e-mail, audit it.

    No permission check here: the caller has done them and passes its transaction as `using_db`.
    """
    from models import Account

    identifier = await allocate_identifier()
    password = passwords.generate_temporary_password()
    expires_at = clock.now() + timedelta(days=temp_password_days)
    account = await Account.create(
        identifier=identifier,
        role=role,
        profile=profile,
        organisation=organisation,
        establishment=establishment,
        nom=nom,
        prenom=prenom,
        email=email,
        phone=phone,
        service=service,
        search_text=text.fold(f"{identifier} {nom} {prenom} {email} {service}"),
        password_hash=passwords.hash_temporary(password),
        password_is_temporary=True,
        temp_password_expires_at=expires_at,
        created_by=created_by,
        using_db=using_db,
    )
    subject, body = welcome_mail(account, password, expires_at)
    await outbox.enqueue(
        kind="account_created",
        to_address=email,
        subject=subject,
        body=body,
        contains_secret=True,
        account_id=account.id,
        using_db=using_db,
    )
    await audit.record(
        audit_action,
        ctx=ctx,
        actor=created_by,
        target=account,
        after=account_public_fields(account),
        organisation_id=account.organisation_id,
        using_db=using_db,
    )
    return account


async def issue_temporary_password(
    account: Account,
    *,
    ctx: RequestContext,
    using_db: Any,
    temp_password_days: int = 7,
    actor: Account | None = None,
) -> None:
    """Give `account` a new temporary password, end its lockout and open sessions, e-mail it.

    The caller checks permissions and writes the audit event; `actor` is named in the e-mail.
    """
    password = passwords.generate_temporary_password()
    expires_at = clock.now() + timedelta(days=temp_password_days)
    account.password_hash = passwords.hash_temporary(password)
    account.password_is_temporary = True
    account.temp_password_expires_at = expires_at
    account.failed_attempts = 0
    account.last_failed_at = None
    account.locked_at = None
    account.credentials_epoch = account.credentials_epoch + 1
    await account.save(
        using_db=using_db,
        update_fields=[
            "password_hash",
            "password_is_temporary",
            "temp_password_expires_at",
            "failed_attempts",
            "last_failed_at",
            "locked_at",
            "credentials_epoch",
        ],
    )
    subject, body = regenerated_mail(account, password, expires_at, actor)
    await outbox.enqueue(
        kind="password_regenerated",
        to_address=account.email,
        subject=subject,
        body=body,
        contains_secret=True,
        account_id=account.id,
        using_db=using_db,
    )


async def bootstrap_operator(
    *, nom: str, prenom: str, email: str, phone: str = "", ctx: RequestContext, temp_password_days: int = 7
) -> Account:
    """Create a CDC operator from the command line (installation bootstrap), audited as `operator.create`.

    Whoever can run the command on the server already controls the database, so no actor is checked.
    Inputs are validated with French messages; the temporary password only goes to the outbox.
    """
    from tortoise.transactions import in_transaction

    from cpf_tui.services import validation
    from models import Profile, Role

    clean_nom = validation.validate_person_name(nom, "Nom")
    clean_prenom = validation.validate_person_name(prenom, "Prénom")
    clean_email = validation.validate_email(email)
    clean_phone = validation.validate_phone(phone, required=False)
    async with in_transaction() as conn:
        return await provision_account(
            role=Role.OPERATOR,
            profile=Profile.CLOTURE,
            organisation=None,
            establishment=None,
            nom=clean_nom,
            prenom=clean_prenom,
            email=clean_email,
            phone=clean_phone,
            service="Caisse des dépôts",
            created_by=None,
            ctx=ctx,
            using_db=conn,
            temp_password_days=temp_password_days,
            audit_action="operator.create",
        )
