"""Audit events carry their establishment: delegated administrators read only their establishment's.

The column is added, then filled for the events already written, with the rule `audit.record` applies
to new ones: the establishment of the target (an account, a file, or the establishment itself); for a
target outside any organisation (a holder, the journal) or no target, the actor's establishment when
the actor belongs to the event's organisation. Events about an organisation as a whole, and events
whose file was deleted since, keep no establishment (operators and administrators still read them).
These filled-in values predate the journal's key and are not covered by the chain (docs/security.md).
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

SCOPED_TARGETS = "('Account', 'Dossier', 'Establishment', 'Organisation', 'BulkImport')"

FILL = [
    "UPDATE audit_event SET establishment_id = (SELECT a.establishment_id FROM account a"
    " WHERE CAST(a.id AS TEXT) = audit_event.target_id) WHERE target_type = 'Account'",
    "UPDATE audit_event SET establishment_id = (SELECT d.establishment_id FROM dossier d"
    " WHERE CAST(d.id AS TEXT) = audit_event.target_id) WHERE target_type = 'Dossier'",
    "UPDATE audit_event SET establishment_id = (SELECT e.id FROM establishment e"
    " WHERE CAST(e.id AS TEXT) = audit_event.target_id) WHERE target_type = 'Establishment'",
    "UPDATE audit_event SET establishment_id = (SELECT a.establishment_id FROM account a"
    " WHERE a.id = audit_event.actor_id"
    " AND (audit_event.organisation_id IS NULL OR a.organisation_id = audit_event.organisation_id))"
    f" WHERE actor_id IS NOT NULL AND target_type NOT IN {SCOPED_TARGETS}",
]


class Migration(migrations.Migration):
    dependencies = [("models", "0003_holder_feed")]

    initial = False

    operations = [
        ops.AddField(
            model_name="AuditEvent",
            name="establishment_id",
            field=fields.IntField(null=True, db_index=True, description="Scope for delegated administrators"),
        ),
        *(ops.RunSQL(statement, reverse_sql=ops.RunSQL.noop) for statement in FILL),
    ]
