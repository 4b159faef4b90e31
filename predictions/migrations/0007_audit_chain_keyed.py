"""The keyed audit chain (records from now on carry an HMAC under a key outside the database; those before
stay plain SHA-256, `keyed` false) and triggers refusing UPDATE and DELETE of audit rows on SQLite too
(PostgreSQL has had its own since 0002)."""

from django.db import migrations, models

from predictions.models.audit import SQLITE_DROP_TRIGGERS_SQL, SQLITE_TRIGGERS_SQL


def create_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_TRIGGERS_SQL:
            schema_editor.execute(sql, params=None)


def drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_DROP_TRIGGERS_SQL:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0006_prediction_heatmap_state_worker_heartbeat"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="keyed",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(create_sqlite_triggers, drop_sqlite_triggers),
    ]
