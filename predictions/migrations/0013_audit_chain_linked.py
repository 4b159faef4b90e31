"""The linked audit chain: a record's hash is SHA-256 of the hash before it and a MAC of its fields under the
chain's key (models/audit.py: chain_link, chain_mac), so the database can link a record the app MACed; on
PostgreSQL one call of skinclinic_audit_append takes the chain's lock, reads the head and inserts the records
given (their fields and MACs, as a JSON array) linked in order: one statement, one round trip, all or none.
Records written before keep their formats (`linked` false)."""

from django.db import migrations, models

from predictions.models.audit import SQLITE_TRIGGERS_SQL

# The lock key is the one services.audit took before this function (0x5C1A0D17), so that processes of the old
# and the new version exclude each other while a deploy rolls out. The function only inserts: the triggers of
# 0002 still refuse UPDATE and DELETE of audit rows.
APPEND_FUNCTION_SQL = """
CREATE FUNCTION skinclinic_audit_append(
    p_entries jsonb, p_created_at timestamptz, p_ip_address inet, p_user_agent text
) RETURNS TABLE (event_id bigint, event_prev_hash text, event_hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head text;
    entry jsonb;
BEGIN
    -- Held to the end of the caller's transaction (this statement's own under autocommit): appends are
    -- serialised, so the chain never forks.
    PERFORM pg_advisory_xact_lock(1545211159);
    -- A statement of its own after the lock: a VOLATILE function takes a fresh snapshot for each statement it
    -- runs (READ COMMITTED, Django's default), so this one sees every record committed before the lock was
    -- granted, the last holder's included.
    SELECT a.hash INTO head FROM predictions_auditevent a ORDER BY a.id DESC LIMIT 1;
    head := coalesce(head, repeat('0', 64));
    FOR i IN 0 .. jsonb_array_length(p_entries) - 1 LOOP
        entry := p_entries -> i;
        event_prev_hash := head;
        event_hash := encode(sha256(convert_to(head || (entry ->> 'mac'), 'UTF8')), 'hex');
        INSERT INTO predictions_auditevent (
            clinic_id, actor_id, action, target_type, target_id, data, created_at, ip_address, user_agent,
            prev_hash, hash, keyed, linked
        ) VALUES (
            (entry ->> 'clinic_id')::bigint, (entry ->> 'actor_id')::integer, entry ->> 'action',
            entry ->> 'target_type', entry ->> 'target_id', entry -> 'data', p_created_at, p_ip_address,
            p_user_agent, event_prev_hash, event_hash, true, true
        ) RETURNING id INTO event_id;
        head := event_hash;
        RETURN NEXT;
    END LOOP;
END
$$;
"""
DROP_APPEND_FUNCTION_SQL = "DROP FUNCTION IF EXISTS skinclinic_audit_append(jsonb, timestamptz, inet, text)"


def create_append_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_FUNCTION_SQL, None)
    else:
        create_sqlite_triggers(apps, schema_editor)


def drop_append_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_APPEND_FUNCTION_SQL, None)


def create_sqlite_triggers(apps, schema_editor):
    """SQLite drops a table's triggers when a field change rebuilds it: put 0007's back (post_migrate would,
    but only after `manage.py migrate`, not after a migration run on its own)."""
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_TRIGGERS_SQL:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0012_prediction_clinic"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, create_sqlite_triggers),  # backwards: after RemoveField
        migrations.AddField(
            model_name="auditevent",
            name="linked",
            field=models.BooleanField(default=False, db_default=False, editable=False),
        ),
        migrations.RunPython(create_append_function, drop_append_function),
    ]
