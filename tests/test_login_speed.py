"""What makes Enter → home fast (docs/security.md § 10), and that it changes nothing else.

The home screen is prepared, empty and hidden, while the login form is typed; it is filled and shown only
after the password check. The login reads what home shows while Argon2 works, warms its database reads
beforehand, and shows "Vérification…" only when the check is slow.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from textual.widgets import OptionList, Static

from cpf_tui import app as app_module
from cpf_tui.services import auth
from cpf_tui.errors import AuthenticationFailed
from cpf_tui.services.context import RequestContext
from models import Account, AppSession, AuditEvent
from screens.home import REHEARSAL_SESSION, HomeScreen
from screens.login import LoginScreen
from screens.widgets.keybar import KeyBar
from tests.factories import DEFAULT_PASSWORD, make_account
from tests.pilot import SIZE, new_app, settle, type_login, wait_until


def shown_screens(app) -> list:
    """Every screen that becomes the current one from now on, in order."""
    shown: list = []
    app.screen_change_signal.subscribe(app, shown.append)
    return shown


async def test_home_is_prepared_hidden_while_typing_then_filled_for_the_user(db, settings, fast_argon2):
    account = await make_account(nom="Moreau [b]x[/b]", prenom="Claire")
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = shown_screens(app)
        assert app._prepared_home is None
        await pilot.press(*account.identifier)
        await settle(pilot)

        prepared = app._prepared_home
        assert isinstance(prepared, HomeScreen) and prepared.is_mounted
        assert prepared not in app.screen_stack and isinstance(app.screen, LoginScreen)
        assert prepared.info == REHEARSAL_SESSION  # laid out and drawn once, never displayed

        await pilot.press("enter", *DEFAULT_PASSWORD, "enter")
        await settle(pilot)
        assert app.screen is prepared
        assert shown == [prepared]  # the rehearsal never reached the terminal
        assert str(prepared.query_one("#home-name", Static).content) == "Claire Moreau [b]x[/b]"
        assert "Claire Moreau [b]x[/b]" in str(prepared.query_one("#home-name", Static).render())  # not markup
        assert account.identifier in str(prepared.query_one("#home-role", Static).content)
        menu = prepared.query_one("#home-sections", OptionList)
        assert menu.has_focus and menu.highlighted == 0
        assert [menu.get_option_at_index(i).id for i in range(menu.option_count)] == [
            section.id for section in prepared.sections
        ]
        assert not prepared.query_one("#home-no-section").display
        assert app._prepared_home is None  # clearing the password field prepared nothing new


async def test_prepared_home_survives_a_failure_and_a_new_one_is_made_after_logout(db, settings, fast_argon2):
    account = await make_account()
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, "Mauvais-mot-de-passe-1")
        assert isinstance(app.screen, LoginScreen)
        prepared = app._prepared_home
        assert isinstance(prepared, HomeScreen)

        await pilot.press(*DEFAULT_PASSWORD, "enter")
        await settle(pilot)
        assert app.screen is prepared

        await pilot.press("x", "o")  # Se déconnecter, confirmed
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert not prepared.is_attached  # the old home is gone with its session's data
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        assert isinstance(app.screen, HomeScreen) and app.screen is not prepared


async def test_terminal_resized_after_the_preparation_home_fits_the_new_size(db, settings, fast_argon2):
    account = await make_account()
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*account.identifier)
        await settle(pilot)
        prepared = app._prepared_home
        assert prepared is not None and prepared.size == SIZE
        await pilot.resize_terminal(100, 30)
        drawn_sizes = []
        display = app._display

        def recording(screen, renderable):
            if screen is prepared:
                drawn_sizes.append(tuple(screen._compositor.size))
            display(screen, renderable)

        app._display = recording
        await pilot.press("enter", *DEFAULT_PASSWORD, "enter")
        await settle(pilot)
        assert app.screen is prepared
        assert drawn_sizes and set(drawn_sizes) == {(100, 30)}  # never drawn at the size it was prepared for
        assert prepared.size == (100, 30)
        assert prepared.query_one(KeyBar).region.width == 100
        assert prepared.query_one(KeyBar).region.y == 29


async def test_login_typed_faster_than_the_preparation_still_reaches_home(db, settings, fast_argon2, monkeypatch):
    account = await make_account(nom="Petit", prenom="Jean")
    monkeypatch.setattr(app_module.CpfApp, "prepare_home", lambda self: None)
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        assert str(app.screen.query_one("#home-name", Static).content) == "Jean Petit"


async def test_login_before_the_prepared_home_is_mounted_uses_a_new_one(db, settings, fast_argon2):
    account = await make_account(nom="Rapide", prenom="Léa")
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        info = await auth.authenticate(account.identifier, DEFAULT_PASSWORD, RequestContext())
        app.prepare_home()
        prepared = app._prepared_home
        assert prepared is not None and not prepared.is_mounted  # still being composed
        app.session = info
        await app.show_home()  # at once, before the prepared screen could finish mounting
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen) and app.screen is not prepared
        assert str(app.screen.query_one("#home-name", Static).content) == "Léa Rapide"
        assert not prepared.is_attached and app._prepared_home is None


async def test_an_account_without_any_section_sees_the_message_not_an_empty_menu(db, settings, fast_argon2,
                                                                              monkeypatch):
    from screens import home

    account = await make_account()
    real = home.sections_for
    monkeypatch.setattr(home, "sections_for", lambda info: real(info) if info is REHEARSAL_SESSION else [])
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_login(pilot, account.identifier, DEFAULT_PASSWORD)
        screen = app.screen
        assert isinstance(screen, HomeScreen) and screen.sections == []
        assert screen.query_one("#home-no-section").display
        assert not screen.query_one("#home-sections").display
        await pilot.press("enter")  # nothing to open: stays on home
        await settle(pilot)
        assert app.screen is screen


async def test_checking_message_shows_only_when_the_check_is_slow(db, settings, fast_argon2, monkeypatch):
    account = await make_account()
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        login = app.screen
        await type_login(pilot, account.identifier, "Mauvais-mot-de-passe-1")
        assert "Vérification" not in str(login.message.content)

        real_verify = auth._verify
        release = asyncio.Event()

        async def slow_verify(password_hash, password):
            await release.wait()  # a check that lasts until the test has seen the message
            return await real_verify(password_hash, password)

        monkeypatch.setattr(auth, "_verify", slow_verify)
        await pilot.press(*"Mauvais-mot-de-passe-2", "enter")
        await wait_until(pilot, lambda: str(login.message.content) == "Vérification…", "« Vérification… » affiché")
        release.set()
        await settle(pilot)
        assert "incorrect" in str(login.message.content)


async def test_the_output_thread_gets_the_interpreter_sooner_while_the_app_runs(settings):
    before = sys.getswitchinterval()
    app = new_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert sys.getswitchinterval() == pytest.approx(app_module.OUTPUT_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == pytest.approx(before)


# -- service side ----------------------------------------------------------------------------------------
async def test_warm_database_reads_and_writes_nothing(db):
    account = await make_account()
    counts = (await AuditEvent.all().count(), await AppSession.all().count(), await Account.all().count())
    before = await Account.get(id=account.id).values("failed_attempts", "last_login_at", "password_hash")
    await auth.warm_database()
    await auth.warm_database()  # idempotent
    assert (await AuditEvent.all().count(), await AppSession.all().count(), await Account.all().count()) == counts
    assert await Account.get(id=account.id).values("failed_attempts", "last_login_at", "password_hash") == before


async def test_prepare_login_loads_the_hashers_and_the_dummy_hash(monkeypatch, fast_argon2):
    monkeypatch.setattr(auth, "_dummy_hash_cache", None)
    auth.prepare_login()
    assert auth._dummy_hash_cache is not None
    assert "cpf_tui.services.sessions" in sys.modules and "argon2" in sys.modules


async def test_what_home_shows_is_read_during_the_check_and_thrown_away_on_failure(db, fast_argon2, monkeypatch):
    account = await make_account()
    reads: list[asyncio.Task] = []
    real = auth.session_info

    async def spying(account_id, *args, **kwargs):
        reads.append(asyncio.current_task())
        return await real(account_id, *args, **kwargs)

    monkeypatch.setattr(auth, "session_info", spying)
    with pytest.raises(AuthenticationFailed):
        await auth.authenticate(account.identifier, "Mauvais-mot-de-passe-1", RequestContext())
    assert len(reads) == 1 and reads[0].done()

    info = await auth.authenticate(account.identifier, DEFAULT_PASSWORD, RequestContext())
    assert len(reads) == 2
    session = await AppSession.get(token=info.session_token)
    assert info.account_id == account.id and info.expires_at == session.expires_at


async def test_a_failed_read_of_home_data_does_not_hide_a_wrong_password(db, fast_argon2, monkeypatch):
    account = await make_account()

    async def broken(*args, **kwargs):
        raise RuntimeError("base indisponible")

    monkeypatch.setattr(auth, "session_info", broken)
    with pytest.raises(AuthenticationFailed):
        await auth.authenticate(account.identifier, "Mauvais-mot-de-passe-1", RequestContext())
    sessions_before = await AppSession.all().count()
    with pytest.raises(RuntimeError):
        await auth.authenticate(account.identifier, DEFAULT_PASSWORD, RequestContext())
    assert await AppSession.all().count() == sessions_before  # no session opened without its description


async def test_a_failure_during_the_first_cgu_publication_leaves_the_database_usable(db, fast_argon2, monkeypatch):
    """The read of what home shows may publish the reference CGU (a write, on a new database): a failed
    login must let it finish, not cut its transaction short, or the next write finds the connection
    inside a transaction."""
    from cpf_tui.services import cgu
    from models import CguVersion

    account = await make_account()
    assert not await CguVersion.all().exists()
    publishing = asyncio.Event()
    real_publish, real_verify = cgu.publish, auth._verify

    async def watched_publish(*args, **kwargs):
        publishing.set()
        await asyncio.sleep(0.05)  # inside the publication, when the password check ends
        return await real_publish(*args, **kwargs)

    async def wrong_at_once(password_hash, password):
        await publishing.wait()
        return False

    monkeypatch.setattr(cgu, "publish", watched_publish)
    monkeypatch.setattr(auth, "_verify", wrong_at_once)
    with pytest.raises(AuthenticationFailed):
        await auth.authenticate(account.identifier, "Mauvais-mot-de-passe-1", RequestContext())
    assert await CguVersion.all().count() == 1  # the publication went through
    monkeypatch.setattr(cgu, "publish", real_publish)
    monkeypatch.setattr(auth, "_verify", real_verify)
    info = await auth.authenticate(account.identifier, DEFAULT_PASSWORD, RequestContext())
    assert info.account_id == account.id
    assert (await Account.get(id=account.id)).failed_attempts == 0
