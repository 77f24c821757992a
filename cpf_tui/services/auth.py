"""Authentication: login with brute-force delays and lockout, unlock of an idle session, password change.

Every login failure gets the same French message and about the same response time, whatever the
cause (see docs/security.md). This module is imported by the App at start-up: heavy imports stay inside
the functions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from cpf_tui import clock
from cpf_tui.config import SecuritySettings
from cpf_tui.errors import AuthenticationFailed, SessionEnded, ValidationError
from cpf_tui.services import audit, passwords
from cpf_tui.services.context import RequestContext, SessionInfo
from cpf_tui.services.identifiers import normalise_identifier
from cpf_tui.services.mail import mail_time

from models import (
    Account,
    AccountStatus,
    AppSession,
    AuditEvent,
    CguVersion,
    Dossier,
    Establishment,
    Organisation,
    PasswordHistory,
)
LOGIN_FAILED = "Identifiant ou mot de passe incorrect."
UNLOCK_FAILED = "Mot de passe incorrect."
CURRENT_PASSWORD_WRONG = "Mot de passe actuel incorrect."
LOCKED_NOW = "Trop d'échecs : votre compte est verrouillé. Un administrateur doit régénérer votre mot de passe."
MAX_PASSWORD_INPUT = 1024
"""Longer inputs are refused without being hashed (they cannot be a valid password, see password_policy)."""
FAILURE_WINDOW = timedelta(hours=24)
"""Consecutive failures are forgotten after this much quiet, for real accounts and unknown identifiers alike."""
MAX_DELAY_SECONDS = 15 * 60

# A hash of a random, forgotten password, made with the user profile: verified when the identifier is
# unknown (and to pad cheap temporary-password hashes) so that every attempt costs the same.
_DUMMY_HASH_LITERAL = (
    "$argon2id$v=19$m=65536,t=3,p=4$0o7fo/eBoKlJVf8ebIaDxA$coUPMB38gHYtW9GXIvKdl3kn+29bbHCPNek6EfxPx8c"
)
_dummy_hash_cache: str | None = None


async def session_info(account_id: int, session_token: str = "", expires_at: datetime | None = None) -> SessionInfo:
    """Describe an account for the UI, with the first-login steps it still has to go through."""
    from cpf_tui.services import cgu

    account = await Account.get(id=account_id).prefetch_related("organisation", "establishment")
    organisation = account.organisation
    establishment = account.establishment
    required = await cgu.required_version(account)
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
        nom=account.nom,
        prenom=account.prenom,
        email=account.email,
        cgu_version_required=required.version if required is not None else 0,
        must_change_password=account.password_is_temporary,
        expires_at=expires_at,
    )


async def _describe_for_home(account: Account) -> SessionInfo:
    """`session_info` plus home's work queues when home comes next (no CGU or new password due).

    Read while Argon2 checks the password and used only if the login succeeds, so that home is filled and
    drawn in one frame right after the check (bench/login.py).
    """
    from cpf_tui.permissions import Capability, can
    from cpf_tui.services import work_queues

    info = await session_info(account.id)
    if info.first_login_pending or not can(account.role, account.profile, Capability.DOSSIER_VIEW):
        return info
    return replace(info, home_queues=tuple(await work_queues.queues_for(account)))


# -- timing ------------------------------------------------------------------------------------------
def _dummy_hash() -> str:
    """The dummy hash, made again only if the Argon2 parameters of user passwords changed."""
    global _dummy_hash_cache
    if _dummy_hash_cache is None:
        literal = _DUMMY_HASH_LITERAL
        _dummy_hash_cache = passwords.hash_password("unused") if passwords.needs_rehash(literal) else literal
    return _dummy_hash_cache


def prepare_login() -> None:
    """Load now what a login needs: the Argon2 bindings and hashers, the dummy hash, the services called.

    The login screen calls this while the form is being typed (the same for every identifier: nothing
    is read), so that the first login of a process does not spend its first milliseconds importing
    modules and loading the Argon2 library after Enter (docs/security.md, § 10). Idempotent.
    """
    from cpf_tui.services import (  # noqa: F401 - imported for their side effect
        accounts, cgu, dossiers, locking, rows, sessions, work_queues,
    )

    passwords.user_hasher()
    passwords.temp_hasher()
    _dummy_hash()


async def warm_database() -> None:
    """Read, once, from each table a login touches (nothing about any account: ids that do not exist).

    The first query on a model builds its executor and SQL, and brings the table's pages into the
    database cache. Done while the login form is typed, it is not paid after the password check.
    Read-only and idempotent; a failure here changes nothing (the login reads for real).
    """
    from cpf_tui.services import reference  # noqa: F401 - imported by the CGU check at login

    await Account.filter(id=0).prefetch_related("organisation", "establishment")
    for model in (AppSession, Organisation, Establishment):
        await model.filter(id=0).first()
    await AuditEvent.all().order_by("-seq").first()
    await CguVersion.all().order_by("-version").first()
    await Dossier.filter(id=0).count()


def verify_uniform(password_hash: str | None, password: str) -> bool:
    """Verify `password` at the cost of one user-profile Argon2 verification, whatever the hash.

    No hash (unknown identifier, refused without checking): the dummy hash is verified instead. A hash
    of the cheap temporary profile is padded with a verification of the dummy hash.
    """
    if password_hash is None or len(password) > MAX_PASSWORD_INPUT:
        passwords.verify(_dummy_hash(), password[:MAX_PASSWORD_INPUT])
        return False
    valid = passwords.verify(password_hash, password)
    try:
        cheaper = passwords.needs_rehash(password_hash)
    except Exception:  # unreadable hash
        cheaper = True
    if cheaper:
        passwords.verify(_dummy_hash(), password)
    return valid


async def _verify(password_hash: str | None, password: str) -> bool:
    """`verify_uniform` in a thread: Argon2 releases the GIL, the interface keeps drawing."""
    return await asyncio.to_thread(verify_uniform, password_hash, password)


# -- delays and lockout --------------------------------------------------------------------------------
def delay_after_failures(failures: int, security: SecuritySettings) -> float:
    """Seconds to wait after `failures` consecutive failures: 0, then base, doubling up to the lock."""
    if failures < security.lockout_delay_after:
        return 0.0
    steps = min(failures, security.lockout_lock_after) - security.lockout_delay_after
    return float(min(security.lockout_base_delay_seconds * 2**steps, MAX_DELAY_SECONDS))


def remaining_delay(failures: int, last_failed_at: datetime | None, security: SecuritySettings) -> float:
    """Seconds before the next attempt is accepted (0 when it is accepted now)."""
    if last_failed_at is None:
        return 0.0
    wait_until = last_failed_at + timedelta(seconds=delay_after_failures(failures, security))
    return max(0.0, (wait_until - clock.now()).total_seconds())


def current_failures(failed_attempts: int, last_failed_at: datetime | None) -> int:
    """The consecutive failures still counted: none once the last one is older than `FAILURE_WINDOW`."""
    if last_failed_at is not None and clock.now() - last_failed_at > FAILURE_WINDOW:
        return 0
    return failed_attempts


async def _unknown_identifier_failures(
    typed: str, security: SecuritySettings, *, using_db: Any = None
) -> tuple[int, datetime | None]:
    """Consecutive failures on an identifier that matches no account, read from the journal.

    Counted like an account's counter: a run of failures no two of which are more than
    `FAILURE_WINDOW` apart, the newest within that window of now. Unknown identifiers then get the
    same delays as real accounts: the delay reveals nothing.
    """

    wanted = security.lockout_lock_after + 1
    query = AuditEvent.filter(action="login", outcome="failure", actor_identifier=typed)
    try:  # a run of `wanted` failures with gaps of at most the window fits in `wanted` windows
        query = query.filter(at__gte=clock.now() - FAILURE_WINDOW * wanted)
    except OverflowError:  # a threshold so high that the span reaches before year 1: no lower bound
        pass
    moments = cast(list[datetime], await query.using_db(using_db).order_by("-seq").limit(wanted)
                   .values_list("at", flat=True))
    count, newer = 0, clock.now()
    for moment in moments:
        if newer - moment > FAILURE_WINDOW:
            break
        count, newer = count + 1, moment
    return count, (moments[0] if count else None)


def _lock_mail(account: Account) -> tuple[str, str]:
    subject = "Votre compte de l'espace de gestion CPF est verrouillé"
    body = (
        f"Bonjour {account.prenom} {account.nom},\n\n"
        f"Après plusieurs tentatives de connexion infructueuses, votre compte ({account.identifier}) a été\n"
        f"verrouillé le {mail_time(clock.now())}.\n\n"
        "Pour le débloquer, demandez à votre administrateur de régénérer votre mot de passe : vous recevrez\n"
        "un nouveau mot de passe temporaire par courriel.\n\n"
        "Si vous n'êtes pas à l'origine de ces tentatives, signalez-le à votre administrateur.\n\n"
        "La Caisse des dépôts — Compte personnel de formation\n"
    )
    return subject, body


async def register_failure(account: Account, security: SecuritySettings, *, using_db: Any) -> tuple[float, bool]:
    """Count one more failure on `account` (atomically); lock it and e-mail its owner at the threshold.

    Returns (seconds before the next attempt, whether the account got locked by this failure).
    """
    from tortoise.expressions import F


    now = clock.now()
    if current_failures(1, account.last_failed_at) == 0:  # quiet for a whole window: a new run begins
        await Account.filter(id=account.id).using_db(using_db).update(failed_attempts=1, last_failed_at=now)
    else:
        await Account.filter(id=account.id).using_db(using_db).update(
            failed_attempts=F("failed_attempts") + 1, last_failed_at=now
        )
    await account.refresh_from_db(using_db=using_db, fields=["failed_attempts", "last_failed_at", "locked_at"])
    return delay_after_failures(account.failed_attempts, security), await _lock_if_due(
        account, security, using_db=using_db
    )


async def _lock_if_due(account: Account, security: SecuritySettings, *, using_db: Any) -> bool:
    """Lock `account` (e-mail and audit) when its counter reached the threshold; True if this call locked it.

    `account.failed_attempts` and `locked_at` must have been read inside `using_db`.
    """
    from cpf_tui.services import outbox

    now = clock.now()
    locked_now = False
    if (
        account.failed_attempts >= security.lockout_lock_after
        and account.locked_at is None
        and account.status == AccountStatus.ACTIVE
    ):
        locked = await Account.filter(id=account.id, locked_at__isnull=True).using_db(using_db).update(locked_at=now)
        if locked:
            locked_now = True
            account.locked_at = now
            subject, body = _lock_mail(account)
            await outbox.enqueue(
                kind="account_locked", to_address=account.email, subject=subject, body=body,
                account_id=account.id, using_db=using_db,
            )
            await audit.record(
                "account.locked",
                actor_identifier="système",
                target=account,
                after={"failed_attempts": account.failed_attempts},
                organisation_id=account.organisation_id,
                using_db=using_db,
            )
    return locked_now


async def _reset_failures(account: Account, *, using_db: Any, **extra: Any) -> None:
    await Account.filter(id=account.id).using_db(using_db).update(failed_attempts=0, last_failed_at=None, **extra)


# -- login ---------------------------------------------------------------------------------------------
IDENTIFIER_MAX_LENGTH = 16
"""Length of the `Account.identifier` column: a longer typed identifier matches no account."""


@dataclass(frozen=True)
class _Attempt:
    """One login attempt as reserved before the password is verified."""

    failures: int
    """Consecutive failures counted, this attempt included when it was reserved."""
    wait: float
    """Seconds still to wait (the attempt is refused during a delay, and not reserved)."""
    over_limit: bool = False
    """The account is locked or its counter reached the lock: the password is not verified."""


async def _lock_account_row(account_id: int, conn: Any) -> Any:
    """The account re-read inside `conn`; on PostgreSQL its row stays locked until the transaction ends."""
    from cpf_tui.services.locking import is_sqlite

    query = Account.filter(id=account_id)
    if not is_sqlite(conn):
        query = query.select_for_update()
    return await query.using_db(conn).first()


async def _reserve(typed: str, account: Account, security: SecuritySettings) -> _Attempt:
    """Count the attempt before its password is verified, atomically (writer lock or row lock).

    Parallel attempts on one account each take the next value of the counter, so no more than
    `lockout_lock_after` of them ever reach a password verification, and the delays hold for a burst
    too. An unknown identifier has nothing to reserve: its failures are read from the journal in the
    same kind of transaction, so both paths cost the same.
    """
    from cpf_tui.services.locking import serialised_transaction

    async with serialised_transaction() as conn:
        if account is None:
            failures, last = await _unknown_identifier_failures(typed, security, using_db=conn)
            return _Attempt(failures, remaining_delay(failures, last, security))
        fresh = await _lock_account_row(account.id, conn)
        failures = current_failures(fresh.failed_attempts, fresh.last_failed_at)
        wait = remaining_delay(failures, fresh.last_failed_at, security)
        if wait > 0:
            return _Attempt(failures, wait)
        now = clock.now()
        await Account.filter(id=account.id).using_db(conn).update(failed_attempts=failures + 1, last_failed_at=now)
        over_limit = fresh.locked_at is not None or failures >= security.lockout_lock_after
        return _Attempt(failures + 1, 0.0, over_limit=over_limit)


async def _find_account(typed: str) -> Any:
    """The account of a typed identifier, or None (also for identifiers too long to be one)."""
    if not typed or len(typed) > IDENTIFIER_MAX_LENGTH:
        return None
    return await Account.get_or_none(identifier=typed)


async def authenticate(
    identifier: str, password: str, ctx: RequestContext, *, security: SecuritySettings | None = None
) -> SessionInfo:
    """Open a session for the account, or raise AuthenticationFailed with one French message.

    `retry_after` on the error tells the login screen how long to count down before the next attempt.
    """
    from cpf_tui.services import sessions
    from cpf_tui.services.locking import serialised_transaction

    security = security or SecuritySettings()
    typed = normalise_identifier(identifier or "")[:32]
    account = await _find_account(typed)
    organisation_id = account.organisation_id if account is not None else None

    attempt = await _reserve(typed, account, security)
    if attempt.wait > 0:
        await _verify(None, password)
        await audit.record(
            "login", ctx=ctx, actor_identifier=typed, target=account, outcome="delayed",
            after={"retry_after_seconds": round(attempt.wait)}, organisation_id=organisation_id,
        )
        raise AuthenticationFailed(LOGIN_FAILED, retry_after=attempt.wait)

    # What home shows about the account is read while Argon2 works (in its thread); used only on success.
    described = (
        asyncio.ensure_future(_describe_for_home(account)) if account is not None and not attempt.over_limit else None
    )
    try:
        checked_hash = account.password_hash if account is not None and not attempt.over_limit else None
        valid = await _verify(checked_hash, password)
    except BaseException:
        await _discard(described)
        raise
    reason = ""
    if account is None:
        reason = "unknown_identifier"
    elif account.status != AccountStatus.ACTIVE:
        reason = "deactivated"
    elif attempt.over_limit or account.locked_at is not None:
        reason = "locked"
    elif not valid:
        reason = "wrong_password"
    elif account.password_is_temporary and (
        account.temp_password_expires_at is None or account.temp_password_expires_at <= clock.now()
    ):
        reason = "temporary_password_expired"

    if not reason:
        assert account is not None and described is not None
        info = await described
        new_hash = ""
        if not account.password_is_temporary and passwords.needs_rehash(account.password_hash):
            new_hash = await asyncio.to_thread(passwords.hash_password, password)
        async with serialised_transaction() as conn:
            # Re-checked under the lock: a parallel attempt may have locked the account, an
            # administrator deactivated it or regenerated its password while Argon2 ran.
            fresh = await _lock_account_row(account.id, conn)
            if fresh.status != AccountStatus.ACTIVE:
                reason = "deactivated"
            elif fresh.locked_at is not None:
                reason = "locked"
            elif (fresh.password_hash, fresh.credentials_epoch) != (account.password_hash, account.credentials_epoch):
                reason = "credentials_changed"
            else:
                session = await sessions.open_session(account, ctx, security=security, using_db=conn)
                extra: dict[str, Any] = {"last_login_at": clock.now()}
                if new_hash:
                    extra["password_hash"] = new_hash
                await _settle_success(fresh, attempt.failures, using_db=conn, **extra)
                await audit.record(
                    "login", ctx=ctx.as_account(account.id, session.token), actor=account, target=account,
                    outcome="success", after={"rehashed": True} if new_hash else None, using_db=conn,
                )
                return replace(info, session_token=session.token, expires_at=session.expires_at)

    await _discard(described)
    retry_after = 0.0
    async with serialised_transaction() as conn:
        if account is None:
            retry_after = delay_after_failures(attempt.failures + 1, security)
        else:
            fresh = await _lock_account_row(account.id, conn)
            if reason == "temporary_password_expired" and valid:
                # The right (expired) password is not a guess: its reservation is given back.
                await _give_back(fresh, attempt.failures, using_db=conn)
            else:
                retry_after = delay_after_failures(fresh.failed_attempts, security)
                await _lock_if_due(fresh, security, using_db=conn)
        await audit.record(
            "login", ctx=ctx, actor_identifier=typed, target=account, outcome="failure",
            after={"reason": reason}, organisation_id=organisation_id, using_db=conn,
        )
    raise AuthenticationFailed(LOGIN_FAILED, retry_after=retry_after)


async def _settle_success(fresh: Any, reserved: int, *, using_db: Any, **extra: Any) -> None:
    """After a success: reset the counter, unless attempts were reserved after this one meanwhile.

    Those are still being verified (or were refused): they are someone else's guesses, and a success
    in the middle of a burst must not open room for more of them. The next success resets it.
    """

    if fresh.failed_attempts == reserved:
        extra.update(failed_attempts=0, last_failed_at=None)
    await Account.filter(id=fresh.id).using_db(using_db).update(**extra)


async def _give_back(fresh: Any, reserved: int, *, using_db: Any) -> None:
    """Undo one reservation (when it is still the newest one)."""
    if fresh.failed_attempts == reserved:
        await Account.filter(id=fresh.id).using_db(using_db).update(failed_attempts=max(reserved - 1, 0))


async def _discard(task: asyncio.Future[Any] | None) -> None:
    """Let an unused read finish, then drop its result or its error.

    It is not cancelled: the first `session_info` of a new database publishes the reference CGU (a
    write transaction), and a transaction cut short would leave the connection inside it. Normally the
    read ended long before Argon2 did. If the caller itself is cancelled meanwhile, the read still
    finishes on its own.
    """
    if task is None:
        return
    task.add_done_callback(_drop_outcome)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:  # noqa: BLE001 - the read is not needed any more, nor its error
        pass


def _drop_outcome(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of a discarded read as seen (no "exception was never retrieved" warning)."""
    if not task.cancelled():
        task.exception()


# -- idle lock -----------------------------------------------------------------------------------------
async def unlock(ctx: RequestContext, password: str, *, security: SecuritySettings | None = None) -> None:
    """Check the password of the logged-in user on the lock screen; a wrong one counts as a failure.

    Raises AuthenticationFailed (stay locked) or SessionEnded (the account got locked: log out).
    """
    from cpf_tui.services import sessions
    from cpf_tui.services.locking import serialised_transaction

    security = security or SecuritySettings()
    account = await sessions.load_actor(ctx)
    failures = current_failures(account.failed_attempts, account.last_failed_at)
    wait = remaining_delay(failures, account.last_failed_at, security)
    if wait > 0:
        await _verify(None, password)
        raise AuthenticationFailed(f"{UNLOCK_FAILED} Nouvel essai possible dans {int(wait + 0.999)} s.", wait)
    valid = await _verify(account.password_hash, password)
    async with serialised_transaction() as conn:
        if valid:
            await _reset_failures(account, using_db=conn)
            locked_now, retry_after = False, 0.0
        else:
            retry_after, locked_now = await register_failure(account, security, using_db=conn)
        await audit.record(
            "session.unlock", ctx=ctx, actor=account, target=account,
            outcome="success" if valid else "failure", using_db=conn,
        )
    if locked_now:
        await sessions.end_own_session(ctx, sessions.END_INVALIDATED)
        raise SessionEnded(LOCKED_NOW)
    if not valid:
        raise AuthenticationFailed(UNLOCK_FAILED, retry_after)
    await sessions.touch(ctx)


# -- password change -----------------------------------------------------------------------------------
def _changed_mail(account: Account) -> tuple[str, str]:
    subject = "Votre mot de passe de l'espace de gestion CPF a été modifié"
    body = (
        f"Bonjour {account.prenom} {account.nom},\n\n"
        f"Le mot de passe de votre compte ({account.identifier}) a été modifié le "
        f"{mail_time(clock.now())}.\n\n"
        "Si vous n'êtes pas à l'origine de ce changement, prévenez immédiatement votre administrateur :\n"
        "il pourra régénérer votre mot de passe.\n\n"
        "La Caisse des dépôts — Compte personnel de formation\n"
    )
    return subject, body


async def change_password(
    ctx: RequestContext,
    new_password: str,
    confirmation: str,
    *,
    current_password: str | None = None,
    security: SecuritySettings | None = None,
) -> None:
    """Replace the logged-in user's password after checking every rule (all reasons given at once).

    The current password is asked unless the password is temporary (it was typed at login moments
    ago). The other open sessions of the account end.
    """
    from cpf_tui.services import outbox, password_policy, sessions
    from cpf_tui.services.locking import serialised_transaction

    security = security or SecuritySettings()
    account = await sessions.load_actor(ctx)
    if current_password is not None or not account.password_is_temporary:
        if not current_password:
            raise ValidationError("Saisissez votre mot de passe actuel.", {"current": "obligatoire"})
        failures = current_failures(account.failed_attempts, account.last_failed_at)
        wait = remaining_delay(failures, account.last_failed_at, security)
        if wait > 0:
            raise ValidationError(
                f"Trop d'échecs : nouvel essai possible dans {int(wait + 0.999)} s.", {"current": "délai"}
            )
        if not await _verify(account.password_hash, current_password):
            async with serialised_transaction() as conn:
                _, locked_now = await register_failure(account, security, using_db=conn)
                await audit.record(
                    "password.change", ctx=ctx, actor=account, target=account, outcome="failure",
                    after={"reason": "wrong_current_password"}, using_db=conn,
                )
            if locked_now:
                await sessions.end_own_session(ctx, sessions.END_INVALIDATED)
                raise SessionEnded(LOCKED_NOW)
            raise ValidationError(CURRENT_PASSWORD_WRONG, {"current": "incorrect"})

    info = password_policy.PersonalInfo(account.identifier, account.nom, account.prenom, account.email)
    recent = await PasswordHistory.filter(account_id=account.id).order_by("-created_at", "-id").limit(
        security.password_history
    ).values_list("password_hash", flat=True)
    reasons = []
    mismatch = password_policy.rule_confirmation(new_password, confirmation)
    if mismatch:
        reasons.append(mismatch)
    reasons += await asyncio.to_thread(
        password_policy.evaluate,
        new_password,
        info,
        min_score=security.zxcvbn_min_score,
        current_hash=account.password_hash,
        current_is_temporary=account.password_is_temporary,
        recent_hashes=[str(hashed) for hashed in recent],
    )
    if reasons:
        raise ValidationError(
            "Mot de passe refusé :\n" + "\n".join(f"– {reason}" for reason in reasons),
            {f"rule{index}": reason for index, reason in enumerate(reasons, 1)},
        )

    new_hash = await asyncio.to_thread(passwords.hash_password, new_password)
    now = clock.now()
    was_temporary = account.password_is_temporary
    async with serialised_transaction() as conn:
        await Account.filter(id=account.id).using_db(conn).update(
            password_hash=new_hash,
            password_is_temporary=False,
            temp_password_expires_at=None,
            password_changed_at=now,
            failed_attempts=0,
            last_failed_at=None,
        )
        await PasswordHistory.create(account_id=account.id, password_hash=new_hash, created_at=now, using_db=conn)
        ended = await sessions.end_other_sessions(
            account.id, ctx.session_token, sessions.END_PASSWORD_CHANGED, using_db=conn
        )
        subject, body = _changed_mail(account)
        await outbox.enqueue(
            kind="password_changed", to_address=account.email, subject=subject, body=body,
            account_id=account.id, using_db=conn,
        )
        await audit.record(
            "password.change", ctx=ctx, actor=account, target=account,
            before={"password_is_temporary": was_temporary},
            after={"password_is_temporary": False, "other_sessions_ended": ended},
            using_db=conn,
        )
