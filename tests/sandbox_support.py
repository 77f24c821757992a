"""The frozen training sandbox shared by the snapshot tests and the screen walk (pytest fixtures):
built once per test process with "now" frozen, copied per test, with its sample and faulty workbooks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cpf_tui.config import Settings
from cpf_tui.services.sandbox import training_accounts
from tests.e2e.tmux import build_sandbox_file

FROZEN_AT = "2026-01-15T09:00:00+00:00"
"""The sandbox's « now » (every date on screen is the same from one build to the next)."""

SAMPLE = "habilitation-en-masse-exemple.xlsx"
FAULTY = "habilitation-avec-erreurs.xlsx"


@pytest.fixture(scope="session")
def snapshot_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("snapshot-sandbox")
    database = build_sandbox_file(folder / "sandbox.sqlite3", frozen_at=FROZEN_AT, sample_bulk_dir=folder)
    write_faulty_workbook(folder / SAMPLE, folder / FAULTY)
    return database


def write_faulty_workbook(sample: Path, target: Path) -> None:
    """The sample workbook with three mistakes a person makes: no name, a bad e-mail, an unknown profile."""
    from openpyxl import load_workbook

    workbook = load_workbook(sample)
    sheet = workbook["Habilitations"]
    last = max(row for row in range(2, sheet.max_row + 1) if sheet.cell(row, 3).value)  # the template formats empty rows too
    sheet.cell(last, 3).value = "pas-un-courriel"
    sheet.cell(last - 1, 6).value = "Directeur"
    sheet.cell(last - 2, 1).value = None
    workbook.save(target)


@pytest.fixture
def sandbox_settings(snapshot_sandbox: Path, tmp_path: Path, frozen_clock, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of `cpf-tui demo` on a private copy of the frozen sandbox (and its sample workbook)."""
    database = tmp_path / "sandbox.sqlite3"
    shutil.copyfile(snapshot_sandbox, database)
    for workbook in snapshot_sandbox.parent.glob("*.xlsx"):
        shutil.copyfile(workbook, tmp_path / workbook.name)
    monkeypatch.chdir(tmp_path)  # file paths typed in the app stay short and the same in every run
    settings = Settings()
    settings.data_dir = str(tmp_path / "data")
    settings.database.url = f"sqlite://{database}"
    settings.sandbox = True
    settings.mail.delivery = "spool"
    settings.mail.spool_dir = str(tmp_path / "sandbox-spool")
    return settings


def password_of(identifier: str) -> str:
    return next(account.password for account in training_accounts() if account.identifier == identifier)
