"""Application sessions: one row per login, last activity, hard end, and administrators ending them."""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cpf_tui import clock, permissions
from cpf_tui.config import SecuritySettings
from cpf_tui.errors import NotFound, PermissionDenied, SessionEnded
from cpf_tui.permissions import DENIED_MESSAGES, Capability, can
from cpf_tui.services import audit
from cpf_tui.services.context import RequestContext
from cpf_tui.services.locking import serialised_transaction
from models import Account, AccountStatus, AppSession, CguVersion
from models.enums import Role

END_LOGOUT = "logout"
END_BY_ADMIN = "ended_by_admin"
END_PASSWORD_CHANGED = "password_changed"
END_CGU_REFUSED = "cgu_refused"
END_EXPIRED = "expired"
END_INVALIDATED = "invalidated"
END_PASSWORD_REGENERATED = "password_regenerated"
END_ACCOUNT_DEACTIVATED = "account_deactivated"
END_HANGUP = "hangup"
END_QUIT = "quit"

ENDED_MESSAGES = {
    END_BY_ADMIN: "Un administrateur a fermé votre session : veuillez vous reconnecter.",
    END_PASSWORD_CHANGED: "Votre mot de passe a été modifié depuis une autre session : veuillez vous reconnecter.",
    END_EXPIRED: "Votre session a atteint sa durée maximale : veuillez vous reconnecter.",
    END_PASSWORD_REGENERATED: "Votre mot de passe a été régénéré par un administrateur : votre session est terminée."
                              " Connectez-vous avec le mot de passe temporaire reçu par courriel.",
    END_ACCOUNT_DEACTIVATED: "Votre compte a été désactivé : votre session est terminée.",
}
DEFAULT_ENDED_MESSAGE = "Session terminée : veuillez vous reconnecter."


def idle_timeout_minutes(role: Role | str, security: SecuritySettings | None = None) -> int:
    """Minutes without a key press before the screen locks: gestionnaires get the longer delay."""
    security = security or SecuritySettings()
    if Role(role) == Role.GESTIONNAIRE:
        return security.idle_timeout_gestionnaire_minutes
    return security.idle_timeout_admin_minutes


def new_token() -> str:
    """An unguessable session token (256 bits, URL-safe, 43 characters)."""
    return secrets.token_urlsafe(32)


async def open_session(
    account: Account, ctx: RequestContext, *, security: SecuritySettings | None = None, using_db: Any = None
) -> Any:
    """Record a new session for `account`, inside the login transaction; returns the AppSession."""
    security = security or SecuritySettings()
    now = clock.now()
    return await AppSession.create(
        token=new_token(),
        account_id=account.id,
        credentials_epoch=account.credentials_epoch,
        started_at=now,
        last_activity_at=now,
        expires_at=now + timedelta(hours=security.session_max_hours),
        terminal=(ctx.terminal or "")[:200],
        ssh_user=(ctx.ssh_user or "")[:100],
        ssh_key_fingerprint=(ctx.ssh_key_fingerprint or "")[:128],
        peer=(ctx.peer or "")[:100],
        pid=os.getpid(),
        using_db=using_db,
    )


def ended_message(end_reason: str) -> str:
    """The French explanation shown to a user whose session was ended for `end_reason`."""
    return ENDED_MESSAGES.get(end_reason, DEFAULT_ENDED_MESSAGE)


async def touch(ctx: RequestContext) -> None:
    """Check that the session is still valid (SessionEnded otherwise) and record its last activity."""
    await load_actor(ctx)
    if ctx.session_token:
        await AppSession.filter(token=ctx.session_token, ended_at__isnull=True).update(last_activity_at=clock.now())


async def end_own_session(ctx: RequestContext, reason: str = END_LOGOUT) -> bool:
    """End the caller's session (logout, refusal of the CGU); True when a session was open."""
    if not ctx.session_token:
        return False
    async with serialised_transaction() as conn:
        ended = await AppSession.filter(token=ctx.session_token, ended_at__isnull=True).using_db(conn).update(
            ended_at=clock.now(), end_reason=reason
        )
        if ended:
            account = await Account.get_or_none(id=ctx.account_id, using_db=conn) if ctx.account_id else None
            await audit.record(
                "session.end",
                ctx=ctx,
                actor=account,
                target=account,
                after={"reason": reason},
                using_db=conn,
            )
    return bool(ended)


async def end_other_sessions(account_id: int, keep_token: str, reason: str, *, using_db: Any) -> int:
    """End every open session of an account but `keep_token` (inside the caller's transaction)."""
    query = AppSession.filter(account_id=account_id, ended_at__isnull=True)
    if keep_token:
        query = query.exclude(token=keep_token)
    return await query.using_db(using_db).update(ended_at=clock.now(), end_reason=reason)


@dataclass(frozen=True)
class OpenSession:
    """One line of the "Sessions ouvertes" screen (plain values)."""

    account_id: int
    identifier: str
    full_name: str
    role_label: str
    organisation_label: str
    started_at: datetime
    last_activity_at: datetime
    origin: str
    is_self: bool
    can_end: bool


def _origin(session: Any) -> str:
    parts = []
    if session.ssh_user:
        parts.append(f"SSH {session.ssh_user}")
    if session.peer:
        parts.append(session.peer)
    if session.terminal and not parts:
        parts.append(session.terminal)
    return " ".join(parts) or "local"


async def list_open_sessions(ctx: RequestContext) -> list[OpenSession]:
    """Open sessions within the actor's scope, most recent activity first."""
    actor = await require(ctx, Capability.SESSIONS_MANAGE)
    now = clock.now()
    query = AppSession.filter(ended_at__isnull=True, expires_at__gt=now, account__status="active")
    if Role(actor.role) != Role.OPERATOR:
        query = query.filter(account__organisation_id=actor.organisation_id)
        if Role(actor.role) == Role.DELEGATED_ADMIN:
            query = query.filter(account__establishment_id=actor.establishment_id)
    rows = await query.order_by("-last_activity_at").prefetch_related("account", "account__organisation")
    result = []
    for session in rows:
        account = session.account
        if not permissions.in_scope(actor, account.organisation_id, account.establishment_id):
            continue
        result.append(
            OpenSession(
                account_id=account.id,
                identifier=account.identifier,
                full_name=account.full_name,
                role_label=account.role.label,
                organisation_label=account.organisation.raison_sociale if account.organisation else "CDC",
                started_at=session.started_at,
                last_activity_at=session.last_activity_at,
                origin=_origin(session),
                is_self=account.id == actor.id,
                can_end=permissions.can_manage(actor, account),
            )
        )
    return result


async def end_account_sessions(ctx: RequestContext, account_id: int) -> int:
    """End every open session of a user the actor manages; returns how many were ended."""
    actor = await require(ctx, Capability.SESSIONS_MANAGE)
    target = await Account.get_or_none(id=account_id)
    if target is None or not permissions.in_scope(actor, target.organisation_id, target.establishment_id):
        raise NotFound("Ce compte n'existe pas ou n'est pas dans votre périmètre.")
    permissions.require_manage(actor, target)
    async with serialised_transaction() as conn:
        ended = await end_other_sessions(target.id, "", END_BY_ADMIN, using_db=conn)
        await audit.record(
            "sessions.end",
            ctx=ctx,
            actor=actor,
            target=target,
            after={"ended_sessions": ended},
            organisation_id=target.organisation_id,
            using_db=conn,
        )
    return ended


# -- the acting account, re-read on every service call ------------------------------------------
_SESSION_PREFIX = "_s_"
_LATEST_CGU = "_latest_cgu"


@functools.cache
def _actor_statement(dialect: str) -> tuple[str, tuple[str, ...]]:
    """`_read_actor`'s statement for `dialect` and the session's columns it reads, made once per dialect
    (the models' columns are known once Tortoise is initialised, before any service call)."""
    session_columns = tuple(sorted(AppSession._meta.db_fields))  # noqa: SLF001
    selected = ", ".join(f's."{column}" AS "{_SESSION_PREFIX}{column}"' for column in session_columns)
    first, second = ("?", "?") if dialect == "sqlite" else ("$1", "$2")
    statement = (
        f'SELECT a.*, {selected}, (SELECT MAX("version") FROM "{CguVersion._meta.db_table}") AS "{_LATEST_CGU}" '
        f'FROM "{Account._meta.db_table}" a LEFT JOIN "{AppSession._meta.db_table}" s ON s."token" = {first} '
        f'WHERE a."id" = {second}'
    )
    return statement, session_columns


async def _read_actor(account_id: int, token: str | None) -> tuple[Account | None, AppSession | None, int | None]:
    """The acting account, its session (by `token`) and the latest CGU version, in one statement.

    The rules re-read the actor on every service call, so this read is on every call's path: one
    parameterised statement on the account's current connection (the open transaction, if any), the
    rows built into instances the way Tortoise builds query results, without the query-builder's cost
    per call. Three statements before (account, session, CGU version): two round trips more per call.
    """
    conn = Account._meta.db  # noqa: SLF001 - Tortoise's connection for the model (transaction aware)
    statement, session_columns = _actor_statement(conn.capabilities.dialect)
    rows = await conn.execute_query_dict(statement, [token, account_id])
    if not rows:
        return None, None, None
    row = rows[0]
    account = Account._init_from_db(**row)  # noqa: SLF001 - the account's own columns (a.*)
    session = None
    if row[f"{_SESSION_PREFIX}token"] is not None:
        session = AppSession._init_from_db(  # noqa: SLF001
            **{column: row[f"{_SESSION_PREFIX}{column}"] for column in session_columns})
    latest = row[_LATEST_CGU]
    return account, session, None if latest is None else int(latest)


async def load_actor(ctx: RequestContext) -> Account:
    """Re-read the acting account; raise SessionEnded if it may no longer act."""
    return (await _load_actor(ctx))[0]


async def _load_actor(ctx: RequestContext) -> tuple[Account, int | None]:
    """The acting account (SessionEnded if it may no longer act) and the latest CGU version, read together."""
    if ctx.account_id is None:
        raise SessionEnded("Session terminée : veuillez vous reconnecter.")
    account, session, latest_cgu = await _read_actor(ctx.account_id, ctx.session_token or None)
    if account is None or account.status != AccountStatus.ACTIVE:
        raise SessionEnded("Votre compte a été désactivé : votre session est terminée.")
    if account.locked_at is not None:
        raise SessionEnded("Votre compte est verrouillé : votre session est terminée.")
    if account.password_is_temporary and _temporary_password_expired(account):
        raise SessionEnded(TEMPORARY_EXPIRED)
    if ctx.session_token:
        _check_session(session, account)
    return account, latest_cgu


def _check_session(session: AppSession | None, account: Account) -> None:
    """Raise SessionEnded when the session was ended, its password regenerated, or its time is up."""
    if session is None or session.account_id != account.id:
        raise SessionEnded(DEFAULT_ENDED_MESSAGE)
    if session.ended_at is not None:
        raise SessionEnded(ended_message(session.end_reason))
    if session.credentials_epoch != account.credentials_epoch:
        raise SessionEnded(ended_message(END_PASSWORD_REGENERATED))
    if session.expires_at is not None and clock.now() >= session.expires_at:
        raise SessionEnded(ended_message(END_EXPIRED))


TEMPORARY_EXPIRED = ("Votre mot de passe temporaire a expiré : votre session est terminée. Demandez un nouveau mot"
                     " de passe temporaire à votre administrateur.")
FIRST_LOGIN_PENDING = ("Terminez d'abord votre première connexion : acceptez les conditions générales d'utilisation"
                       " puis choisissez votre mot de passe.")
CGU_PENDING = "Acceptez d'abord la dernière version des conditions générales d'utilisation."


def _temporary_password_expired(account: Account) -> bool:
    expires_at = account.temp_password_expires_at
    return expires_at is None or clock.now() >= expires_at


def _require_first_login_done(actor: Account, latest: int | None) -> None:
    """Refuse every capability while the first-login steps (or a newer CGU version than `latest`,
    read with the actor) are due.

    Only the CGU acceptance and the password change, which do not go through `require`, pass.
    """
    if actor.password_is_temporary:
        raise PermissionDenied(FIRST_LOGIN_PENDING)
    if actor.cgu_version_accepted is None or (latest is not None and actor.cgu_version_accepted < latest):
        raise PermissionDenied(CGU_PENDING)


async def require(ctx: RequestContext, capability: Capability) -> Account:
    """The current actor if it has `capability`, else PermissionDenied with a French message.

    Nothing is allowed before the first-login steps are done (CGU accepted, temporary password changed).
    """
    actor, latest_cgu = await _load_actor(ctx)
    _require_first_login_done(actor, latest_cgu)
    require_capability(actor, capability)
    return actor


def require_capability(actor: Account, capability: Capability) -> None:
    """PermissionDenied (French message) unless `actor`, just returned by `require`, also has `capability`."""
    if not can(actor.role, actor.profile, capability):
        raise PermissionDenied(DENIED_MESSAGES.get(capability, "Vous n'avez pas le droit d'effectuer cette action."))
