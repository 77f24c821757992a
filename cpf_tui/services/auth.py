"""Authentication: check an identifier and password against the Argon2id hash."""

from __future__ import annotations

from dataclasses import dataclass

from cpf_tui import clock
from cpf_tui.errors import AuthenticationFailed
from cpf_tui.services import audit, passwords
from cpf_tui.services.context import RequestContext
from cpf_tui.services.identifiers import normalise_identifier

LOGIN_FAILED = "Identifiant ou mot de passe incorrect."


@dataclass(frozen=True)
class SessionInfo:
    """What the UI knows about the logged-in user (plain values, re-checked by every service)."""

    account_id: int
    identifier: str
    full_name: str
    role: str
    role_label: str
    profile: str
    profile_label: str
    organisation_label: str
    establishment_label: str
    session_token: str = ""


async def session_info(account_id: int, session_token: str = "") -> SessionInfo:
    """Describe an account for the UI."""
    from models import Account

    account = await Account.get(id=account_id).prefetch_related("organisation", "establishment")
    organisation = account.organisation
    establishment = account.establishment
    return SessionInfo(
        account_id=account.id,
        identifier=account.identifier,
        full_name=account.full_name,
        role=account.role.value,
        role_label=account.role.label,
        profile=account.profile.value,
        profile_label=account.profile.label,
        organisation_label=organisation.raison_sociale if organisation else "Caisse des dépôts",
        establishment_label=establishment.name if establishment else "",
        session_token=session_token,
    )


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = passwords.hash_password("dummy-password-for-timing")
    return _DUMMY_HASH


async def authenticate(identifier: str, password: str, ctx: RequestContext) -> SessionInfo:
    """Return the session of the account, or raise AuthenticationFailed with one French message."""
    from models import Account, AccountStatus

    typed = normalise_identifier(identifier)
    account = await Account.get_or_none(identifier=typed)
    valid = passwords.verify(account.password_hash if account else _dummy_hash(), password)
    ok = account is not None and valid and account.status == AccountStatus.ACTIVE and account.locked_at is None
    if account is not None and ok and account.password_is_temporary and account.temp_password_expires_at:
        ok = account.temp_password_expires_at > clock.now()
    await audit.record(
        "login",
        ctx=ctx,
        actor=account if ok else None,
        actor_identifier=typed[:32],
        target=account,
        outcome="success" if ok else "failure",
    )
    if not ok or account is None:
        raise AuthenticationFailed(LOGIN_FAILED)
    account.last_login_at = clock.now()
    await account.save(update_fields=["last_login_at"])
    return await session_info(account.id)
