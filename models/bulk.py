"""Records of bulk-habilitation imports ("Habilitation en masse" workbooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from models.enums import ImportStatus

if TYPE_CHECKING:
    from models.account import Account
    from models.organisation import Organisation


class BulkImport(Model):
    """One imported workbook, identified by its content hash so it cannot create accounts twice."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="bulk_imports", on_delete=fields.RESTRICT
    )
    organisation_id: int
    file_sha256 = fields.CharField(max_length=64, unique=True)
    filename = fields.CharField(max_length=255)
    status = fields.CharEnumField(ImportStatus, max_length=10, default=ImportStatus.IMPORTED)
    row_count = fields.IntField(default=0)
    created_count = fields.IntField(default=0)
    result_path = fields.TextField(default="")
    imported_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="bulk_imports", null=True, on_delete=fields.SET_NULL
    )
    imported_by_id: int | None
    imported_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "bulk_import"

    def __str__(self) -> str:
        return f"import {self.filename} ({self.file_sha256[:12]})"
