"""The append-only, hash-chained audit journal."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class AuditEvent(Model):
    """One audited fact (change or login attempt), chained by `event_hash` it to the previous event."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    seq = fields.IntField(unique=True)
    at = fields.DatetimeField()
    actor_id = fields.IntField(null=True, description="Account id, kept without a foreign key")
    actor_identifier = fields.CharField(max_length=32, default="")
    organisation_id = fields.IntField(null=True, db_index=True, description="Scope for administrators")
    establishment_id = fields.IntField(null=True, db_index=True, description="Scope for delegated administrators")
    action = fields.CharField(max_length=64, db_index=True)
    outcome = fields.CharField(max_length=32, default="ok")
    target_type = fields.CharField(max_length=32, default="")
    target_id = fields.CharField(max_length=64, default="")
    target_label = fields.CharField(max_length=200, default="")
    before: fields.JSONField[Any] = fields.JSONField(null=True)
    after: fields.JSONField[Any] = fields.JSONField(null=True)
    session_token = fields.CharField(max_length=64, default="")
    ssh_user = fields.CharField(max_length=100, default="")
    ssh_key_fingerprint = fields.CharField(max_length=128, default="")
    prev_hash = fields.CharField(max_length=64)
    event_hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_event"
        ordering = ["seq"]
        indexes = (("at",), ("target_type", "target_id"))

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_identifier or '-'}"
