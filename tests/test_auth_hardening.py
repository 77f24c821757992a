"""Login hardening (issue 18): the attempt is reserved before its password is verified, one decay window
for real and unknown identifiers, identifiers too long to exist fail like any wrong login."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from cpf_tui.app import make_app
from cpf_tui.config import SecuritySettings
from cpf_tui.errors import AuthenticationFailed
from cpf_tui.services import auth, passwords, provisioning
from cpf_tui.services.context import RequestContext
from models import Account, AppSession, AuditEvent
from screens.login import LoginScreen
from tests.factories import DEFAULT_PASSWORD, make_account
from tests.processes import BARRIER_TIMEOUT, child_outcome, run_together
from tests.pilot import workers_done

ORIGIN = RequestContext(terminal="xterm-256color")
BURST = SecuritySettings(lockout_base_delay_seconds=0)
"""No delays: only the lock stands between a burst of guesses and the password checks."""
GUESSERS = 30


async def fail(identifier: str, password: str = "Mauvais-mot-de-passe-1", security: SecuritySettings | None = None) -> float:
    with pytest.raises(AuthenticationFailed) as caught:
        await auth.authenticate(identifier, password, ORIGIN, security=security)
    assert caught.value.message == auth.LOGIN_FAILED
    return caught.value.retry_after


async def last_login_event() -> AuditEvent:
    return await AuditEvent.filter(action="login").order_by("-seq").first()


class GatedVerify:
    """Replaces `auth._verify`: the right password waits at the gate until the test opens it."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.gate = asyncio.Event()
        self.real = auth._verify

    async def __call__(self, password_hash: str | None, password: str) -> bool:
        if password == DEFAULT_PASSWORD:
            self.reached.set()
            await self.gate.wait()
        return await self.real(password_hash, password)


# -- 5. lockout is atomic ------------------------------------------------------------------------
async def _guess(url: str, identifier: str, password: str, barrier) -> tuple[str, list[str]]:
    from argon2 import PasswordHasher, Type

    from cpf_tui import db as db_module

    fast = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    passwords.user_hasher = lambda: fast  # the child's own module: no need to restore it
    auth.prepare_login()
    verified: list[str] = []
    real_verify = passwords.verify

    def spy(password_hash: str, typed: str) -> bool:
        verified.append(password_hash)
        return real_verify(password_hash, typed)

    passwords.verify = spy
    await db_module.open_database(url)
    try:
        barrier.wait(BARRIER_TIMEOUT)
        try:
            await auth.authenticate(identifier, password, ORIGIN, security=BURST)
            return "success", verified
        except AuthenticationFailed as refused:
            return "refused: " + refused.message, verified
    finally:
        await db_module.close_database()


def _guesser(url: str, identifier: str, password: str, barrier, results) -> None:
    results.put(child_outcome(lambda: asyncio.run(_guess(url, identifier, password, barrier))))


@pytest.mark.slow  # many processes: started first in the suite (tests/conftest.py)
async def test_thirty_processes_guessing_at_once_get_at_most_the_limit_verified(db, fast_argon2):
    account = await make_account(identifier="RAFALEAA")
    guesses = [(db, account.identifier, f"Mauvais-essai-{n}") for n in range(GUESSERS)]
    outcomes = await asyncio.to_thread(run_together, _guesser, guesses)
    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes  # no child crashed
    assert all(message == "refused: " + auth.LOGIN_FAILED for message, _ in outcomes)
    verified = [hashes for _, hashes in outcomes if account.password_hash in hashes]
    assert len(verified) == BURST.lockout_lock_after
    stored = await Account.get(id=account.id)
    assert stored.locked_at is not None and stored.failed_attempts == GUESSERS  # every guess counted
    reasons = await AuditEvent.filter(action="login").values_list("after", flat=True)
    assert sorted(r["reason"] for r in reasons).count("wrong_password") == BURST.lockout_lock_after
    assert await AuditEvent.filter(action="account.locked").count() == 1
    # After the burst the right password does not open the account.
    await fail(account.identifier, DEFAULT_PASSWORD, security=BURST)
    assert (await last_login_event()).after == {"reason": "locked"}
    assert not await AppSession.exists()


async def test_guesses_past_the_limit_are_not_verified(db, frozen_clock, fast_argon2, monkeypatch):
    account = await make_account()
    for _ in range(BURST.lockout_lock_after):
        await fail(account.identifier, security=BURST)
    checked: list[str | None] = []
    real = auth._verify

    async def spy(password_hash, password):
        checked.append(password_hash)
        return await real(password_hash, password)

    monkeypatch.setattr(auth, "_verify", spy)
    await fail(account.identifier, DEFAULT_PASSWORD, security=BURST)
    assert checked == [None]  # the dummy hash only: same cost, nothing learnt


async def test_parallel_guesses_of_one_process_are_reserved_one_by_one(db, frozen_clock, fast_argon2):
    account = await make_account()
    attempts = [auth.authenticate(account.identifier, f"Mauvais-{n}", ORIGIN, security=BURST) for n in range(25)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert all(isinstance(result, AuthenticationFailed) for result in results)
    reasons = [after["reason"] for after in await AuditEvent.filter(action="login").values_list("after", flat=True)]
    assert reasons.count("wrong_password") == BURST.lockout_lock_after
    assert reasons.count("locked") == 25 - BURST.lockout_lock_after


async def test_a_success_in_the_middle_of_a_burst_keeps_the_burst_counted(db, frozen_clock, fast_argon2,
                                                                         monkeypatch):
    account = await make_account()
    gated = GatedVerify()
    monkeypatch.setattr(auth, "_verify", gated)
    right = asyncio.ensure_future(auth.authenticate(account.identifier, DEFAULT_PASSWORD, ORIGIN))
    await gated.reached.wait()
    await fail(account.identifier)  # guesses reserved after the right one, refused meanwhile
    await fail(account.identifier)
    gated.gate.set()
    assert (await right).account_id == account.id
    await account.refresh_from_db()
    assert account.failed_attempts == 3  # the guesses made during the check still count
    # A success that is the newest attempt resets the counter, as always.
    gated.reached.clear()
    await auth.authenticate(account.identifier, DEFAULT_PASSWORD, ORIGIN)
    await account.refresh_from_db()
    assert account.failed_attempts == 0 and account.last_failed_at is None


@pytest.mark.parametrize("change", ["locked", "deactivated", "regenerated"])
async def test_the_success_is_checked_again_in_its_transaction(db, frozen_clock, fast_argon2, monkeypatch, change):
    account = await make_account()
    gated = GatedVerify()
    monkeypatch.setattr(auth, "_verify", gated)
    right = asyncio.ensure_future(auth.authenticate(account.identifier, DEFAULT_PASSWORD, ORIGIN))
    await gated.reached.wait()
    if change == "locked":  # e.g. the tenth failure of a parallel burst
        await Account.filter(id=account.id).update(locked_at=frozen_clock.current)
    elif change == "deactivated":
        await Account.filter(id=account.id).update(status="deactivated")
    else:
        await provisioning.issue_temporary_password(account, ctx=RequestContext(), using_db=None)
    gated.gate.set()
    with pytest.raises(AuthenticationFailed) as caught:
        await right
    assert caught.value.message == auth.LOGIN_FAILED
    expected = {"locked": "locked", "deactivated": "deactivated", "regenerated": "credentials_changed"}[change]
    assert (await last_login_event()).after == {"reason": expected}
    assert not await AppSession.exists()


# -- 6. one decay window ---------------------------------------------------------------------------
async def _failure_series(identifier: str, clock) -> list[float]:
    """Six failures (each after its delay), 25 h of quiet, one failure, 23 h, four more."""
    delays = []
    for _ in range(6):
        delays.append(await fail(identifier))
        clock.advance(seconds=delays[-1])
    clock.advance(hours=25)
    delays.append(await fail(identifier))
    clock.advance(hours=23)
    for _ in range(4):
        delays.append(await fail(identifier))
    return delays


async def test_real_and_unknown_identifiers_forget_failures_after_the_same_quiet(db, frozen_clock, fast_argon2):
    account = await make_account()
    real = await _failure_series(account.identifier, frozen_clock)
    unknown = await _failure_series("INCONNUA", frozen_clock)
    # After 25 h of quiet a new run starts (0 s); 23 h is not enough: the fifth of that run waits 2 s.
    assert real == unknown == [0, 0, 0, 0, 2, 4, 0, 0, 0, 0, 2]


async def test_a_quiet_window_also_resets_the_counter_of_the_lock_screen(db, frozen_clock, fast_argon2):
    account = await make_account(failed_attempts=9, last_failed_at=frozen_clock.current)
    frozen_clock.advance(hours=25)
    assert await fail(account.identifier) == 0
    await account.refresh_from_db()
    assert account.failed_attempts == 1 and account.locked_at is None


# -- 13. long identifiers --------------------------------------------------------------------------
@pytest.mark.parametrize("length", [17, 20, 32, 40])
async def test_long_identifiers_fail_like_any_wrong_login(db, frozen_clock, fast_argon2, monkeypatch, length):
    typed = ("K7MP4XQ2" * 6)[:length]
    checked: list[str | None] = []
    real = auth._verify

    async def spy(password_hash, password):
        checked.append(password_hash)
        return await real(password_hash, password)

    monkeypatch.setattr(auth, "_verify", spy)
    retry = [await fail(typed) for _ in range(5)]
    assert retry == [0, 0, 0, 0, 2]  # the delays of any unknown identifier
    assert checked == [None] * 5  # the same Argon2 work as any unknown identifier
    event = await last_login_event()
    assert event.outcome == "failure" and event.after == {"reason": "unknown_identifier"}
    assert event.actor_identifier == typed[:32]
    assert 0 < await fail(typed) <= 2
    assert (await last_login_event()).outcome == "delayed"


async def test_a_long_identifier_typed_at_the_login_screen_gets_the_one_message(db, settings, frozen_clock,
                                                                                fast_argon2):
    typed = "ABCDEFGHJKMNPQRSTUVWXYZ234"  # 26 characters
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(3):
            await workers_done(app)
            await pilot.pause()
        login = app.screen
        assert isinstance(login, LoginScreen)
        login.identifier_input.focus()
        await pilot.press(*typed, "enter", *"Mauvais-mot-de-passe-1", "enter")
        for _ in range(3):
            await workers_done(app)
            await pilot.pause()
        assert app.screen is login
        assert str(login.query_one("#login-message").content) == auth.LOGIN_FAILED
    event = await last_login_event()
    assert event.actor_identifier == typed and event.after == {"reason": "unknown_identifier"}


async def test_expired_temporary_password_gives_its_reservation_back(db, frozen_clock, fast_argon2):
    account = await make_account(temporary=True, temp_password_expires_at=frozen_clock.current - timedelta(minutes=1))
    await fail(account.identifier, DEFAULT_PASSWORD)
    await account.refresh_from_db()
    assert account.failed_attempts == 0
    await fail(account.identifier)
    await account.refresh_from_db()
    assert account.failed_attempts == 1


def test_the_longest_identifier_is_the_column_of_the_accounts():
    assert auth.IDENTIFIER_MAX_LENGTH == Account._meta.fields_map["identifier"].max_length


async def test_a_huge_lock_threshold_does_not_break_unknown_identifiers(db, frozen_clock, fast_argon2):
    security = SecuritySettings(lockout_delay_after=10**6, lockout_lock_after=10**6 + 1)
    assert [await fail("INCONNUB", security=security) for _ in range(2)] == [0, 0]
