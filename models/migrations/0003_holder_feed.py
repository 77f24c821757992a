"""Holder and hours feeds: one CPF acquisition per holder and year of work, enforced by the database.

A unique constraint on (holder_id, kind, reference_year): only CPF acquisitions carry a year, the other
movements have a NULL year, which never collides (SQLite and PostgreSQL both treat NULLs as distinct).
It is a unique index on SQLite, a table constraint on PostgreSQL.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    dependencies = [("models", "0002_one_active_principal_admin")]

    initial = False

    operations = [
        ops.AddConstraint(
            model_name="HoursMovement",
            constraint=UniqueConstraint(fields=("holder", "kind", "reference_year"), name=None),
        ),
    ]
