"""Migration 0013 (the linked chain): keyed records written before it keep verifying, the first record after
it links to the last of them, and on PostgreSQL it creates the append function (and its reverse drops it)."""

import io

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from predictions.models import AuditEvent
from predictions.models.audit import GENESIS_HASH, audit_chain_keys, chain_hmac
from predictions.services.audit import audit_record
from predictions.services.audit_checkpoints import audit_chain_verify

BEFORE = [("predictions", "0012_prediction_clinic")]


def append_function_exists() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('skinclinic_audit_append(jsonb, timestamptz, inet, text)')")
        return cursor.fetchone()[0] is not None


@pytest.mark.django_db(transaction=True)
def test_keyed_records_from_before_0013_verify_and_the_first_linked_record_continues_from_them(staff):
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    try:
        assert not append_function_exists()
        OldEvent = executor.loader.project_state(BEFORE).apps.get_model("predictions", "AuditEvent")
        key, previous = audit_chain_keys()[0], GENESIS_HASH
        for n in range(2):  # as the app before 0013 wrote them: HMAC of prev_hash and the fields
            event = OldEvent(
                clinic_id=staff.clinic.pk,
                actor_id=staff.admin.pk,
                action=f"test.before.{n}",
                target_type="predictions.clinic",
                target_id=str(staff.clinic.pk),
                data={"n": n, "risk": 0.5},
                created_at=timezone.now(),
                ip_address="203.0.113.7",
                user_agent="Old/1.0",
                prev_hash=previous,
                keyed=True,
            )
            event.hash = previous = chain_hmac(event, key)
            event.save()
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
        assert append_function_exists() == (connection.vendor == "postgresql")
        new = audit_record(actor=staff.admin, clinic=staff.clinic, action="test.after", target=staff.clinic)
        stored = list(AuditEvent.objects.order_by("id"))
        assert [(e.keyed, e.linked) for e in stored] == [(True, False), (True, False), (True, True)]
        assert new.prev_hash == stored[1].hash == previous
        assert audit_chain_verify().intact
        call_command("audit_checkpoint", stdout=io.StringIO())
        out = io.StringIO()
        call_command("audit_verify", stdout=out)
        assert "intact: 3 records" in out.getvalue()
        # The triggers refusing UPDATE and DELETE still stand after the table was altered.
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("UPDATE predictions_auditevent SET action = 'x' WHERE id = %s", [new.pk])
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_a_record_inserted_by_the_version_before_0013_during_a_deploy_is_a_keyed_record_that_verifies(staff):
    before = audit_record(actor=staff.admin, clinic=staff.clinic, action="test.new", target=staff.clinic)
    old = AuditEvent(
        action="test.old_process",
        target_type="predictions.clinic",
        target_id=str(staff.clinic.pk),
        data={"n": 1},
        created_at=timezone.now(),
        user_agent="",
        prev_hash=before.hash,
        keyed=True,
    )
    old.hash = chain_hmac(old, audit_chain_keys()[0])
    with connection.cursor() as cursor:  # the previous version's insert, which does not name `linked`
        cursor.execute(
            "INSERT INTO predictions_auditevent (action, target_type, target_id, data, created_at, user_agent,"
            " prev_hash, hash, keyed) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [old.action, old.target_type, old.target_id, '{"n": 1}', old.created_at, "", old.prev_hash, old.hash, True],
        )
    after = audit_record(actor=staff.admin, clinic=staff.clinic, action="test.new", target=staff.clinic)
    stored = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.linked) for e in stored] == [
        ("test.new", True),
        ("test.old_process", False),
        ("test.new", True),
    ]
    assert after.prev_hash == old.hash
    assert audit_chain_verify().intact
