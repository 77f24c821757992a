"""The capability table (capability × role/profile): the single source of truth for rights.

Services call `require()` on every call (it re-reads the actor from the database); screens call
`can()` only to show, grey out or hide actions — hiding is never the protection.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from cpf_tui.errors import PermissionDenied
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
