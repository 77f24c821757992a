"""Login service: one message for every failure, uniform cost, delays, lockout, audit, sessions, rehash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type

from cpf_tui.config import SecuritySettings
from cpf_tui.errors import AuthenticationFailed, SessionEnded
from cpf_tui.services import auth, passwords, provisioning
from cpf_tui.services.context import RequestContext
from models import Account, AccountStatus, AppSession, AuditEvent, OutboxEmail, Role
from tests.factories import DEFAULT_PASSWORD, ORIGIN, login, make_account



@pytest.fixture
def verified(monkeypatch, fast_argon2):
    """The hashes passed to Argon2 verify, in order (a proxy for the response time)."""
    seen: list[str] = []
    real = passwords.verify

    def spy(password_hash: str, password: str) -> bool:
        seen.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify", spy)
    return seen


async def fail(identifier: str, password: str = "mauvais", security: SecuritySettings | None = None) -> float:
    with pytest.raises(AuthenticationFailed) as caught:
        await auth.authenticate(identifier, password, ORIGIN, security=security)
    assert caught.value.message == auth.LOGIN_FAILED
    return caught.value.retry_after


async def test_success_opens_a_session_and_audits(db, frozen_clock, fast_argon2):
    account = await make_account(Role.GESTIONNAIRE, nom="Martin", prenom="Claire", failed_attempts=3,
                                 last_failed_at=frozen_clock.current)
    info = await auth.authenticate(f" {account.identifier.lower()} ", DEFAULT_PASSWORD, ORIGIN)
    assert info.account_id == account.id and info.full_name == "Claire Martin"
    assert len(info.session_token) >= 40 and info.cgu_version_required == 0 and not info.must_change_password
    session = await AppSession.get(token=info.session_token)
    assert session.account_id == account.id and session.ssh_user == "claire" and session.terminal == "xterm-256color"
    assert session.peer == "192.0.2.10:52022" and session.ssh_key_fingerprint == "SHA256:abc" and session.pid
    assert session.expires_at == frozen_clock.current + timedelta(hours=12) == info.expires_at
    await account.refresh_from_db()
    assert account.failed_attempts == 0 and account.last_failed_at is None
    assert account.last_login_at == frozen_clock.current
    event = await AuditEvent.filter(action="login").order_by("-seq").first()
    assert event.outcome == "success" and event.actor_id == account.id and event.session_token == info.session_token
    assert DEFAULT_PASSWORD not in str(event.before) + str(event.after)


@pytest.mark.parametrize("case", ["unknown", "wrong", "deactivated", "locked", "expired"])
async def test_one_message_for_every_failure_and_every_attempt_audited(db, frozen_clock, fast_argon2, case):
    kwargs = {}
    password = DEFAULT_PASSWORD
    if case == "deactivated":
        kwargs["status"] = AccountStatus.DEACTIVATED
    if case == "locked":
        kwargs["locked_at"] = frozen_clock.current
    if case == "expired":
        kwargs.update(temporary=True, temp_password_expires_at=frozen_clock.current - timedelta(minutes=1))
    if case == "wrong":
        password = "Pas-le-bon-1234"
    account = await make_account(**kwargs)
    identifier = "ZZZZ9999" if case == "unknown" else account.identifier
    await fail(identifier, password)
    event = await AuditEvent.filter(action="login").order_by("-seq").first()
    assert event.outcome == "failure" and event.actor_identifier == identifier and event.actor_id is None
    assert password not in str(event.after)
    assert event.after["reason"] in {"unknown_identifier", "wrong_password", "deactivated", "locked",
                                     "temporary_password_expired"}
    assert not await AppSession.exists()


async def test_every_path_costs_one_user_profile_verification(db, frozen_clock, verified):
    """Unknown identifier, cheap temporary hash, deactivated account: the same Argon2 work each time."""
    user = await make_account(identifier="USERAAAA")
    temp = await make_account(identifier="TEMPAAAA", temporary=True,
                              temp_password_expires_at=frozen_clock.current + timedelta(days=1))
    gone = await make_account(identifier="GONEAAAA", status=AccountStatus.DEACTIVATED)
    dummy = auth._dummy_hash()
    for identifier, expected in [
        ("INCONNUU", [dummy]),
        (user.identifier, [user.password_hash]),
        (temp.identifier, [temp.password_hash, dummy]),
        (gone.identifier, [gone.password_hash]),
    ]:
        verified.clear()
        await fail(identifier)
        assert verified == expected, identifier
        assert all(not passwords.needs_rehash(h) or h == temp.password_hash for h in verified)


async def test_delay_after_five_failures_then_lock_after_ten(db, frozen_clock, fast_argon2):
    account = await make_account(identifier="LOCKMEAA")
    retry = [await fail(account.identifier) for _ in range(4)]
    assert retry == [0, 0, 0, 0]
    assert await fail(account.identifier) == 2  # fifth failure: 2 s before the next attempt
    # During the delay even the right password is refused, without counting a failure.
    assert 0 < await fail(account.identifier, DEFAULT_PASSWORD) <= 2
    await account.refresh_from_db()
    assert account.failed_attempts == 5
    assert (await AuditEvent.filter(action="login").order_by("-seq").first()).outcome == "delayed"
    delays = []
    for _ in range(5):
        frozen_clock.advance(seconds=delays[-1] if delays else 2)
        delays.append(await fail(account.identifier))
    assert delays == [4, 8, 16, 32, 64]
    await account.refresh_from_db()
    assert account.failed_attempts == 10 and account.locked_at == frozen_clock.current
    mail = await OutboxEmail.get(kind="account_locked")
    assert mail.to_address == account.email and "verrouillé" in mail.body and account.identifier in mail.body
    assert await AuditEvent.filter(action="account.locked", target_id=str(account.id)).count() == 1
    frozen_clock.advance(hours=2)
    await fail(account.identifier, DEFAULT_PASSWORD)  # locked: the right password does not open it
    assert await OutboxEmail.filter(kind="account_locked").count() == 1


async def test_regeneration_ends_the_lock(db, frozen_clock, fast_argon2, monkeypatch):
    account = await make_account(failed_attempts=10, locked_at=frozen_clock.current,
                                 last_failed_at=frozen_clock.current)
    monkeypatch.setattr(passwords, "generate_temporary_password", lambda: "Tmpa-bcde-fghj-kmnp")
    await provisioning.issue_temporary_password(account, ctx=RequestContext(), using_db=None)
    info = await auth.authenticate(account.identifier, "Tmpa-bcde-fghj-kmnp", ORIGIN)
    assert info.must_change_password


async def test_success_resets_the_counter(db, frozen_clock, fast_argon2):
    account = await make_account()
    for _ in range(4):
        await fail(account.identifier)
    await auth.authenticate(account.identifier, DEFAULT_PASSWORD, ORIGIN)
    await account.refresh_from_db()
    assert account.failed_attempts == 0
    assert [await fail(account.identifier) for _ in range(4)] == [0, 0, 0, 0]


async def test_unknown_identifiers_get_the_same_delays(db, frozen_clock, fast_argon2):
    """Delays would otherwise tell which identifiers exist."""
    retry = [await fail("NOBODYAA") for _ in range(5)]
    assert retry == [0, 0, 0, 0, 2]
    assert 0 < await fail("NOBODYAA") <= 2
    frozen_clock.advance(seconds=2)
    assert await fail("NOBODYAA") == 4


async def test_thresholds_come_from_the_settings(db, frozen_clock, fast_argon2):
    security = SecuritySettings(lockout_delay_after=2, lockout_lock_after=3, lockout_base_delay_seconds=5)
    account = await make_account()
    assert await fail(account.identifier, security=security) == 0
    assert await fail(account.identifier, security=security) == 5
    frozen_clock.advance(seconds=5)
    await fail(account.identifier, security=security)
    await account.refresh_from_db()
    assert account.locked_at is not None


async def test_rehash_when_the_argon2_parameters_changed(db, frozen_clock, fast_argon2):
    old = PasswordHasher(time_cost=2, memory_cost=4 * 1024, parallelism=1, type=Type.ID)
    account = await make_account()
    await Account.filter(id=account.id).update(password_hash=old.hash(DEFAULT_PASSWORD))
    await auth.authenticate(account.identifier, DEFAULT_PASSWORD, ORIGIN)
    await account.refresh_from_db()
    assert not passwords.needs_rehash(account.password_hash)
    assert passwords.verify(account.password_hash, DEFAULT_PASSWORD)
    # A temporary password keeps its cheap hash until it is changed.
    temp = await make_account(temporary=True, temp_password_expires_at=frozen_clock.current + timedelta(days=1))
    await auth.authenticate(temp.identifier, DEFAULT_PASSWORD, ORIGIN)
    assert (await Account.get(id=temp.id)).password_hash == temp.password_hash


async def test_first_login_steps_are_announced(db, frozen_clock, fast_argon2):
    account = await make_account(temporary=True, temp_password_expires_at=frozen_clock.current + timedelta(days=7))
    info = await auth.authenticate(account.identifier, DEFAULT_PASSWORD, ORIGIN)
    assert info.must_change_password and info.cgu_version_required == 1


# -- unlock ------------------------------------------------------------------------------------------------
async def test_unlock_checks_the_password_and_counts_failures(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    with pytest.raises(AuthenticationFailed) as caught:
        await auth.unlock(ctx, "mauvais")
    assert caught.value.message == auth.UNLOCK_FAILED
    await account.refresh_from_db()
    assert account.failed_attempts == 1
    await auth.unlock(ctx, DEFAULT_PASSWORD)
    await account.refresh_from_db()
    assert account.failed_attempts == 0
    events = await AuditEvent.filter(action="session.unlock").order_by("seq").values_list("outcome", flat=True)
    assert events == ["failure", "success"]


async def test_unlock_failures_lock_the_account_and_end_the_session(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    await Account.filter(id=account.id).update(failed_attempts=9)
    with pytest.raises(SessionEnded) as caught:
        await auth.unlock(ctx, "mauvais")
    assert "verrouillé" in caught.value.message
    session = await AppSession.get(token=ctx.session_token)
    assert session.ended_at is not None
    assert await OutboxEmail.filter(kind="account_locked").count() == 1


async def test_unlock_refused_when_the_account_was_deactivated(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    await Account.filter(id=account.id).update(status=AccountStatus.DEACTIVATED)
    with pytest.raises(SessionEnded, match="désactivé"):
        await auth.unlock(ctx, DEFAULT_PASSWORD)
