"""Database rules Tortoise's initial CreateModel does not emit, written by hand.

- CHECK constraints declared in the models' Meta (CreateModel leaves them out of CREATE TABLE in
  Tortoise 1.1): added through the schema editor, which rebuilds the table on SQLite and uses
  ALTER TABLE on PostgreSQL (on SQLite the rebuild drops plain indexes, so they are created again).
- A partial unique index: at most one *active* principal administrator per organisation. Tortoise's
  schema editor refuses conditional unique constraints on SQLite, although SQLite (3.8+) and
  PostgreSQL both support exactly this statement.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import CheckConstraint

CHECKED_MODELS = ("Account", "Holder", "HoursMovement", "Dossier")


async def add_check_constraints(apps: Any, schema_editor: Any) -> None:
    for name in CHECKED_MODELS:
        model = apps.get_model("models", name)
        for constraint in model._meta.constraints:
            if isinstance(constraint, CheckConstraint):
                await schema_editor.add_constraint(model, constraint)
        if schema_editor.DIALECT == "sqlite":
            # Rebuilding the table drops its plain indexes: create them again.
            table_sql = schema_editor._get_model_sql_data(model).table_sql
            for statement in table_sql.split(";"):
                statement = statement.strip()
                if statement.startswith("CREATE INDEX"):
                    statement = statement.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
                    await schema_editor.client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [
        ops.RunPython(add_check_constraints, ops.RunPython.noop),
        ops.RunSQL(
            "CREATE UNIQUE INDEX uq_account_one_active_principal ON account (organisation_id) "
            "WHERE role = 'principal_admin' AND status = 'active'",
            reverse_sql="DROP INDEX uq_account_one_active_principal",
        ),
    ]
