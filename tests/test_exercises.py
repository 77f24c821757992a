"""Training exercises: checked against the sandbox database, ticking themselves, reset with the sandbox."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from textual.widgets import Static

from cpf_tui import db as db_module
from cpf_tui.app import make_app
from cpf_tui.config import Settings
from cpf_tui.services import exercises, sandbox
from cpf_tui.services.bulk import analyse_workbook, import_workbook
from cpf_tui.services.context import RequestContext
from cpf_tui.services.ledger import set_dif_balance
from models import Account, Holder
from screens.exercises import ExercisesModal
from tests.pilot import workers_done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exercises")
    path = folder / "sandbox.sqlite3"
    url = f"sqlite://{path}"
    asyncio.run(sandbox.build_sandbox(url))
    asyncio.run(exercises.prepare_sample_bulk_file(url, folder))
    return path


@pytest.fixture
async def sandbox_url(built: Path, tmp_path: Path):
    target = tmp_path / "sandbox.sqlite3"
    shutil.copyfile(built, target)
    shutil.copyfile(built.parent / exercises.SAMPLE_BULK_FILE, tmp_path / exercises.SAMPLE_BULK_FILE)
    url = f"sqlite://{target}"
    await db_module.open_database(url)
    try:
        yield url
    finally:
        await db_module.close_database()


async def as_account(label: str, profile: str = "") -> RequestContext:
    identifier = next(a.identifier for a in sandbox.training_accounts()
                      if a.role_label == label and a.state == "actif" and (not profile or a.profile_label == profile))
    account = await Account.get(identifier=identifier)
    return RequestContext(account_id=account.id)


async def done_ids() -> set[str]:
    return {status.exercise.id for status in await exercises.statuses() if status.done}


async def test_a_fresh_sandbox_has_no_exercise_done(sandbox_url):
    assert await done_ids() == set()
    assert len(exercises.exercises()) == 7


async def test_setting_a_dif_balance_ticks_only_that_exercise(sandbox_url):
    ctx = await as_account("Gestionnaire", "Consultation")
    holder = await Holder.filter(dif_reserved_minutes=0, dif_consumed_minutes=0).first()
    await set_dif_balance(ctx, holder.id, 60 * 60, "Attestation employeur n° 42")
    assert await done_ids() == {"solde-dif"}


async def test_the_sample_bulk_file_imports_and_ticks_the_bulk_exercise(sandbox_url, tmp_path):
    ctx = await as_account("Administrateur principal")
    principal = await Account.get(id=ctx.account_id).prefetch_related("organisation")
    sample = tmp_path / exercises.SAMPLE_BULK_FILE
    report = await analyse_workbook(sample, siret=principal.organisation.siret, ctx=ctx)
    assert report.errors == []
    result = await import_workbook(sample, siret=principal.organisation.siret, ctx=ctx, output_dir=tmp_path)
    assert result.created == 35
    assert "import-masse" in await done_ids()
    assert "creer-gestionnaire" in await done_ids()  # the file holds Validation gestionnaires


def test_exercise_sheet_is_markdown_with_every_exercise_and_account():
    sheet = exercises.exercise_sheet()
    assert sheet.startswith("# Exercices de formation")
    for exercise in exercises.exercises():
        assert f". {exercise.title}" in sheet
    for account in sandbox.training_accounts():
        assert f"`{account.identifier}`" in sheet


async def test_f2_lists_the_exercises_and_ticks_one_when_done(sandbox_url, tmp_path):
    settings = Settings()
    settings.data_dir = str(tmp_path / "data")
    settings.database.url = sandbox_url
    settings.sandbox = True
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, ExercisesModal)
        await workers_done(app)
        await pilot.pause()
        dif = app.screen.query_one("#exercise-solde-dif", Static)
        assert str(dif.content).startswith("[ ]")
        ctx = await as_account("Gestionnaire", "Consultation")
        holder = await Holder.filter(dif_reserved_minutes=0, dif_consumed_minutes=0).first()
        await set_dif_balance(ctx, holder.id, 30 * 60, "Attestation employeur n° 7")
        app.screen.refresh_statuses()
        await workers_done(app)
        await pilot.pause()
        assert str(dif.content).startswith("[x]")
        assert dif.has_class("-done")
        assert "1 exercice(s) terminé(s) sur 7" in str(app.screen.query_one("#exercises-progress", Static).content)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExercisesModal)


async def test_f2_does_nothing_outside_the_sandbox(db, settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await pilot.press("f2")
        await pilot.pause()
        assert not isinstance(app.screen, ExercisesModal)
