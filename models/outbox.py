"""E-mails waiting for delivery, written in the same transaction as the change that causes them."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import OutboxStatus


class OutboxEmail(Model):
    """A plain-text French e-mail whose body loses any secret once delivered."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=40)
    to_address = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    contains_secret = fields.BooleanField(default=False)
    account_id = fields.IntField(null=True, db_index=True)
    status = fields.CharEnumField(OutboxStatus, max_length=10, default=OutboxStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    claimed_by = fields.CharField(max_length=64, default="")
    claimed_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_email"
        ordering = ["id"]
        indexes = (("status", "next_attempt_at"),)

    def __str__(self) -> str:
        return f"mail {self.id} to {self.to_address} ({self.status.value})"
