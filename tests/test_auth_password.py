"""Password change service: every reason at once, history, temporary password, e-mail, audit, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cpf_tui.config import SecuritySettings
from cpf_tui.errors import SessionEnded, ValidationError
from cpf_tui.services import auth, passwords
from models import Account, AppSession, AuditEvent, OutboxEmail, PasswordHistory
from tests.factories import DEFAULT_PASSWORD, ORIGIN, login, make_account

NEW = "Vx9#qLm2-tRz8!kWp"


async def temporary_account(frozen_clock, **fields):
    return await make_account(temporary=True, temp_password_expires_at=frozen_clock.current + timedelta(days=7),
                              nom="Lefèvre", prenom="Hélène", email="h.lefevre@example.fr", **fields)


async def test_temporary_password_is_replaced(db, frozen_clock, fast_argon2):
    account = await temporary_account(frozen_clock)
    ctx = await login(account)
    other = await login(account)  # a second open session of the same user
    await auth.change_password(ctx, NEW, NEW)
    await account.refresh_from_db()
    assert passwords.verify(account.password_hash, NEW) and not passwords.needs_rehash(account.password_hash)
    assert not account.password_is_temporary and account.temp_password_expires_at is None
    assert account.password_changed_at == frozen_clock.current
    assert await PasswordHistory.filter(account_id=account.id).count() == 1
    mail = await OutboxEmail.get(kind="password_changed")
    assert mail.to_address == "h.lefevre@example.fr" and "modifié" in mail.subject and NEW not in mail.body
    assert not mail.contains_secret
    event = await AuditEvent.get(action="password.change")
    assert event.before == {"password_is_temporary": True}
    assert event.after == {"password_is_temporary": False, "other_sessions_ended": 1}
    assert account.password_hash not in str(event.after)
    assert (await AppSession.get(token=other.session_token)).end_reason == "password_changed"
    assert (await AppSession.get(token=ctx.session_token)).ended_at is None


async def test_weak_password_refused_with_every_reason_and_nothing_changes(db, frozen_clock, fast_argon2):
    account = await temporary_account(frozen_clock)
    ctx = await login(account)
    with pytest.raises(ValidationError) as caught:
        await auth.change_password(ctx, "helene", "helene2")
    message = caught.value.message
    assert message.startswith("Mot de passe refusé")
    for fragment in ("confirmation", "12 caractères", "nom, prénom", "facile à deviner"):
        assert fragment in message
    assert len(caught.value.errors) == 4
    unchanged = await Account.get(id=account.id)
    assert unchanged.password_hash == account.password_hash and unchanged.password_is_temporary
    assert not await PasswordHistory.exists() and not await OutboxEmail.filter(kind="password_changed").exists()


async def test_the_temporary_password_cannot_be_kept(db, frozen_clock, fast_argon2):
    temp = "Tmpa-bcd3-fGhj-kmnp-Qrst"
    account = await temporary_account(frozen_clock, password=temp)
    ctx = await login_with(account, temp)
    with pytest.raises(ValidationError, match="temporaire"):
        await auth.change_password(ctx, temp, temp)


async def login_with(account, password):
    info = await auth.authenticate(account.identifier, password, ORIGIN)
    return ORIGIN.as_account(info.account_id, info.session_token)


async def test_voluntary_change_asks_the_current_password(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    with pytest.raises(ValidationError, match="actuel"):
        await auth.change_password(ctx, NEW, NEW)
    with pytest.raises(ValidationError, match="actuel incorrect"):
        await auth.change_password(ctx, NEW, NEW, current_password="mauvais")
    await account.refresh_from_db()
    assert account.failed_attempts == 1  # a wrong current password counts as a failure
    await auth.change_password(ctx, NEW, NEW, current_password=DEFAULT_PASSWORD)
    assert passwords.verify((await Account.get(id=account.id)).password_hash, NEW)


async def test_the_last_five_passwords_cannot_be_reused(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    chosen = [f"Zq8$kLm2#pW9vX{i}aB" for i in range(6)]
    current = DEFAULT_PASSWORD
    for password in chosen:
        frozen_clock.advance(minutes=1)
        await auth.change_password(ctx, password, password, current_password=current)
        current = password
    with pytest.raises(ValidationError, match="actuel"):
        await auth.change_password(ctx, current, current, current_password=current)
    with pytest.raises(ValidationError, match="5 derniers"):
        await auth.change_password(ctx, chosen[1], chosen[1], current_password=current)
    # The sixth one back is forgotten: allowed again.
    await auth.change_password(ctx, chosen[0], chosen[0], current_password=current)


async def test_history_length_is_configurable(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    security = SecuritySettings(password_history=1)
    first, second = "Zq8$kLm2#pW9vXaB", "Yr7&jKn3@qV8wZcD"
    await auth.change_password(ctx, first, first, current_password=DEFAULT_PASSWORD, security=security)
    await auth.change_password(ctx, second, second, current_password=first, security=security)
    frozen_clock.advance(minutes=1)
    await auth.change_password(ctx, first, first, current_password=second, security=security)


async def test_wrong_current_password_can_lock_the_account(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    await Account.filter(id=account.id).update(failed_attempts=9)
    with pytest.raises(SessionEnded, match="verrouillé"):
        await auth.change_password(ctx, NEW, NEW, current_password="mauvais")
    assert (await Account.get(id=account.id)).locked_at is not None
