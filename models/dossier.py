"""Training files (dossiers de formation) and their history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from models.enums import DossierStatus

if TYPE_CHECKING:
    from models.account import Account
    from models.holder import Holder
    from models.organisation import Establishment, Organisation


class Dossier(Model):
    """A training file that mobilises a holder's hours: draft -> validated -> closed."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=20, unique=True)
    holder: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="dossiers", on_delete=fields.RESTRICT
    )
    holder_id: int
    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="dossiers", on_delete=fields.RESTRICT
    )
    organisation_id: int
    establishment: fields.ForeignKeyNullableRelation[Establishment] = fields.ForeignKeyField(
        "models.Establishment", related_name="dossiers", null=True, on_delete=fields.RESTRICT
    )
    establishment_id: int | None
    training_title = fields.CharField(max_length=200, default="")
    provider_name = fields.CharField(max_length=200, default="")
    provider_siret = fields.CharField(max_length=14, default="")
    start_date = fields.DateField(null=True)
    end_date = fields.DateField(null=True)
    duration_minutes = fields.IntField(default=0)
    requested_minutes = fields.IntField(default=0)
    status = fields.CharEnumField(DossierStatus, max_length=12, default=DossierStatus.DRAFT)
    version = fields.IntField(default=1, description="Optimistic lock for draft edits")
    reserved_dif_minutes = fields.IntField(default=0)
    reserved_cpf_minutes = fields.IntField(default=0)
    done_minutes = fields.IntField(null=True)
    closure_reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    created_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="created_dossiers", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    validated_at = fields.DatetimeField(null=True)
    validated_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="validated_dossiers", null=True, on_delete=fields.SET_NULL
    )
    validated_by_id: int | None
    closed_at = fields.DatetimeField(null=True)
    closed_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="closed_dossiers", null=True, on_delete=fields.SET_NULL
    )
    closed_by_id: int | None

    events: fields.ReverseRelation[DossierEvent]

    class Meta:
        table = "dossier"
        # An organisation's files: the list (newest first) and the home queues (status, oldest first).
        indexes = (("status", "created_at"), ("holder_id", "status"), ("establishment_id", "status"),
                   ("organisation_id", "created_at", "id"), ("organisation_id", "status", "created_at"))
        constraints = [
            CheckConstraint(
                check=(
                    "duration_minutes >= 0 AND requested_minutes >= 0 AND reserved_dif_minutes >= 0"
                    " AND reserved_cpf_minutes >= 0 AND (done_minutes IS NULL OR done_minutes >= 0)"
                ),
                name="ck_dossier_hours_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status.value})"


class DossierEvent(Model):
    """One line of a training file's history: who did what, when."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    dossier: fields.ForeignKeyRelation[Dossier] = fields.ForeignKeyField(
        "models.Dossier", related_name="events", on_delete=fields.CASCADE
    )
    dossier_id: int
    at = fields.DatetimeField(auto_now_add=True)
    actor: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="dossier_events", null=True, on_delete=fields.SET_NULL
    )
    actor_id: int | None
    action = fields.CharField(max_length=40)
    details: fields.JSONField[Any] = fields.JSONField(default=dict)

    class Meta:
        table = "dossier_event"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on dossier {self.dossier_id}"
