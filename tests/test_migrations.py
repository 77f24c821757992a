"""The committed migrations match the models, and a database behind them is refused in French."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from textual.widgets import Static

from cpf_tui import db as db_module
from cpf_tui.app import make_app
from cpf_tui.config import Settings
from cpf_tui.devtools import detect_changes
from cpf_tui.errors import DatabaseBehind
from screens.modals import MessageModal
from tests.pilot import workers_done

LAST_MIGRATION = sorted(path.stem for path in (Path(__file__).parent.parent / "models" / "migrations").glob("0*.py"))[-1]
"""The newest committed migration: the one a database "behind" has not applied."""


async def test_no_model_change_is_missing_a_migration():
    changes = await detect_changes()
    assert [f"{writer.app_label}.{writer.name}" for writer in changes] == []


async def test_migrate_applies_every_migration_once(tmp_path):
    url = f"sqlite://{tmp_path / 'fresh.sqlite3'}"
    assert (await db_module.migrate(url))[:3] == ["0001_initial", "0002_one_active_principal_admin", "0003_holder_feed"]
    assert await db_module.migrate(url) == []


@pytest.fixture
def behind_database(migrated_template: str, tmp_path: Path) -> Path:
    """A SQLite database on which the last migration was never applied."""
    if not migrated_template.endswith(".sqlite3"):
        pytest.skip("SQLite template needed to rewind the migration history")
    target = tmp_path / "behind.sqlite3"
    shutil.copyfile(migrated_template, target)
    conn = sqlite3.connect(target)
    conn.execute("DELETE FROM tortoise_migrations WHERE name = ?", (LAST_MIGRATION,))
    conn.commit()
    conn.close()
    return target


async def test_database_behind_raises_a_french_message(behind_database):
    await db_module.open_database(f"sqlite://{behind_database}")
    try:
        with pytest.raises(DatabaseBehind) as error:
            await db_module.ensure_schema_current()
    finally:
        await db_module.close_database()
    assert "n'est pas à jour" in error.value.message
    assert LAST_MIGRATION in error.value.message
    assert "cpf-tui migrate" in error.value.message


async def test_current_database_passes_the_check(db):
    await db_module.ensure_schema_current()
    assert await db_module.pending_migrations() == []


async def test_the_app_shows_a_database_behind(behind_database, tmp_path):
    settings = Settings()
    settings.data_dir = str(tmp_path / "data")
    settings.database.url = f"sqlite://{behind_database}"
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        # The database is opened by a worker started after the first frame: wait for its message.
        for _ in range(200):
            await workers_done(app)
            await pilot.pause(0.05)
            if isinstance(app.screen, MessageModal):
                break
        assert isinstance(app.screen, MessageModal)
        text = str(app.screen.query_one("#message-text", Static).content)
        assert "n'est pas à jour" in text and "cpf-tui migrate" in text
        assert not app.db_ready.is_set()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, MessageModal)
