"""The capability table (capability × role/profile): the single source of truth for rights.

Services call `require()` on every call (it re-reads the actor from the database); screens call
`can()` only to show, grey out or hide actions — hiding is never the protection.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from cpf_tui.errors import PermissionDenied, SessionEnded
from cpf_tui.services.context import RequestContext
from models.enums import Profile, Role


class Capability(str, Enum):
    """Everything a user may be allowed to do."""

    # Back office (CDC operators)
    ORGANISATION_REGISTER = "organisation.register"
    ORGANISATION_LIST_ALL = "organisation.list_all"
    PRINCIPAL_REPLACE = "principal.replace"
    OPERATOR_CREATE = "operator.create"
    OUTBOX_VIEW = "outbox.view"
    PLANNING_EDIT = "planning.edit"
    HOLDER_FEED = "holder.feed"
    # Habilitation management (administrators, operators)
    ESTABLISHMENT_ADD = "establishment.add"
    ACCOUNT_VIEW_TREE = "account.view_tree"
    ACCOUNT_SEARCH = "account.search"
    ACCOUNT_CREATE_DELEGATED = "account.create_delegated"
    ACCOUNT_CREATE_GESTIONNAIRE = "account.create_gestionnaire"
    ACCOUNT_EDIT = "account.edit"
    ACCOUNT_CHANGE_PROFILE = "account.change_profile"
    ACCOUNT_DEACTIVATE = "account.deactivate"
    ACCOUNT_REGENERATE_PASSWORD = "account.regenerate_password"
    SESSIONS_MANAGE = "sessions.manage"
    BULK_IMPORT = "bulk.import"
    AUDIT_VIEW = "audit.view"
    PLANNING_VIEW = "planning.view"
    # Dossier profiles (cumulative)
    HOLDER_VIEW = "holder.view"
    HOLDER_UPDATE_CONTACT = "holder.update_contact"
    HOLDER_SET_DIF = "holder.set_dif"
    DOSSIER_VIEW = "dossier.view"
    DOSSIER_EDIT_DRAFT = "dossier.edit_draft"
    DOSSIER_VALIDATE = "dossier.validate"
    DOSSIER_CLOSE = "dossier.close"


OP, PA, DA, GE = Role.OPERATOR, Role.PRINCIPAL_ADMIN, Role.DELEGATED_ADMIN, Role.GESTIONNAIRE
ADMINS = frozenset({PA, DA})
EVERYONE = frozenset({OP, PA, DA, GE})

# Rights given by role alone.
ROLE_CAPABILITIES: dict[Capability, frozenset[Role]] = {
    Capability.ORGANISATION_REGISTER: frozenset({OP}),
    Capability.ORGANISATION_LIST_ALL: frozenset({OP}),
    Capability.PRINCIPAL_REPLACE: frozenset({OP}),
    Capability.OPERATOR_CREATE: frozenset({OP}),
    Capability.OUTBOX_VIEW: frozenset({OP}),
    Capability.PLANNING_EDIT: frozenset({OP}),
    Capability.HOLDER_FEED: frozenset({OP}),
    Capability.ESTABLISHMENT_ADD: frozenset({OP, PA}),
    Capability.ACCOUNT_VIEW_TREE: frozenset({OP, PA, DA}),
    Capability.ACCOUNT_SEARCH: frozenset({OP, PA, DA}),
    Capability.ACCOUNT_CREATE_DELEGATED: frozenset({OP, PA}),
    Capability.ACCOUNT_CREATE_GESTIONNAIRE: frozenset({OP, PA, DA}),
    Capability.ACCOUNT_EDIT: frozenset({OP, PA, DA}),
    Capability.ACCOUNT_CHANGE_PROFILE: frozenset({OP, PA, DA}),
    Capability.ACCOUNT_DEACTIVATE: frozenset({OP, PA, DA}),
    Capability.ACCOUNT_REGENERATE_PASSWORD: frozenset({OP, PA, DA}),
    Capability.SESSIONS_MANAGE: frozenset({OP, PA, DA}),
    Capability.BULK_IMPORT: frozenset({OP, PA}),
    Capability.AUDIT_VIEW: frozenset({OP, PA, DA}),
    Capability.PLANNING_VIEW: EVERYONE,
}

# Rights given by the dossier profile (minimum profile), for administrators and gestionnaires.
PROFILE_CAPABILITIES: dict[Capability, Profile] = {
    Capability.HOLDER_VIEW: Profile.CONSULTATION,
    Capability.HOLDER_UPDATE_CONTACT: Profile.CONSULTATION,
    Capability.HOLDER_SET_DIF: Profile.CONSULTATION,
    Capability.DOSSIER_VIEW: Profile.CONSULTATION,
    Capability.DOSSIER_EDIT_DRAFT: Profile.CREATION,
    Capability.DOSSIER_VALIDATE: Profile.VALIDATION,
    Capability.DOSSIER_CLOSE: Profile.CLOTURE,
}
# CDC operators consult holders and files but do not instruct them.
OPERATOR_READ_ONLY = frozenset({Capability.HOLDER_VIEW, Capability.DOSSIER_VIEW})

DENIED_MESSAGES: dict[Capability, str] = {
    Capability.DOSSIER_EDIT_DRAFT: "Votre profil ne permet pas de créer ou modifier un dossier (profil Création requis).",
    Capability.DOSSIER_VALIDATE: "Votre profil ne permet pas de valider un dossier (profil Validation requis).",
    Capability.DOSSIER_CLOSE: "Votre profil ne permet pas de clore un dossier (profil Clôture requis).",
}


def can(role: Role | str, profile: Profile | str | None, capability: Capability) -> bool:
    """Whether a role/profile has a capability (no scope, no state: see `require` and `can_manage`)."""
    role = Role(role)
    if capability in ROLE_CAPABILITIES:
        return role in ROLE_CAPABILITIES[capability]
    if capability in PROFILE_CAPABILITIES:
        if role == OP:
            return capability in OPERATOR_READ_ONLY
        effective = Profile.CLOTURE if role in ADMINS else Profile(profile or Profile.CONSULTATION)
        return effective.rank >= PROFILE_CAPABILITIES[capability].rank
    return False


def capabilities_of(role: Role | str, profile: Profile | str | None) -> frozenset[Capability]:
    """Every capability of a role/profile (for screens that show many actions)."""
    return frozenset(c for c in Capability if can(role, profile, c))


async def _read_one(model: Any, column: str, value: Any) -> Any:
    """One row of `model` by a unique column, as a model instance, or None.

    The rules re-read the actor on every service call, so this read is on every call's path: one
    parameterised statement on the model's current connection (the open transaction, if any), built
    into an instance the way Tortoise builds query results, without the query-builder's cost per call.
    """
    conn = model._meta.db  # noqa: SLF001 - Tortoise's connection for the model (transaction aware)
    mark = "?" if conn.capabilities.dialect == "sqlite" else "$1"
    rows = await conn.execute_query_dict(f'SELECT * FROM "{model._meta.db_table}" WHERE "{column}" = {mark}', [value])
    return model._init_from_db(**rows[0]) if rows else None  # noqa: SLF001


async def load_actor(ctx: RequestContext) -> Any:
    """Re-read the acting account; raise SessionEnded if it may no longer act."""
    from models import Account, AccountStatus

    if ctx.account_id is None:
        raise SessionEnded("Session terminée : veuillez vous reconnecter.")
    account = await _read_one(Account, "id", ctx.account_id)
    if account is None or account.status != AccountStatus.ACTIVE:
        raise SessionEnded("Votre compte a été désactivé : votre session est terminée.")
    if account.locked_at is not None:
        raise SessionEnded("Votre compte est verrouillé : votre session est terminée.")
    if account.password_is_temporary and _temporary_password_expired(account):
        raise SessionEnded(TEMPORARY_EXPIRED)
    if ctx.session_token:
        await _check_session(ctx.session_token, account)
    return account


async def _check_session(token: str, account: Any) -> None:
    """Raise SessionEnded when the session was ended, its password regenerated, or its time is up."""
    from cpf_tui import clock
    from cpf_tui.services import sessions
    from models import AppSession

    session = await _read_one(AppSession, "token", token)
    if session is None or session.account_id != account.id:
        raise SessionEnded(sessions.DEFAULT_ENDED_MESSAGE)
    if session.ended_at is not None:
        raise SessionEnded(sessions.ended_message(session.end_reason))
    if session.credentials_epoch != account.credentials_epoch:
        raise SessionEnded(sessions.ended_message(sessions.END_PASSWORD_REGENERATED))
    if session.expires_at is not None and clock.now() >= session.expires_at:
        raise SessionEnded(sessions.ended_message(sessions.END_EXPIRED))


TEMPORARY_EXPIRED = ("Votre mot de passe temporaire a expiré : votre session est terminée. Demandez un nouveau mot"
                     " de passe temporaire à votre administrateur.")
FIRST_LOGIN_PENDING = ("Terminez d'abord votre première connexion : acceptez les conditions générales d'utilisation"
                       " puis choisissez votre mot de passe.")
CGU_PENDING = "Acceptez d'abord la dernière version des conditions générales d'utilisation."


def _temporary_password_expired(account: Any) -> bool:
    from cpf_tui import clock

    expires_at = account.temp_password_expires_at
    return expires_at is None or clock.now() >= expires_at


async def _require_first_login_done(actor: Any) -> None:
    """Refuse every capability while the first-login steps (or a newer CGU version) are due.

    Only the CGU acceptance and the password change, which do not go through `require`, pass.
    """
    from models import CguVersion

    if actor.password_is_temporary:
        raise PermissionDenied(FIRST_LOGIN_PENDING)
    latest = await CguVersion.all().order_by("-version").first().values_list("version", flat=True)
    if actor.cgu_version_accepted is None or (latest is not None and actor.cgu_version_accepted < latest):
        raise PermissionDenied(CGU_PENDING)


async def require(ctx: RequestContext, capability: Capability) -> Any:
    """The current actor if it has `capability`, else PermissionDenied with a French message.

    Nothing is allowed before the first-login steps are done (CGU accepted, temporary password changed).
    """
    actor = await load_actor(ctx)
    await _require_first_login_done(actor)
    if not can(actor.role, actor.profile, capability):
        raise PermissionDenied(DENIED_MESSAGES.get(capability, "Vous n'avez pas le droit d'effectuer cette action."))
    return actor


def in_scope(actor: Any, organisation_id: int | None, establishment_id: int | None = None) -> bool:
    """Whether an object of this organisation/establishment is within the actor's scope."""
    role = Role(actor.role)
    if role == OP:
        return True
    if organisation_id is None or actor.organisation_id != organisation_id:
        return False
    if role == DA:
        return establishment_id is not None and establishment_id == actor.establishment_id
    return True


def can_manage(actor: Any, target: Any) -> bool:
    """Whether `actor` may act on account `target`: in scope, strictly lower level, never itself."""
    if actor.id == target.id:
        return False
    if Role(target.role).level >= Role(actor.role).level:
        return False
    if Role(actor.role) == GE:
        return False
    return in_scope(actor, target.organisation_id, target.establishment_id)


def require_manage(actor: Any, target: Any) -> None:
    """Raise PermissionDenied (French) unless `actor` may act on `target`."""
    if actor.id == target.id:
        raise PermissionDenied("Vous ne pouvez pas effectuer cette action sur votre propre compte.")
    if Role(target.role).level >= Role(actor.role).level:
        raise PermissionDenied("Vous ne pouvez pas agir sur un compte de niveau égal ou supérieur au vôtre.")
    if not can_manage(actor, target):
        raise PermissionDenied("Ce compte n'est pas dans votre périmètre.")
