"""Holders (titulaires) and their hours ledger (compte d'heures), kept in minutes, never floats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from cpf_tui.hours import Balances
from models.enums import Bucket, MovementKind

if TYPE_CHECKING:
    from models.account import Account
    from models.dossier import Dossier


class Holder(Model):
    """A CPF account holder identified by its NIR, whose balance columns are a projection of the ledger."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    nir = fields.CharField(max_length=15, unique=True)
    nom_naissance = fields.CharField(max_length=100)
    nom_usage = fields.CharField(max_length=100, default="")
    prenoms = fields.CharField(max_length=200)
    date_naissance = fields.DateField()
    email = fields.CharField(max_length=254, default="")
    mobile = fields.CharField(max_length=32, default="")
    search_name = fields.CharField(max_length=100, description="Upper-case unaccented birth name")
    search_usage = fields.CharField(max_length=100, default="", description="Upper-case unaccented usage name")
    # Projection of the ledger (minutes), checked by `cpf-tui check`.
    cpf_acquired_minutes = fields.IntField(default=0)
    cpf_reserved_minutes = fields.IntField(default=0)
    cpf_consumed_minutes = fields.IntField(default=0)
    dif_total_minutes = fields.IntField(default=0)
    dif_reserved_minutes = fields.IntField(default=0)
    dif_consumed_minutes = fields.IntField(default=0)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)

    movements: fields.ReverseRelation[HoursMovement]
    dossiers: fields.ReverseRelation[Dossier]

    class Meta:
        table = "holder"
        # Date first: a search gives the exact date of birth and a name prefix (a range on the name).
        indexes = (("date_naissance", "search_name"), ("date_naissance", "search_usage"))
        constraints = [
            CheckConstraint(
                check=(
                    "cpf_acquired_minutes >= 0 AND cpf_reserved_minutes >= 0 AND cpf_consumed_minutes >= 0"
                    " AND dif_total_minutes >= 0 AND dif_reserved_minutes >= 0 AND dif_consumed_minutes >= 0"
                    " AND dif_total_minutes <= 7200"
                ),
                name="ck_holder_hours_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.nir})"

    @property
    def display_name(self) -> str:
        """First names and usage name (birth name when there is none), as screens and lists show them."""
        return f"{self.prenoms} {self.nom_usage or self.nom_naissance}"

    @property
    def balances(self) -> Balances:
        """The projection columns as the hours rules see them (`cpf_tui.hours`)."""
        return Balances(self.cpf_acquired_minutes, self.cpf_reserved_minutes, self.cpf_consumed_minutes,
                        self.dif_total_minutes, self.dif_reserved_minutes, self.dif_consumed_minutes)

    @property
    def cpf_available_minutes(self) -> int:
        return self.balances.cpf_available

    @property
    def dif_available_minutes(self) -> int:
        return self.balances.dif_available


class HoursMovement(Model):
    """One ledger movement: amounts are non-negative, the kind gives the direction."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    holder: fields.ForeignKeyRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="movements", on_delete=fields.RESTRICT
    )
    holder_id: int
    kind = fields.CharEnumField(MovementKind, max_length=20)
    bucket = fields.CharEnumField(Bucket, max_length=4)
    minutes = fields.IntField()
    previous_minutes = fields.IntField(null=True, description="DIF settings: total before the change")
    reference_year = fields.IntField(null=True, description="CPF acquisitions: year of work")
    work_ratio_percent = fields.IntField(null=True, description="CPF acquisitions: share of full time")
    dossier: fields.ForeignKeyNullableRelation[Dossier] = fields.ForeignKeyField(
        "models.Dossier", related_name="movements", null=True, on_delete=fields.RESTRICT
    )
    dossier_id: int | None
    author: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="movements", null=True, on_delete=fields.SET_NULL
    )
    author_id: int | None
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "hours_movement"
        ordering = ["created_at", "id"]
        indexes = (("holder_id", "created_at"),)
        # One CPF acquisition per holder and year of work (NULL years of other kinds never collide).
        unique_together = (("holder", "kind", "reference_year"),)
        constraints = [
            CheckConstraint(
                check="minutes >= 0 AND (previous_minutes IS NULL OR previous_minutes >= 0)",
                name="ck_movement_minutes_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind.value} {self.bucket.value} {self.minutes} min (holder {self.holder_id})"
