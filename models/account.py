"""Accounts (operators, administrators, gestionnaires), their passwords, CGU and open sessions."""

from __future__ import annotations

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from models.enums import AccountStatus, Profile, Role
from models.organisation import Establishment, Organisation


class Account(Model):
    """A person who logs in, never deleted (deactivation is a soft delete, identifiers never reused)."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    identifier = fields.CharField(max_length=16, unique=True)
    role = fields.CharEnumField(Role, max_length=20)
    profile = fields.CharEnumField(Profile, max_length=16, default=Profile.CONSULTATION)
    status = fields.CharEnumField(AccountStatus, max_length=12, default=AccountStatus.ACTIVE)
    organisation: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="accounts", null=True, on_delete=fields.RESTRICT
    )
    organisation_id: int | None
    establishment: fields.ForeignKeyNullableRelation[Establishment] = fields.ForeignKeyField(
        "models.Establishment", related_name="accounts", null=True, on_delete=fields.RESTRICT
    )
    establishment_id: int | None
    nom = fields.CharField(max_length=100)
    prenom = fields.CharField(max_length=100)
    email = fields.CharField(max_length=254, db_index=True)
    phone = fields.CharField(max_length=32, default="")
    service = fields.CharField(max_length=200, default="")
    search_text = fields.CharField(max_length=600, default="", description="Lower-case unaccented search key")

    password_hash = fields.CharField(max_length=255)
    password_is_temporary = fields.BooleanField(default=True)
    temp_password_expires_at = fields.DatetimeField(null=True)
    password_changed_at = fields.DatetimeField(null=True)
    cgu_version_accepted = fields.IntField(null=True)
    cgu_accepted_at = fields.DatetimeField(null=True)
    failed_attempts = fields.IntField(default=0)
    last_failed_at = fields.DatetimeField(null=True)
    locked_at = fields.DatetimeField(null=True)
    last_login_at = fields.DatetimeField(null=True)
    credentials_epoch = fields.IntField(default=0, description="Bumped to end open sessions")
    version = fields.IntField(default=1, description="Optimistic lock for record edits")

    created_at = fields.DatetimeField(auto_now_add=True)
    created_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="created_accounts", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    deactivated_at = fields.DatetimeField(null=True)
    deactivated_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="deactivated_accounts", null=True, on_delete=fields.SET_NULL
    )
    deactivated_by_id: int | None

    class Meta:
        table = "account"
        # The first index serves the user tree (counts per node, pages ordered by name), the second
        # search-as-you-type within an organisation (ordered by the search key, stops at the first page).
        indexes = (
            ("organisation_id", "establishment_id", "role", "status", "nom", "prenom"),
            ("organisation_id", "search_text"),
        )
        constraints = [
            CheckConstraint(check="failed_attempts >= 0", name="ck_account_failed_attempts"),
        ]

    def __str__(self) -> str:
        return f"{self.prenom} {self.nom} ({self.identifier})"

    @property
    def full_name(self) -> str:
        return f"{self.prenom} {self.nom}"

    @property
    def is_active(self) -> bool:
        return self.status == AccountStatus.ACTIVE


class PasswordHistory(Model):
    """Previous password hashes, so that the last five cannot be chosen again."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="password_history", on_delete=fields.CASCADE
    )
    account_id: int
    password_hash = fields.CharField(max_length=255)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "password_history"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"password of {self.account_id} at {self.created_at}"


class CguVersion(Model):
    """A published version of the Conditions générales d'utilisation."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    version = fields.IntField(unique=True)
    text = fields.TextField()
    published_at = fields.DatetimeField(auto_now_add=True)
    published_by = fields.CharField(max_length=100, default="")

    class Meta:
        table = "cgu_version"
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"CGU v{self.version}"


class CguAcceptance(Model):
    """A user's acceptance of one CGU version (version and time recorded)."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="cgu_acceptances", on_delete=fields.CASCADE
    )
    account_id: int
    version = fields.IntField()
    accepted_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "cgu_acceptance"
        unique_together = (("account_id", "version"),)

    def __str__(self) -> str:
        return f"{self.account_id} accepted CGU v{self.version}"


class AppSession(Model):
    """An open (or ended) application session: who, since when, from which terminal or SSH peer."""

    _no_comments = True  # see models/__init__.py

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="sessions", on_delete=fields.CASCADE
    )
    account_id: int
    credentials_epoch = fields.IntField(default=0)
    started_at = fields.DatetimeField()
    last_activity_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True, description="Hard end of the session, session_max_hours after its start")
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharField(max_length=64, default="")
    terminal = fields.CharField(max_length=200, default="")
    ssh_user = fields.CharField(max_length=100, default="")
    ssh_key_fingerprint = fields.CharField(max_length=128, default="")
    peer = fields.CharField(max_length=100, default="")
    pid = fields.IntField(null=True)

    class Meta:
        table = "app_session"
        indexes = (("account_id", "ended_at"),)

    def __str__(self) -> str:
        return f"session {self.token[:8]} of {self.account_id}"
