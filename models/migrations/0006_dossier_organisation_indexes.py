"""An organisation's files found by index: the files list and the home queues.

Every gestionnaire's files list reads `WHERE organisation_id = ? ORDER BY created_at DESC, id DESC
LIMIT 51` and counts the organisation's files; the home queues count and list its drafts and validated
files by status, oldest first. No index began with `organisation_id`: with 200,000 files (bench/load.py's
national data set) each of these statements read the whole table, 35–70 ms of PostgreSQL's time, five
of them at every return to the home screen (docs/benchmarks.md). Both indexes are built at migration time.
"""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_holder_fillfactor")]

    initial = False

    operations = [
        ops.AddIndex(model_name="Dossier", index=Index(fields=["organisation_id", "created_at", "id"])),
        ops.AddIndex(model_name="Dossier", index=Index(fields=["organisation_id", "status", "created_at"])),
    ]
