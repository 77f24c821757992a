"""A file's holder changed while it was being validated: hours are reserved on the file's holder as read
inside the transaction (file locked, then its holder); `check` finds reservations left on another holder."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from cpf_tui import cli
from cpf_tui.services import dossiers, ledger
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from models import Dossier, DossierStatus, Holder, HoursMovement, MovementKind, Role
from tests.factories import make_account, make_organisation, make_siren, make_siret
from tests.holder_helpers import funded_holder

H = 60


def training_for(holder: Holder) -> DossierInput:
    return DossierInput(
        holder_nir=holder.nir, training_title="Comptabilité", provider_name="Chiffres & Co",
        provider_siret=make_siret(make_siren(907), 14), start_date=date(2026, 1, 12), end_date=date(2026, 6, 26),
        duration_minutes=35 * H, requested_minutes=30 * H,
    )


@pytest.fixture
async def office(db, frozen_clock):
    organisation = await make_organisation()
    admin = await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    first, second = await funded_holder(100 * H), await funded_holder(100 * H)
    return RequestContext(account_id=admin.id), first, second


async def test_a_holder_changed_before_the_transaction_gets_the_reservation(office, monkeypatch):
    ctx, first, second = office
    draft = await dossiers.create_draft(ctx, training_for(first))
    real_load = dossiers._load_for
    raced: list[bool] = []

    async def holder_changes_meanwhile(actor, dossier_id, conn=None, **options):
        found = await real_load(actor, dossier_id, conn, **options)
        if conn is None and not raced:  # validate's check, before its transaction: someone edits the draft
            raced.append(True)
            await dossiers.save_draft(ctx, dossier_id, training_for(second), expected_version=found.version)
        return found

    monkeypatch.setattr(dossiers, "_load_for", holder_changes_meanwhile)
    validated = await dossiers.validate(ctx, draft.id)  # no expected_version, as the CLI or a script would
    assert raced and validated.holder_id == second.id and validated.status == DossierStatus.VALIDATED
    movements = await HoursMovement.filter(dossier_id=draft.id).values_list("holder_id", "kind")
    assert movements == [(second.id, MovementKind.RESERVATION)]
    await first.refresh_from_db()
    await second.refresh_from_db()
    assert first.cpf_reserved_minutes == 0 and second.cpf_reserved_minutes == 30 * H
    assert await ledger.check_ledger() == []
    monkeypatch.setattr(dossiers, "_load_for", real_load)
    closed = await dossiers.close(ctx, draft.id, 30 * H)  # the file can be closed: its hours are its holder's
    assert closed.status == DossierStatus.CLOSED
    await second.refresh_from_db()
    assert second.cpf_consumed_minutes == 30 * H and second.cpf_reserved_minutes == 0


async def _reservation_left_on_another_holder() -> tuple[str, Holder, Holder]:
    """What the race used to leave behind: the file names one holder, its reservation sits on the other."""
    organisation = await make_organisation()
    admin = await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    ctx = RequestContext(account_id=admin.id)
    first, second = await funded_holder(100 * H), await funded_holder(100 * H)
    draft = await dossiers.create_draft(ctx, training_for(first))
    await dossiers.validate(ctx, draft.id)
    assert await ledger.check_ledger() == []
    await Dossier.filter(id=draft.id).update(holder_id=second.id)
    return draft.number, first, second


async def test_check_reports_a_reservation_left_on_another_holder(db):
    number, first, second = await _reservation_left_on_another_holder()
    problems = await ledger.check_ledger()
    assert [(p.holder_id, p.nir) for p in problems] == [(first.id, first.nir)]
    assert number in problems[0].message and second.nir in problems[0].message
    assert "Réservation" in problems[0].message


def test_cli_check_names_the_file_and_fails(db_url, capsys, monkeypatch):
    from cpf_tui import db as db_module

    async def build():
        await db_module.open_database(db_url)
        try:
            return await _reservation_left_on_another_holder()
        finally:
            await db_module.close_database()

    number, first, _second = asyncio.run(build())
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    assert cli.main(["check"]) == 1
    captured = capsys.readouterr()
    assert f"Titulaire {first.nir}" in captured.out and number in captured.out
    assert "1 incohérence(s)" in captured.err
