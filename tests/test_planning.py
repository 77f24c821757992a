"""The macro-planning: status of each line against a frozen date, operators' audited edits."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from cpf_tui.errors import Conflict, PermissionDenied, ValidationError
from cpf_tui.services import planning, reference
from cpf_tui.services.context import RequestContext
from cpf_tui.services.planning import DateBounds, MilestoneStatus, status_on
from models import AuditEvent, PlanningMilestone, Profile, Role
from tests.factories import make_account

S = MilestoneStatus


def ctx_of(account) -> RequestContext:
    return RequestContext(account_id=account.id)


@pytest.fixture
def december_2014(frozen_clock):
    frozen_clock.current = datetime(2014, 12, 10, 8, 0, tzinfo=timezone.utc)
    return frozen_clock


async def test_kit_planning_status_on_a_frozen_day(db, december_2014):
    await reference.load_reference_data()
    reader = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    lines = await planning.list_lines(ctx_of(reader))
    assert [line.status for line in lines] == [
        S.DONE,         # Ouverture du portail CPF espace public (11-2014)
        S.UNDATED,      # Retour du kit : sous 8 jours
        S.IN_PROGRESS,  # Création organismes 17-11-2014 → 31-12-2014
        S.DONE,         # Habilitations des gestionnaires : 01-12-2014 (one day)
        S.IN_PROGRESS,  # Habilitation par fichier : avant le 12-12-2014
        S.TO_COME,      # Traitement des fichiers 15-12-2014 → 31-12-2014
        S.TO_COME,      # Habilitation manuelle 01-2015
        S.IN_PROGRESS,  # Formation des formateurs 12-2014 → 02-2015
        S.TO_COME,      # Ouverture de l'espace privé 01-2015
    ]
    december_2014.current = datetime(2015, 3, 1, 12, 0, tzinfo=timezone.utc)
    later = await planning.list_lines(ctx_of(reader))
    assert {line.status for line in later} == {S.DONE, S.UNDATED}


def test_status_bounds_are_inclusive():
    start, end = DateBounds(date(2014, 12, 15), date(2014, 12, 15)), DateBounds(date(2014, 12, 31), date(2014, 12, 31))
    assert status_on(start, end, date(2014, 12, 14)) is S.TO_COME
    assert status_on(start, end, date(2014, 12, 15)) is S.IN_PROGRESS
    assert status_on(start, end, date(2014, 12, 31)) is S.IN_PROGRESS
    assert status_on(start, end, date(2015, 1, 1)) is S.DONE


async def _line(action_prefix: str) -> PlanningMilestone:
    return await PlanningMilestone.filter(action__startswith=action_prefix).first()


async def test_operator_edits_a_line_with_audit(db, december_2014):
    await reference.load_reference_data()
    operator = await make_account(Role.OPERATOR)
    milestone = await _line("Traitement")
    line = await planning.update_line(
        ctx_of(operator), milestone.id, action=milestone.action, responsible="CDC",
        start_text="01/12/2014", end_text="01-2015",
    )
    assert line.status is S.IN_PROGRESS
    stored = await PlanningMilestone.get(id=milestone.id)
    assert (stored.start_text, stored.start_date, stored.end_date) == ("01-12-2014", date(2014, 12, 1), date(2015, 1, 31))
    event = await AuditEvent.get(action="planning.edit")
    assert event.before["end_text"] == "31-12-2014" and event.after["end_text"] == "01-2015"
    assert event.target_id == str(milestone.id) and event.actor_id == operator.id


async def test_kit_wording_is_kept_when_unchanged(db, december_2014):
    await reference.load_reference_data()
    operator = await make_account(Role.OPERATOR)
    milestone = await _line("Retour du kit")
    await planning.update_line(ctx_of(operator), milestone.id, action=milestone.action, responsible="Partenaire (organisme)",
                               start_text="", end_text="Sous 8 jours")
    assert (await PlanningMilestone.get(id=milestone.id)).end_text == "Sous 8 jours"
    with pytest.raises(ValidationError, match="n'est pas une date"):
        await planning.update_line(ctx_of(operator), milestone.id, action=milestone.action, responsible="",
                                   start_text="", end_text="Sous 10 jours")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("31-02-2015", "", "n'existe pas dans le calendrier"),
        ("13-2014", "", "n'existe pas dans le calendrier"),
        ("bientôt", "", "n'est pas une date"),
        ("15-12-2014", "14-12-2014", "précède"),
        ("01-2015", "12-2014", "précède"),
    ],
)
async def test_bad_dates_get_a_french_message_and_change_nothing(db, december_2014, start, end, message):
    await reference.load_reference_data()
    operator = await make_account(Role.OPERATOR)
    milestone = await _line("Traitement")
    with pytest.raises(ValidationError, match=message):
        await planning.update_line(ctx_of(operator), milestone.id, action="Autre", responsible="CDC",
                                   start_text=start, end_text=end)
    stored = await PlanningMilestone.get(id=milestone.id)
    assert (stored.action, stored.start_text, stored.end_text) == (milestone.action, "15-12-2014", "31-12-2014")
    assert not await AuditEvent.filter(action="planning.edit").exists()


async def test_empty_action_is_refused(db, december_2014):
    await reference.load_reference_data()
    operator = await make_account(Role.OPERATOR)
    milestone = await _line("Traitement")
    with pytest.raises(ValidationError, match="obligatoire"):
        await planning.update_line(ctx_of(operator), milestone.id, action="  ", responsible="", start_text="",
                                   end_text="")


async def test_only_operators_edit(db, december_2014):
    await reference.load_reference_data()
    admin = await make_account(Role.PRINCIPAL_ADMIN)
    milestone = await _line("Traitement")
    assert len(await planning.list_lines(ctx_of(admin))) == 9
    with pytest.raises(PermissionDenied):
        await planning.update_line(ctx_of(admin), milestone.id, action="x", responsible="", start_text="",
                                   end_text="")


async def test_concurrent_edit_is_a_conflict(db, december_2014):
    await reference.load_reference_data()
    operator = await make_account(Role.OPERATOR)
    milestone = await _line("Traitement")
    seen = {"action": milestone.action, "responsible": "CDC", "start_text": "15-12-2014", "end_text": "31-12-2014"}
    await planning.update_line(ctx_of(operator), milestone.id, action=milestone.action, responsible="CDC Angers",
                               start_text="15-12-2014", end_text="31-12-2014", expected=seen)
    with pytest.raises(Conflict, match="modifiée par quelqu'un d'autre"):
        await planning.update_line(ctx_of(operator), milestone.id, action=milestone.action, responsible="CDC Paris",
                                   start_text="15-12-2014", end_text="31-12-2014", expected=seen)
    assert (await PlanningMilestone.get(id=milestone.id)).responsible == "CDC Angers"
