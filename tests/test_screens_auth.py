"""Authentication screens, driven with the keyboard only at 80x24: first login, CGU, password change,
delays and lockout, idle lock, sessions ended while logged in, open sessions."""

from __future__ import annotations

from datetime import timedelta

from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input

from cpf_tui.services import auth, cgu, passwords, sessions
from cpf_tui.services.context import RequestContext
from models import Account, AccountStatus, AppSession, AuditEvent, CguAcceptance, OutboxEmail, Role
from screens.cgu import CguScreen
from screens.home import HomeScreen
from screens.lock import LockScreen
from screens.login import LoginScreen
from screens.modals import ConfirmModal
from screens.password import PasswordScreen
from screens.sessions import SessionsScreen
from tests.factories import DEFAULT_PASSWORD, make_account, make_organisation
from tests.pilot import SIZE, new_app, open_section, settle, text_of, type_login

TEMP = "Tmpa-bcd3-fGhj-kmnp"
STRONG = "Vx9#qLm2-tRz8!kWp"


async def retry_password(app, pilot, password: str) -> None:
    """After a failure the identifier stays and the password field has the focus."""
    assert app.screen.password_input.has_focus
    await pilot.press(*password, "enter")
    await settle(pilot)


def test_cgu_text_is_reflowed_for_the_terminal_width():
    from screens.cgu import reflow

    source = "TITRE EN CAPITALES DE LA PREMIÈRE VERSION DES CONDITIONS GÉNÉRALES\nVersion 1\n\n" \
        "Article 1 — Objet\n" + "Un paragraphe écrit sur plusieurs lignes par son auteur, coupé" \
        " vers la colonne 100\npour la lecture.\n- un point de liste assez long pour dépasser soixante caractères\n- b"
    assert reflow(source).split("\n") == [
        "TITRE EN CAPITALES DE LA PREMIÈRE VERSION DES CONDITIONS GÉNÉRALES", "Version 1", "", "Article 1 — Objet",
        "Un paragraphe écrit sur plusieurs lignes par son auteur, coupé vers la colonne 100 pour la lecture.",
        "- un point de liste assez long pour dépasser soixante caractères", "- b",
    ]


# -- first login ---------------------------------------------------------------------------------------------
async def test_full_first_login(db, settings, frozen_clock, fast_argon2):
    account = await make_account(temporary=True, password=TEMP, nom="Lefèvre", prenom="Hélène",
                                 temp_password_expires_at=frozen_clock.current + timedelta(days=7))
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, TEMP)

        # 1. The CGU, scrolled with the keyboard, then accepted.
        screen = app.screen
        assert isinstance(screen, CguScreen)
        assert "version 1" in text_of(screen, "#cgu-title")
        assert "Article 1" in text_of(screen, "#cgu-text")
        scroller = screen.query_one("#cgu-scroll", VerticalScroll)
        assert scroller.has_focus and scroller.max_scroll_y > 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroller.scroll_y > 0
        await pilot.press("o")
        await settle(pilot)
        assert (await Account.get(id=account.id)).cgu_version_accepted == 1
        assert await CguAcceptance.filter(account_id=account.id, version=1).exists()

        # 2. The mandatory password change: the checklist ticks while typing.
        screen = app.screen
        assert isinstance(screen, PasswordScreen) and screen.mandatory
        assert not screen.query("#password-current")
        await pilot.press(*"Vx9")
        ticked = {item.key: item.ok for item in screen.checklist_items()}
        assert ticked["upper"] and ticked["lower"] and ticked["digit"] and not ticked["length"]
        assert "✔ Une majuscule" in text_of(screen, "#password-checklist")
        assert "✘ Au moins 12 caractères" in text_of(screen, "#password-checklist")
        # A weak password is refused with its reasons, and nothing changes.
        await pilot.press(*"motdepasse", "enter", *"Vx9motdepasse", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PasswordScreen)
        refusal = text_of(screen, "#password-message")
        assert refusal.startswith("Mot de passe refusé") and "facile à deviner" in refusal
        assert (await Account.get(id=account.id)).password_is_temporary
        # A strong one is accepted.
        await pilot.press(*STRONG)
        assert "Excellente" in text_of(screen, "#password-strength") or "Bonne" in text_of(screen, "#password-strength")
        await pilot.press("enter", *STRONG, "enter")
        await settle(pilot)

        # 3. Home.
        assert isinstance(app.screen, HomeScreen)
        changed = await Account.get(id=account.id)
        assert not changed.password_is_temporary and passwords.verify(changed.password_hash, STRONG)
        assert await OutboxEmail.filter(kind="password_changed", account_id=account.id).exists()


async def test_cgu_refusal_logs_out(db, settings, frozen_clock, fast_argon2):
    account = await make_account(temporary=True, password=TEMP,
                                 temp_password_expires_at=frozen_clock.current + timedelta(days=7))
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, TEMP)
        assert isinstance(app.screen, CguScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "refusé les conditions" in text_of(app.screen, "#login-message")
        assert app.session is None
    assert (await AppSession.get(account_id=account.id)).end_reason == "cgu_refused"
    assert (await Account.get(id=account.id)).cgu_version_accepted is None


async def test_new_cgu_version_is_asked_again(db, settings, frozen_clock, fast_argon2):
    account = await make_account(cgu_version_accepted=1)
    await cgu.latest_version()
    await cgu.publish("Conditions, version 2.\nArticle 1 — Nouveauté.", published_by="ops")
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        assert isinstance(app.screen, CguScreen)
        assert "version 2" in text_of(app.screen, "#cgu-title")
        assert "Nouveauté" in text_of(app.screen, "#cgu-text")
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)  # the password is not temporary: straight home
    assert (await Account.get(id=account.id)).cgu_version_accepted == 2


# -- failures ------------------------------------------------------------------------------------------------
async def test_five_failures_show_a_delay_and_ten_lock(db, settings, frozen_clock, fast_argon2):
    account = await make_account()
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, "x")
        assert text_of(app.screen, "#login-message") == auth.LOGIN_FAILED
        for _ in range(3):
            await retry_password(app, pilot, "x")
            assert text_of(app.screen, "#login-message") == auth.LOGIN_FAILED
        await retry_password(app, pilot, "x")
        assert "Nouvel essai possible dans 2 s." in text_of(app.screen, "#login-message")
        # Enter during the countdown does not reach the service.
        attempts = await AuditEvent.filter(action="login").count()
        await retry_password(app, pilot, DEFAULT_PASSWORD)
        assert await AuditEvent.filter(action="login").count() == attempts
        assert "dans 2 s" in text_of(app.screen, "#login-message")
        app.monotonic.advance(1)
        app.screen._tick()  # what the one-second timer does
        assert "dans 1 s" in text_of(app.screen, "#login-message")
        app.monotonic.advance(1)
        app.screen._tick()
        assert "Vous pouvez réessayer" in text_of(app.screen, "#login-message")
        app.monotonic.advance(-2)  # the loop below advances both clocks together
        delay = 2
        for expected_next in (4, 8, 16, 32, 64):
            frozen_clock.advance(seconds=delay)
            app.monotonic.advance(delay)
            await retry_password(app, pilot, "x")
            assert f"Nouvel essai possible dans {expected_next} s." in text_of(app.screen, "#login-message")
            delay = expected_next
        locked = await Account.get(id=account.id)
        assert locked.failed_attempts == 10 and locked.locked_at is not None
        assert await OutboxEmail.filter(kind="account_locked", account_id=account.id).count() == 1
        # Locked: even the right password gets the one message.
        frozen_clock.advance(seconds=64)
        app.monotonic.advance(64)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        assert isinstance(app.screen, LoginScreen)
        assert text_of(app.screen, "#login-message").startswith(auth.LOGIN_FAILED)


async def test_expired_temporary_password_is_refused_with_the_same_message(db, settings, frozen_clock, fast_argon2):
    account = await make_account(temporary=True, password=TEMP,
                                 temp_password_expires_at=frozen_clock.current - timedelta(seconds=1))
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, TEMP)
        assert isinstance(app.screen, LoginScreen)
        assert text_of(app.screen, "#login-message") == auth.LOGIN_FAILED
    assert not await AppSession.exists()


# -- idle lock -----------------------------------------------------------------------------------------------
async def test_idle_lock_and_unlock(db, settings, frozen_clock, fast_argon2):
    account = await make_account(Role.GESTIONNAIRE)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        home = app.screen
        assert isinstance(home, HomeScreen)
        app.monotonic.advance(29 * 60)  # gestionnaire: 30 minutes
        await pilot.press("down")
        await settle(pilot)
        assert app.screen is home
        app.monotonic.advance(30 * 60)
        await pilot.press("down")  # this key only locks
        await pilot.pause()
        lock = app.screen
        assert isinstance(lock, LockScreen) and app.locked
        assert account.identifier in text_of(lock, "#lock-identity")
        assert not app.use_command_palette
        await pilot.press(*"mauvais", "enter")
        await settle(pilot)
        assert text_of(lock, "#lock-message") == auth.UNLOCK_FAILED
        assert (await Account.get(id=account.id)).failed_attempts == 1
        await pilot.press(*DEFAULT_PASSWORD, "enter")
        await settle(pilot)
        assert app.screen is home and not app.locked
        assert (await Account.get(id=account.id)).failed_attempts == 0


async def test_administrators_lock_after_fifteen_minutes_without_any_key(db, settings, frozen_clock, fast_argon2):
    org = await make_organisation()
    account = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        app.monotonic.advance(14 * 60)
        assert not app.check_idle_lock()  # the periodic check, as the timer runs it
        app.monotonic.advance(60)
        assert app.check_idle_lock()
        await pilot.pause()
        assert isinstance(app.screen, LockScreen)
        await pilot.press("f10")  # Se déconnecter
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None
    assert (await AppSession.get(account_id=account.id)).end_reason == "logout"


# -- sessions ended while logged in ----------------------------------------------------------------------------
async def test_deactivated_user_is_logged_out_at_its_next_key(db, settings, frozen_clock, fast_argon2):
    account = await make_account()
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        await Account.filter(id=account.id).update(status=AccountStatus.DEACTIVATED)
        app.monotonic.advance(61)
        await pilot.press("down")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None
        assert "désactivé" in text_of(app.screen, "#login-message")
    assert (await AppSession.get(account_id=account.id)).ended_at is not None


async def test_session_ended_by_an_administrator_stops_at_the_next_service_call(db, settings, frozen_clock,
                                                                                fast_argon2):
    org = await make_organisation()
    principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    delegated = await make_account(Role.DELEGATED_ADMIN, organisation=org)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, delegated.identifier, DEFAULT_PASSWORD)
        await open_section(pilot, "sessions")
        assert isinstance(app.screen, SessionsScreen)
        info = await auth.authenticate(principal.identifier, DEFAULT_PASSWORD, RequestContext())
        await sessions.end_account_sessions(RequestContext().as_account(principal.id, info.session_token),
                                            delegated.id)
        await pilot.press("f5")  # refresh: the service refuses the ended session
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "administrateur a fermé" in text_of(app.screen, "#login-message")


async def test_twelve_hours_end_the_session(db, settings, frozen_clock, fast_argon2):
    account = await make_account()
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        frozen_clock.advance(hours=12)
        await pilot.press("down")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "durée maximale" in text_of(app.screen, "#login-message")
    assert (await AppSession.get(account_id=account.id)).end_reason == "expired"


# -- from home ---------------------------------------------------------------------------------------------------
async def test_open_sessions_screen_ends_a_users_sessions(db, settings, frozen_clock, fast_argon2):
    org = await make_organisation()
    principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    user = await make_account(Role.GESTIONNAIRE, organisation=org, nom="Durand", prenom="Luc")
    user_info = await auth.authenticate(user.identifier, DEFAULT_PASSWORD, RequestContext(ssh_user="luc"))
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, principal.identifier, DEFAULT_PASSWORD)
        await open_section(pilot, "sessions")
        screen = app.screen
        table = screen.query_one(DataTable)
        identifiers = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert sorted(identifiers) == sorted([principal.identifier, user.identifier])
        # Its own session cannot be ended from here.
        await pilot.press(*["down"] * identifiers.index(principal.identifier))
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmModal)
        assert "ne pouvez pas" in text_of(screen, "#sessions-status")
        await pilot.press("up" if identifiers.index(user.identifier) == 0 else "down")
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("o")
        await settle(pilot)
        assert (await AppSession.get(token=user_info.session_token)).end_reason == "ended_by_admin"
        assert table.row_count == 1
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_voluntary_password_change_from_home(db, settings, frozen_clock, fast_argon2):
    account = await make_account()
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        await open_section(pilot, "password")
        screen = app.screen
        assert isinstance(screen, PasswordScreen) and not screen.mandatory
        assert screen.query_one("#password-current", Input).has_focus
        await pilot.press(*"mauvais", "enter", *STRONG, "enter", *STRONG, "enter")
        await settle(pilot)
        assert "actuel incorrect" in text_of(screen, "#password-message")
        await pilot.press(*DEFAULT_PASSWORD, "enter", *STRONG, "enter", *STRONG, "enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
    assert passwords.verify((await Account.get(id=account.id)).password_hash, STRONG)


async def test_other_french_errors_of_a_worker_become_an_error_notification(db, settings, frozen_clock,
                                                                            fast_argon2):
    from textual.notifications import Notify

    org = await make_organisation()
    principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    seen: list = []
    app = new_app(settings)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(pilot)
        await type_login(pilot, principal.identifier, DEFAULT_PASSWORD)
        await open_section(pilot, "sessions")
        await Account.filter(id=principal.id).update(role=Role.GESTIONNAIRE)  # downgraded meanwhile
        await pilot.press("f5")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen) and app.session is not None
        errors = [m.notification for m in seen if isinstance(m, Notify) and m.notification.severity == "error"]
        assert [n.message for n in errors] == ["Vous n'avez pas le droit d'effectuer cette action."]
