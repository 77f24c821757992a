"""SVG snapshots of every main screen at 80x24 on the training sandbox (pytest-textual-snapshot).

The sandbox is built once per test process with "now" frozen (every date on screen is the same from
one build to the next), copied per test; the app's clock is frozen too and text fields do not blink.
Regenerate after a deliberate change with `pytest tests/test_snapshots.py --snapshot-update`, and look
at the SVGs under tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from cpf_tui.app import make_app
from cpf_tui.config import Settings
from tests.pilot import log_in_with_keys, open_section, wait_for_screen, wait_until, workers_done
from tests.sandbox_support import FAULTY, SAMPLE, password_of

SIZE = (80, 24)
TIMEOUT = 60.0

pytestmark = pytest.mark.slow


async def log_in_as(pilot: Pilot, identifier: str, landing: str = "HomeScreen") -> None:
    """A training account logs in with the keyboard; `landing` is the screen it must reach."""
    await log_in_with_keys(pilot, identifier, password_of(identifier))
    await wait_for_screen(pilot, landing, timeout=TIMEOUT)


async def open_section_on(pilot: Pilot, section_id: str, screen_name: str) -> None:
    """Open a home section and wait for its screen."""
    await open_section(pilot, section_id)
    await wait_for_screen(pilot, screen_name, timeout=TIMEOUT)


async def steady(pilot: Pilot, *, timeout: float = 10.0) -> None:
    """Wait until two drawings 0.1 s apart are the same (a table may size its columns a frame after its
    rows arrive: a snapshot taken in between shows them cut)."""
    deadline = time.monotonic() + timeout
    before = pilot.app.export_screenshot()
    while time.monotonic() < deadline:
        await pilot.pause(0.1)
        now = pilot.app.export_screenshot()
        if now == before:
            return
        before = now
    raise AssertionError("l'écran ne se stabilise pas")


def login_then(identifier: str, *steps: Callable[[Pilot], Awaitable[None]],
               landing: str = "HomeScreen") -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await log_in_as(pilot, identifier, landing)
        for step in steps:
            await step(pilot)
        await steady(pilot)
    return run_before


def section(section_id: str, screen_name: str) -> Callable[[Pilot], Awaitable[None]]:
    async def step(pilot: Pilot) -> None:
        await open_section_on(pilot, section_id, screen_name)
    return step


def keys(*pressed: str, then: str) -> Callable[[Pilot], Awaitable[None]]:
    async def step(pilot: Pilot) -> None:
        await pilot.press(*pressed)
        await wait_for_screen(pilot, then, timeout=TIMEOUT)
    return step


def wait_text(widget_id: str, text: str) -> Callable[[Pilot], Awaitable[None]]:
    async def step(pilot: Pilot) -> None:
        def shown() -> bool:
            found = pilot.app.screen.query(f"#{widget_id}")
            return bool(found) and text in str(found.first().render())
        await wait_until(pilot, shown, f"« {text} » dans #{widget_id}", timeout=TIMEOUT)
        await workers_done(pilot.app)
        await pilot.pause()
    return step


def test_login(snap_compare, sandbox_settings: Settings) -> None:
    async def run_before(pilot: Pilot) -> None:
        await wait_for_screen(pilot, "LoginScreen", timeout=TIMEOUT)
        await pilot.app.db_ready.wait()
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)


def test_cgu_at_first_login(snap_compare, sandbox_settings: Settings) -> None:
    run_before = login_then("GSTN6NEW", wait_text("cgu-text", "Article 1"), landing="CguScreen")
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)


def test_password_change_at_first_login(snap_compare, sandbox_settings: Settings) -> None:
    run_before = login_then("GSTN6NEW", wait_text("cgu-text", "Article 1"), keys("o", then="PasswordScreen"),
                            landing="CguScreen")
    # Typed, so the checklist shows ticked and unticked rules.
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before,
                        press=[*"Tournesol42"])


@pytest.mark.parametrize("identifier", ["CDC2TRNG", "PRNC2UNQ", "GSTN2CSN", "GSTN4VAD"],
                         ids=["operateur", "administrateur-principal", "gestionnaire-consultation",
                              "gestionnaire-validation"])
def test_home_per_role(snap_compare, sandbox_settings: Settings, identifier: str) -> None:
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=login_then(identifier))


def test_user_tree(snap_compare, sandbox_settings: Settings) -> None:
    async def expand_first_establishment(pilot: Pilot) -> None:
        tree = pilot.app.screen.query_one("#user-tree")
        await wait_until(pilot, lambda: len(tree.root.children) > 0, "arbre chargé", timeout=TIMEOUT)
        await pilot.press("down", "enter")  # Siège — Paris: open it and show its accounts
        await wait_until(pilot, lambda: len(tree.root.children[0].children) > 0, "comptes du siège", timeout=TIMEOUT)
        await pilot.press("down", "down")  # the first account: its fiche below the tree
        await wait_text("account-fiche", "Rôle :")(pilot)

    run_before = login_then("PRNC2UNQ", section("users", "UserTreeScreen"), expand_first_establishment)
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)


def test_dossier_list(snap_compare, sandbox_settings: Settings) -> None:
    run_before = login_then("GSTN4VAD", section("dossiers", "DossierListScreen"),
                            wait_text("dossiers-message", "dossier(s)"))
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)


def test_dossier_form(snap_compare, sandbox_settings: Settings) -> None:
    run_before = login_then("GSTN4VAD", section("dossiers", "DossierListScreen"),
                            wait_text("dossiers-message", "dossier(s)"), keys("enter", then="DossierFormScreen"))
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)


def test_new_dossier_form(snap_compare, sandbox_settings: Settings) -> None:
    run_before = login_then("GSTN4VAD", section("dossiers", "DossierListScreen"),
                            wait_text("dossiers-message", "dossier(s)"), keys("n", then="DossierFormScreen"))
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)


def test_holder_page(snap_compare, sandbox_settings: Settings) -> None:
    run_before = login_then("GSTN5CTR", section("holders", "HolderSearchScreen"),
                            keys(*"293077693003597", "enter", then="HolderSearchScreen"),
                            wait_text("holder-message", "trouvé"), keys("enter", then="HolderPageScreen"),
                            wait_text("holder-identity", "Lacroix"))
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)


def test_bulk_import_check_of_a_valid_workbook(snap_compare, sandbox_settings: Settings) -> None:
    run_before = login_then("PRNC2UNQ", section("bulk-import", "BulkImportScreen"),
                            wait_text("bulk-status", "Choisissez"),
                            keys(*SAMPLE, "enter", then="BulkImportScreen"), wait_text("bulk-status", "valide"))
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)


def test_bulk_import_report_of_errors(snap_compare, sandbox_settings: Settings) -> None:
    run_before = login_then("PRNC2UNQ", section("bulk-import", "BulkImportScreen"),
                            wait_text("bulk-status", "Choisissez"),
                            keys(*FAULTY, "enter", then="BulkImportScreen"), wait_text("bulk-status", "refusé"))
    assert snap_compare(make_app(sandbox_settings), terminal_size=SIZE, run_before=run_before)
