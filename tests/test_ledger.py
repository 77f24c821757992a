"""The hours ledger: acquisition rules, DIF settings, reservation order, and the `check` recomputation."""

from __future__ import annotations

import pytest

from cpf_tui.errors import Conflict, PermissionDenied, SessionEnded, ValidationError
from cpf_tui.services import ledger
from cpf_tui.services.context import SYSTEM, RequestContext
from cpf_tui.services.ledger import acquisition_for_year, format_hours, parse_hours
from models import AccountStatus, AuditEvent, Bucket, Holder, HoursMovement, MovementKind, Profile, Role
from tests.factories import make_account, make_holder

H = 60


def test_format_hours():
    assert format_hours(12 * H + 30) == "12 h 30"
    assert format_hours(150 * H) == "150 h"
    assert format_hours(5) == "0 h 05"
    assert format_hours(0) == "0 h"


@pytest.mark.parametrize(
    "text, minutes",
    [("12", 720), ("12 h", 720), ("12h30", 750), ("12 h 30", 750), ("12:05", 725), (" 7 H ", 420)],
)
def test_parse_hours(text, minutes):
    assert parse_hours(text) == minutes


@pytest.mark.parametrize("text", ["douze", "12,5", "12 h 75", "-3", "12h30x"])
def test_parse_hours_refuses_garbage_in_french(text):
    with pytest.raises(ValidationError) as caught:
        parse_hours(text, "Durée")
    assert caught.value.message.startswith("Durée :")


def test_acquisition_full_time_then_half_rate_then_ceiling():
    acquired, gains = 0, []
    for _ in range(9):
        gain = acquisition_for_year(acquired, 100)
        gains.append(gain)
        acquired += gain
    assert gains[:5] == [24 * H] * 5
    assert gains[5:7] == [12 * H, 12 * H]
    assert gains[7] == 6 * H  # 144 h + 12 h would pass the 150 h ceiling
    assert gains[8] == 0
    assert acquired == 150 * H


def test_acquisition_part_time_and_crossing_the_threshold():
    assert acquisition_for_year(0, 50) == 12 * H
    # 110 h + full year: 10 h at 24 h/year (5/12 of the year), the remaining 7/12 at 12 h/year = 7 h.
    assert acquisition_for_year(110 * H, 100) == 17 * H
    with pytest.raises(ValidationError):
        acquisition_for_year(0, 0)


async def test_record_cpf_acquisition_is_a_system_feed(db, frozen_clock):
    holder = await make_holder()
    assert await ledger.record_cpf_acquisition(SYSTEM, holder.id, 2020, 100) == 24 * H
    assert await ledger.record_cpf_acquisition(SYSTEM, holder.id, 2021, 50) == 12 * H
    with pytest.raises(Conflict):
        await ledger.record_cpf_acquisition(SYSTEM, holder.id, 2021, 100)
    user = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE)
    with pytest.raises(PermissionDenied):
        await ledger.record_cpf_acquisition(RequestContext(account_id=user.id), holder.id, 2022, 100)
    await holder.refresh_from_db()
    assert holder.cpf_acquired_minutes == 36 * H
    movement = await HoursMovement.filter(holder_id=holder.id, reference_year=2021).get()
    assert (movement.kind, movement.bucket, movement.work_ratio_percent) == (
        MovementKind.CPF_ACQUISITION, Bucket.CPF, 50)
    assert await ledger.check_ledger() == []


async def test_consultation_sets_dif_with_before_after_author_reason(db, frozen_clock):
    holder = await make_holder()
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    ctx = RequestContext(account_id=user.id)
    await ledger.set_dif_balance(ctx, holder.id, 60 * H, "Attestation employeur n° 42")
    await ledger.set_dif_balance(ctx, holder.id, 80 * H, "Attestation rectificative n° 43")
    settings = await HoursMovement.filter(holder_id=holder.id, kind=MovementKind.DIF_SETTING).order_by("id")
    assert [(m.previous_minutes, m.minutes, m.author_id) for m in settings] == [
        (0, 60 * H, user.id), (60 * H, 80 * H, user.id)]
    assert settings[1].reason == "Attestation rectificative n° 43"
    await holder.refresh_from_db()
    assert holder.dif_total_minutes == 80 * H
    event = await AuditEvent.filter(action="holder.set_dif").order_by("-seq").first()
    assert event.before == {"dif_total_minutes": 60 * H}
    assert event.after["dif_total_minutes"] == 80 * H
    assert event.actor_id == user.id
    assert await ledger.check_ledger() == []


@pytest.mark.parametrize(
    "minutes, reason, fragment",
    [(121 * H, "Attestation", "120 h"), (-1, "Attestation", "entre 0 h"), (10 * H, "  ", "Justification"),
     (10 * H, "\x1b[31mROUGE\x1b[0m", "caractères de contrôle interdits")],
)
async def test_dif_setting_refusals_change_nothing(db, minutes, reason, fragment):
    holder = await make_holder()
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    with pytest.raises(ValidationError) as caught:
        await ledger.set_dif_balance(RequestContext(account_id=user.id), holder.id, minutes, reason)
    assert fragment in caught.value.message
    assert await HoursMovement.filter(holder_id=holder.id).count() == 0
    await holder.refresh_from_db()
    assert holder.dif_total_minutes == 0


async def test_dif_never_below_reserved_or_consumed(db):
    holder = await make_holder(dif_total_minutes=50 * H, dif_reserved_minutes=20 * H, dif_consumed_minutes=10 * H)
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    ctx = RequestContext(account_id=user.id)
    with pytest.raises(ValidationError) as caught:
        await ledger.set_dif_balance(ctx, holder.id, 29 * H, "Attestation")
    assert "30 h" in caught.value.message
    await ledger.set_dif_balance(ctx, holder.id, 30 * H, "Attestation")
    await holder.refresh_from_db()
    assert holder.dif_available_minutes == 0


async def test_operators_cannot_set_dif_and_deactivated_users_lose_it(db):
    holder = await make_holder()
    operator = await make_account(Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        await ledger.set_dif_balance(RequestContext(account_id=operator.id), holder.id, 10 * H, "Attestation")
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION, status=AccountStatus.DEACTIVATED)
    with pytest.raises(SessionEnded):
        await ledger.set_dif_balance(RequestContext(account_id=user.id), holder.id, 10 * H, "Attestation")


async def test_check_reports_every_difference_in_french(db):
    good = await make_holder()
    bad = await make_holder()
    await HoursMovement.create(holder=good, kind=MovementKind.CPF_ACQUISITION, bucket=Bucket.CPF, minutes=24 * H)
    await Holder.filter(id=good.id).update(cpf_acquired_minutes=24 * H)
    await HoursMovement.create(holder=bad, kind=MovementKind.DIF_SETTING, bucket=Bucket.DIF, minutes=10 * H,
                               previous_minutes=0)
    await HoursMovement.create(holder=bad, kind=MovementKind.RESERVATION, bucket=Bucket.DIF, minutes=4 * H)
    await Holder.filter(id=bad.id).update(dif_total_minutes=10 * H, dif_reserved_minutes=5 * H)
    problems = await ledger.check_ledger()
    assert [p.holder_id for p in problems] == [bad.id]
    assert problems[0].message == "heures DIF réservées : 5 h enregistrées, 4 h d'après les mouvements."


async def test_check_uses_the_latest_dif_setting(db):
    holder = await make_holder(dif_total_minutes=30 * H)
    for previous, minutes in ((0, 50 * H), (50 * H, 30 * H)):
        await HoursMovement.create(holder=holder, kind=MovementKind.DIF_SETTING, bucket=Bucket.DIF,
                                   minutes=minutes, previous_minutes=previous)
    assert await ledger.check_ledger() == []
    await Holder.filter(id=holder.id).update(dif_total_minutes=50 * H)
    assert len(await ledger.check_ledger()) == 1


def test_cli_check_exit_code(db_url, tmp_path, monkeypatch):
    """`cpf-tui check` prints the inconsistencies in French and exits non-zero when there are some."""
    import asyncio

    from cpf_tui import cli
    from cpf_tui import db as db_module

    async def corrupt() -> None:
        await db_module.open_database(db_url)
        try:
            await make_holder(nir="", cpf_acquired_minutes=10 * H)
        finally:
            await db_module.close_database()

    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    assert cli.main(["check"]) == 0
    asyncio.run(corrupt())
    assert cli.main(["check"]) == 1
