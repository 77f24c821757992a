"""The kit's macro-planning (actions, responsible party, start and end)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class PlanningMilestone(Model):
    """One line of the partners' planning: dates as written in the kit plus parsed bounds."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    position = fields.IntField()
    action = fields.CharField(max_length=200)
    responsible = fields.CharField(max_length=60, default="")
    start_text = fields.CharField(max_length=40, default="")
    end_text = fields.CharField(max_length=40, default="")
    start_date = fields.DateField(null=True)
    end_date = fields.DateField(null=True)

    class Meta:
        table = "planning_milestone"
        ordering = ["position"]

    def __str__(self) -> str:
        return self.action
