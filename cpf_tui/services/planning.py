"""The kit's macro-planning: each line's status against today's date, and operators' edits (audited)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from cpf_tui import clock
from cpf_tui.errors import Conflict, NotFound, ValidationError
from cpf_tui.permissions import Capability
from cpf_tui.services import audit, sessions
from cpf_tui.services.context import RequestContext
from cpf_tui.services.validation import validate_text
from cpf_tui.text import clean_line

from models import PlanningMilestone
_DAY = re.compile(r"^(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4})$|^(\d{2})(\d{2})(\d{4})$")
_MONTH = re.compile(r"^(\d{1,2})[-/. ](\d{4})$")
DATE_FORMATS_HELP = "formats acceptés : JJ-MM-AAAA, MM-AAAA, ou vide"
"""Also accepted, stored as JJ-MM-AAAA: JJ/MM/AAAA, J.M.AAAA, JJ MM AAAA, JJMMAAAA (MM/AAAA as MM-AAAA)."""


class MilestoneStatus(str, Enum):
    """Where a planning line stands on a given day."""

    DONE = "done"
    IN_PROGRESS = "in_progress"
    TO_COME = "to_come"
    UNDATED = "undated"

    @property
    def label(self) -> str:
        return {"done": "Terminé", "in_progress": "En cours", "to_come": "À venir", "undated": "Non daté"}[self.value]


@dataclass(frozen=True)
class DateBounds:
    """A typed date: the first and last day it covers (one day, or a whole month for MM-AAAA)."""

    first: date
    last: date


def parse_planning_date(text: str, label: str) -> DateBounds | None:
    """`17-11-2014` (one day) or `11-2014` (a month); None when empty; ValidationError (French) otherwise."""
    text = clean_line(text)
    if not text:
        return None
    try:
        if match := _DAY.match(text):
            day_text, month_text, year_text = [g for g in match.groups() if g is not None]
            day = date(int(year_text), int(month_text), int(day_text))
            return DateBounds(day, day)
        if match := _MONTH.match(text):
            year, month = int(match.group(2)), int(match.group(1))
            first = date(year, month, 1)
            return DateBounds(first, date(year, month, calendar.monthrange(year, month)[1]))
    except ValueError:
        raise ValidationError(f"{label} : « {text} » n'existe pas dans le calendrier.", {label: "date"}) from None
    raise ValidationError(f"{label} : « {text} » n'est pas une date ({DATE_FORMATS_HELP}).", {label: "format"})


def bounds_of(text: str, parsed: date | None) -> DateBounds | None:
    """The bounds of a stored date: from its text when it is a date, else from the parsed column."""
    try:
        bounds = parse_planning_date(text, "date")
    except ValidationError:
        bounds = None
    if bounds is None and parsed is not None:
        bounds = DateBounds(parsed, parsed)
    return bounds


def status_on(start: DateBounds | None, end: DateBounds | None, today: date) -> MilestoneStatus:
    """Done after the last day, to come before the first, in progress in between.

    A line with only a start is a one-off step (its day or month); one with only an end is a
    deadline (in progress until then); one without any date (e.g. "Sous 8 jours") is undated.
    """
    if start is None and end is None:
        return MilestoneStatus.UNDATED
    first = start.first if start else None
    last = end.last if end else start.last  # type: ignore[union-attr]
    if today > last:
        return MilestoneStatus.DONE
    if first is not None and today < first:
        return MilestoneStatus.TO_COME
    return MilestoneStatus.IN_PROGRESS


@dataclass(frozen=True)
class PlanningLine:
    """One line of the planning as shown (plain values)."""

    id: int
    position: int
    action: str
    responsible: str
    start_text: str
    end_text: str
    status: MilestoneStatus

    @property
    def editable_values(self) -> dict[str, str]:
        return {"action": self.action, "responsible": self.responsible, "start_text": self.start_text,
                "end_text": self.end_text}


def today() -> date:
    """Today's date in France (the kit's dates are French calendar days)."""
    return clock.today()


def _line(milestone: Any, day: date) -> PlanningLine:
    start = bounds_of(milestone.start_text, milestone.start_date)
    end = bounds_of(milestone.end_text, milestone.end_date)
    return PlanningLine(
        id=milestone.id, position=milestone.position, action=milestone.action, responsible=milestone.responsible,
        start_text=milestone.start_text, end_text=milestone.end_text, status=status_on(start, end, day),
    )


def _snapshot(milestone: Any) -> dict[str, Any]:
    return {
        "action": milestone.action, "responsible": milestone.responsible, "start_text": milestone.start_text,
        "end_text": milestone.end_text,
        "start_date": milestone.start_date.isoformat() if milestone.start_date else None,
        "end_date": milestone.end_date.isoformat() if milestone.end_date else None,
    }


async def list_lines(ctx: RequestContext) -> list[PlanningLine]:
    """Every line of the macro-planning in order, each with its status today."""
    await sessions.require(ctx, Capability.PLANNING_VIEW)
    day = today()
    return [_line(m, day) for m in await PlanningMilestone.all().order_by("position", "id")]


def _date_field(text: str, stored_text: str, stored: date | None, label: str) -> tuple[str, DateBounds | None, date | None]:
    """A typed date: unchanged kit wording (e.g. "Sous 8 jours") is kept, anything new must be a date."""
    text = clean_line(text)
    if text == stored_text and bounds_of(text, None) is None:
        return text, (DateBounds(stored, stored) if stored else None), stored
    validate_text(text, label, max_length=40, required=False)
    bounds = parse_planning_date(text, label)
    return planning_date_text(bounds), bounds, (bounds.first if bounds else None)


def planning_date_text(bounds: DateBounds | None) -> str:
    """The one stored form of a typed date: JJ-MM-AAAA for a day, MM-AAAA for a month, empty for none."""
    if bounds is None:
        return ""
    if bounds.first == bounds.last:
        return bounds.first.strftime("%d-%m-%Y")
    return bounds.first.strftime("%m-%Y")


async def update_line(
    ctx: RequestContext,
    milestone_id: int,
    *,
    action: str,
    responsible: str,
    start_text: str,
    end_text: str,
    expected: dict[str, str] | None = None,
) -> PlanningLine:
    """Change one planning line (operators); `expected` = the values the user saw (conflict check)."""
    from cpf_tui.services.locking import serialised_transaction

    actor = await sessions.require(ctx, Capability.PLANNING_EDIT)
    action = validate_text(action, "Action", max_length=200)
    responsible = validate_text(responsible, "Responsabilité", max_length=60, required=False)
    async with serialised_transaction() as conn:
        milestone = await PlanningMilestone.filter(id=milestone_id).using_db(conn).select_for_update().first()
        if milestone is None:
            raise NotFound("Cette ligne du planning n'existe plus.")
        before = _snapshot(milestone)
        if expected is not None and any(before[key] != value for key, value in expected.items()):
            raise Conflict(
                "Cette ligne a été modifiée par quelqu'un d'autre entre-temps : rechargez le planning"
                " (votre saisie est conservée)."
            )
        start_text, start, start_date = _date_field(start_text, milestone.start_text, milestone.start_date, "Début")
        end_text, end, end_date = _date_field(end_text, milestone.end_text, milestone.end_date, "Fin")
        if start and end and end.last < start.first:
            raise ValidationError("Fin : la date de fin précède la date de début.", {"Fin": "ordre"})
        milestone.action, milestone.responsible = action, responsible
        milestone.start_text, milestone.end_text = start_text, end_text
        milestone.start_date, milestone.end_date = start_date, (end.last if end else end_date)
        after = _snapshot(milestone)
        if after == before:
            return _line(milestone, today())
        await milestone.save(using_db=conn)
        await audit.record(
            "planning.edit", ctx=ctx, actor=actor, target=milestone, target_type="PlanningMilestone",
            before=before, after=after, using_db=conn,
        )
    return _line(milestone, today())
