"""Organisations (organismes) and their establishments (siège and établissements secondaires)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import StructureType


class Organisation(Model):
    """A partner organisation: 1 organisme = 1 SIRET = 1 administrateur principal."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    siret = fields.CharField(max_length=14, unique=True)
    siren = fields.CharField(max_length=9, db_index=True)
    raison_sociale = fields.CharField(max_length=200)
    address = fields.TextField(default="")
    contact_email = fields.CharField(max_length=254, default="")
    structure_type = fields.CharEnumField(StructureType, max_length=16, default=StructureType.UNIQUE)
    created_at = fields.DatetimeField(auto_now_add=True)

    establishments: fields.ReverseRelation[Establishment]

    class Meta:
        table = "organisation"
        ordering = ["siren", "siret"]

    def __str__(self) -> str:
        return f"{self.raison_sociale} ({self.siret})"


class Establishment(Model):
    """The head office or a secondary establishment of an organisation (same SIREN)."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="establishments", on_delete=fields.RESTRICT
    )
    organisation_id: int
    siret = fields.CharField(max_length=14, unique=True)
    name = fields.CharField(max_length=200)
    address = fields.TextField(default="")
    is_head_office = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "establishment"
        ordering = ["-is_head_office", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.siret})"
