"""The journal screen at 80x24, keyboard only: scope, filters, pages, detail and export."""

from __future__ import annotations

import openpyxl
from textual.widgets import DataTable, Static

from cpf_tui.app import make_app
from cpf_tui.services import audit
from models import AuditEvent, Role
from screens.home import HomeScreen
from screens.journal import JournalEventModal, JournalScreen
from screens.modals import MessageModal
from tests.factories import make_account, make_organisation
from tests.pilot import log_in, settle


async def open_journal(app, pilot) -> JournalScreen:
    assert isinstance(app.screen, HomeScreen)
    labels = [section.label for section in app.screen.sections]
    await pilot.press(*(["down"] * labels.index("Journal d'audit")), "enter")
    await settle(pilot)
    assert isinstance(app.screen, JournalScreen)
    return app.screen


def targets(screen: JournalScreen) -> list[str]:
    table = screen.query_one("#journal-table", DataTable)
    return [str(table.get_cell(row_key, "target")) for row_key in table.rows]


def status(screen: JournalScreen) -> str:
    return str(screen.query_one("#journal-status", Static).content)


async def test_administrator_filters_sees_detail_and_exports(db, settings, frozen_clock):
    org, other = await make_organisation("Alpha"), await make_organisation("Beta")
    admin = await make_account(Role.PRINCIPAL_ADMIN, organisation=org, identifier="ADMAAA")
    stranger = await make_account(Role.PRINCIPAL_ADMIN, organisation=other, identifier="ADMBBB")
    await audit.record("account.create", actor=admin, target_type="Account", target_id=7, target_label="Claire Martin",
                       after={"nom": "Martin"})
    frozen_clock.advance(days=2)
    await audit.record("account.deactivate", actor=admin, target_type="Account", target_id=8,
                       target_label="=1+1 [bold]x[/bold]", before={"status": "active"}, after={"status": "deactivated"})
    await audit.record("account.create", actor=stranger, target_type="Account", target_id=9, target_label="Secret Beta")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, admin)
        screen = await open_journal(app, pilot)
        shown = targets(screen)
        assert "Secret Beta" not in shown and "Claire Martin" in shown
        assert shown[0] == "=1+1 [bold]x[/bold]"  # newest first, shown as typed (no markup)
        # filter by action (French label), then by period
        await pilot.press("slash", "tab", *"désactivation", "enter")
        await settle(pilot)
        assert targets(screen) == ["=1+1 [bold]x[/bold]"]
        assert "1 événement(s) (filtré)" in status(screen)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("slash", "tab", "tab", "tab", *"15/01/2026", "tab", *"15/01/2026", "enter")
        await settle(pilot)
        assert targets(screen) == ["Claire Martin"]
        await pilot.press("slash", "tab", "tab", "tab", "ctrl+u", *"31/13/2026", "enter")
        await settle(pilot)
        assert "n'existe pas" in status(screen)
        await pilot.press("c")
        await settle(pilot)
        assert len(targets(screen)) == 2
        # detail of the highlighted (newest) event
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, JournalEventModal)
        detail = str(app.screen.query_one("#journal-event-text", Static).content)
        assert "Désactivation de compte" in detail and "account.deactivate" not in detail
        assert "Avant :\n  Statut : Actif\nAprès :\n  Statut : Désactivé" in detail  # French, never raw keys
        assert "(compte 8)" in detail
        await pilot.press("escape")
        await pilot.pause()
        # export of what is shown
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, MessageModal)
        exported = sorted((settings.data_path / "exports").glob("journal-*.xlsx"))
        assert len(exported) == 1
        sheet = openpyxl.load_workbook(exported[0]).active
        cells = {row[8].value: row[8] for row in sheet.iter_rows(min_row=2)}
        assert set(cells) == {"Claire Martin", "=1+1 [bold]x[/bold]"}
        assert cells["=1+1 [bold]x[/bold]"].data_type == "s"
        assert await AuditEvent.filter(action="audit.export", actor_id=admin.id).exists()
        await pilot.press("enter", "escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_operator_pages_through_everything(db, settings, frozen_clock):
    operator = await make_account(Role.OPERATOR)
    for index in range(55):
        await audit.record("test.event", actor_identifier=f"U{index}", target_label=f"cible {index}")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, operator)
        screen = await open_journal(app, pilot)
        total = await AuditEvent.all().count()  # the 55 events, plus the session's own (login)
        assert "Page 1/2" in status(screen) and f"{total} événement(s)" in status(screen)
        assert "cible 54" in targets(screen)[:2]
        await pilot.press("greater_than_sign")
        await settle(pilot)
        assert "Page 2/2" in status(screen)
        assert len(targets(screen)) == total - 50 and targets(screen)[-1] == "cible 0"
        await pilot.press("greater_than_sign")  # no further page: nothing changes
        await settle(pilot)
        assert "Page 2/2" in status(screen)
        await pilot.press("less_than_sign")
        await settle(pilot)
        assert "Page 1/2" in status(screen)


async def test_gestionnaire_has_no_journal(db, settings):
    account = await make_account(Role.GESTIONNAIRE)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, account)
        assert "Journal d'audit" not in [section.label for section in app.screen.sections]


async def test_deactivated_administrator_is_logged_out_at_next_read(db, settings, frozen_clock):
    from models import Account, AccountStatus
    from screens.login import LoginScreen

    admin = await make_account(Role.PRINCIPAL_ADMIN)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, admin)
        await open_journal(app, pilot)
        await Account.filter(id=admin.id).update(status=AccountStatus.DEACTIVATED)
        await pilot.press("f5")
        await settle(pilot)
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert app.session is None


async def test_control_and_bidi_characters_in_events_are_shown_written_out(db, settings, frozen_clock):
    """Events holding escape sequences and bidi controls (rows written before the sanitiser) appear as
    visible text, in the table and in the detail."""
    operator = await make_account(Role.OPERATOR)
    await audit.record("login", actor_identifier="\x1b]2;PWNED\x07X", outcome="failure",
                       after={"reason": "unknown_identifier"})
    await audit.record("account.create", actor=operator, target_type="Account", target_id=3,
                       target_label="\x1b[2J\x1b[HFAUX Dupont\u202etnopuD", after={"nom": "a\x9bb"})
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, operator)
        screen = await open_journal(app, pilot)
        shown = targets(screen)
        index = next(i for i, text in enumerate(shown) if text.startswith("\\x1b[2J\\x1b[HFAUX"))
        assert all("\x1b" not in text and "\u202e" not in text for text in shown)
        table = screen.query_one("#journal-table", DataTable)
        actors = [str(table.get_cell(row_key, "actor")) for row_key in table.rows]
        assert "\\x1b]2;PWNED\\x07X" in actors
        await pilot.press(*(["down"] * index), "enter")
        await settle(pilot)
        assert isinstance(app.screen, JournalEventModal)
        detail = str(app.screen.query_one("#journal-event-text", Static).content)
        assert "Dupont\\u202etnopuD" in detail and "a\\x9bb" in detail
        assert "\x1b" not in detail and "\u202e" not in detail and "\x9b" not in detail


async def test_over_ssh_the_export_lands_in_the_drop_folder(db, settings, tmp_path, monkeypatch, frozen_clock):
    drop = tmp_path / "depot" / "alice"
    drop.mkdir(parents=True)
    monkeypatch.setenv("CPF_TUI_DROP_DIR", str(drop))
    operator = await make_account(Role.OPERATOR)
    await audit.record("account.create", actor=operator, target_type="Account", target_id=3, target_label="Claire")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, operator)
        screen = await open_journal(app, pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, MessageModal)
        exported = sorted(drop.glob("journal-*.xlsx"))
        assert len(exported) == 1 and not (settings.data_path / "exports").exists()
        assert status(screen).endswith(f"exporté(s) dans {exported[0].name}")  # no server path shown


async def test_the_detail_speaks_french_never_raw_keys_or_codes(db, settings, frozen_clock):
    """80x24, keys only: a lock and a sandbox build read « Échecs de connexion consécutifs : 10 » and
    « Création du bac à sable », never `failed_attempts` or `sandbox.build`."""
    operator = await make_account(Role.OPERATOR)
    locked = await make_account(Role.GESTIONNAIRE, nom="Martin", prenom="Claire")
    await audit.record("sandbox.build", target_type="Sandbox", target_label="graine 2026",
                       after={"seed": 2026, "holders": 300, "dossiers": 60, "movements": 1200})
    frozen_clock.advance(minutes=1)
    await audit.record("account.locked", actor_identifier="système", target=locked,
                       before={"failed_attempts": 9, "locked": False}, after={"failed_attempts": 10, "locked": True})
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, operator)
        screen = await open_journal(app, pilot)
        details = []
        for target in (str(locked), "graine 2026"):
            row = targets(screen).index(target)
            await pilot.press(*(["down"] * row), "enter")
            await settle(pilot)
            assert isinstance(app.screen, JournalEventModal)
            details.append(str(app.screen.query_one("#journal-event-text", Static).content))
            await pilot.press("escape", *(["up"] * row))
            await settle(pilot)
            assert app.screen is screen
    lock, build = details
    assert "Action : Verrouillage de compte" in lock and "(compte " in lock
    assert "Avant :\n  Échecs de connexion consécutifs : 9\n  Verrouillé : non" in lock
    assert "Après :\n  Échecs de connexion consécutifs : 10\n  Verrouillé : oui" in lock
    assert "Action : Création du bac à sable" in build and "Graine : 2026" in build and "Titulaires : 300" in build
    for raw in ("failed_attempts", "locked:", "sandbox.build", "account.locked", "seed", "holders", "{", '"'):
        assert raw not in lock + build, raw


async def test_in_the_sandbox_the_export_lands_beside_its_database_private(db, settings, frozen_clock):
    """`cpf-tui demo --db /tmp/x/demo.sqlite3`: what the sandbox writes stays in /tmp/x, mode 0600."""
    import stat
    from pathlib import Path

    import pytest

    if not settings.database.url.startswith("sqlite://"):
        pytest.skip("the training sandbox is a SQLite file")
    settings.sandbox = True
    folder = Path(settings.database.url[len("sqlite://"):]).parent
    operator = await make_account(Role.OPERATOR)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, operator)
        await open_journal(app, pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, MessageModal)
    exported = sorted((folder / "exports").glob("journal-20260115-100000.xlsx"))  # named in Paris time
    assert len(exported) == 1 and stat.S_IMODE(exported[0].stat().st_mode) == 0o600
    assert not (settings.data_path / "exports").exists()
