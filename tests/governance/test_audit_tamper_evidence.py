"""Tampering by someone who can write to the database is detected by default (issue 13): records are keyed
with a secret outside the database, checkpoints of the head are kept outside it, audit_verify checks against
the latest, and the database itself refuses UPDATE and DELETE of audit rows."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from predictions.models import AuditEvent
from predictions.models.audit import GENESIS_HASH, audit_chain_keys, chain_hash, chain_hmac, chain_link, chain_mac
from predictions.services.audit import audit_record
from predictions.services.audit_checkpoints import audit_chain_verify, audit_checkpoint_latest

from .test_audit_trail import raw

pytestmark = pytest.mark.django_db


def records(staff, count: int = 3) -> list[AuditEvent]:
    return [
        audit_record(actor=staff.admin, clinic=staff.clinic, action=f"test.{n}", target=staff.clinic, data={"n": n})
        for n in range(count)
    ]


def chain() -> list[AuditEvent]:
    return list(AuditEvent.objects.order_by("id"))


def rehash_from(first_id: int, *, hasher, keyed: bool | None = None, linked: bool | None = None) -> None:
    """What a forger does after changing a record: recompute every hash from it to the end, relinking each.
    (Also how these tests make records of the older formats, with a hasher that has the key.)"""
    previous = None
    for event in chain():
        if event.pk < first_id:
            previous = event.hash
            continue
        if keyed is not None:
            event.keyed = keyed
        if linked is not None:
            event.linked = linked
        event.prev_hash = previous or GENESIS_HASH
        event.hash = hasher(event)
        raw(
            "UPDATE predictions_auditevent SET prev_hash = %s, hash = %s, keyed = %s, linked = %s WHERE id = %s",
            [event.prev_hash, event.hash, event.keyed, event.linked, event.pk],
        )
        previous = event.hash


def verify(**options) -> str:
    out = io.StringIO()
    call_command("audit_verify", stdout=out, stderr=out, **options)
    return out.getvalue()


def test_new_records_are_linked_by_a_mac_under_a_key_outside_the_database_not_a_plain_hash(staff, settings):
    settings.SKINCLINIC_AUDIT_CHAIN_KEY = "a key from the environment"
    first, second = records(staff, 2)
    stored = AuditEvent.objects.get(pk=second.pk)
    mac = chain_mac(stored, b"a key from the environment")
    assert stored.keyed and stored.linked
    assert stored.prev_hash == first.hash
    assert stored.hash == second.hash == chain_link(first.hash, mac) == stored.compute_hash()
    assert stored.hash not in (chain_hash(stored), chain_hmac(stored, b"a key from the environment"))
    assert not any(mac in str(row) for row in AuditEvent.objects.values())  # never stored


@pytest.mark.parametrize(
    "hasher",
    [
        chain_hash,
        lambda event: chain_hmac(event, b"a guessed key"),
        lambda event: chain_link(event.prev_hash, chain_mac(event, b"a guessed key")),
    ],
    ids=["plain-sha256", "wrong-key", "linked-wrong-key"],
)
def test_a_forger_without_the_key_who_rehashes_the_whole_tail_is_caught(staff, hasher):
    first, middle, last = records(staff)
    raw("UPDATE predictions_auditevent SET data = %s WHERE id = %s", ['{"n": 99}', middle.pk])
    rehash_from(middle.pk, hasher=hasher)
    report = audit_chain_verify()
    assert not report.intact
    assert {b.event_id for b in report.breaks} == {middle.pk, last.pk}
    assert all("under the chain's key" in b.problem for b in report.breaks)


def test_a_forger_who_marks_keyed_records_as_older_unkeyed_ones_is_caught(staff):
    first, middle, last = records(staff)
    raw("UPDATE predictions_auditevent SET data = %s WHERE id = %s", ['{"n": 99}', middle.pk])
    rehash_from(middle.pk, hasher=chain_hash, keyed=False, linked=False)
    assert [b.event_id for b in audit_chain_verify().breaks] == [middle.pk, last.pk]


def test_a_whole_chain_rebuilt_unkeyed_is_caught_by_the_checkpoint(staff):
    records(staff)
    call_command("audit_checkpoint", stdout=io.StringIO())
    first = chain()[0]
    raw("UPDATE predictions_auditevent SET action = 'test.forged' WHERE id = %s", [first.pk])
    rehash_from(first.pk, hasher=chain_hash, keyed=False, linked=False)
    assert audit_chain_verify().intact  # unanchored, a chain of unkeyed records looks like one from before keying
    with pytest.raises(CommandError, match="broken"):
        verify()


def test_records_cut_off_the_end_fail_verification_by_default(staff, checkpoint_path):
    *_, last = records(staff)
    call_command("audit_checkpoint", stdout=io.StringIO())
    raw("DELETE FROM predictions_auditevent WHERE id = %s", [last.pk])
    assert audit_chain_verify().intact  # what an unanchored check sees: a shorter, intact chain
    errors = io.StringIO()
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify", stdout=io.StringIO(), stderr=errors)
    assert "checkpointed record is gone" in errors.getvalue()


def test_verification_without_a_checkpoint_fails_unless_asked_for(staff):
    records(staff)
    with pytest.raises(CommandError, match="No checkpoint"):
        verify()
    assert "intact: 3 records (no checkpoint)" in verify(no_checkpoint=True)


def test_verification_covers_records_written_after_the_latest_checkpoint(staff):
    records(staff)
    call_command("audit_checkpoint", stdout=io.StringIO())
    later = records(staff, 2)
    assert "intact: 5 records up to the checkpoint" in verify()
    raw("UPDATE predictions_auditevent SET data = %s WHERE id = %s", ['{"n": 7}', later[0].pk])
    with pytest.raises(CommandError, match="broken: 1 problem"):
        verify()


def test_an_edited_checkpoint_is_refused(staff, checkpoint_path):
    records(staff)
    call_command("audit_checkpoint", stdout=io.StringIO())
    line = json.loads(checkpoint_path.read_text())
    line["count"] = 2  # to hide a deletion
    checkpoint_path.write_text(json.dumps(line) + "\n")
    with pytest.raises(CommandError, match="cannot be trusted"):
        verify()


def test_no_checkpoint_is_written_over_a_broken_chain(staff, checkpoint_path):
    _, middle, _ = records(staff)
    call_command("audit_checkpoint", stdout=io.StringIO())
    before = checkpoint_path.read_text()
    more = records(staff, 1)
    raw("UPDATE predictions_auditevent SET data = %s WHERE id = %s", ['{"n": 5}', more[0].pk])
    with pytest.raises(CommandError, match="not written: the audit chain is broken"):
        call_command("audit_checkpoint", stdout=io.StringIO())
    assert checkpoint_path.read_text() == before


def test_checkpoints_are_appended_with_the_head_and_count(staff, checkpoint_path):
    records(staff, 2)
    call_command("audit_checkpoint", stdout=io.StringIO())
    *_, last = records(staff, 2)
    call_command("audit_checkpoint", stdout=io.StringIO())
    assert len(checkpoint_path.read_text().splitlines()) == 2
    latest = audit_checkpoint_latest()
    assert (latest.last_id, latest.head, latest.count, latest.legacy_until) == (last.pk, last.hash, 4, 0)


def test_records_from_before_keying_still_verify_and_the_keyed_chain_continues_from_them(staff):
    legacy = records(staff, 2)
    rehash_from(legacy[0].pk, hasher=chain_hash, keyed=False, linked=False)  # as 0007 found earlier versions' records
    call_command("audit_checkpoint", stdout=io.StringIO())
    assert audit_checkpoint_latest().legacy_until == legacy[-1].pk
    [new] = records(staff, 1)
    assert new.keyed and new.linked and new.prev_hash == AuditEvent.objects.get(pk=legacy[-1].pk).hash
    assert "intact: 3 records" in verify()


def test_records_keep_verifying_after_the_key_is_rotated_with_the_old_one_kept_as_a_fallback(staff, settings):
    settings.SKINCLINIC_AUDIT_CHAIN_KEY = "the old key"
    records(staff, 2)
    settings.SKINCLINIC_AUDIT_CHAIN_KEY, settings.SKINCLINIC_AUDIT_CHAIN_KEY_FALLBACKS = "the new key", ["the old key"]
    records(staff, 1)
    assert audit_chain_verify().intact
    settings.SKINCLINIC_AUDIT_CHAIN_KEY_FALLBACKS = []
    assert len(audit_chain_verify().breaks) == 2


def test_the_default_key_is_derived_from_secret_key_and_not_secret_key_itself(staff, settings):
    [event] = records(staff, 1)
    assert event.hash != chain_link(event.prev_hash, chain_mac(event, settings.SECRET_KEY.encode()))
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a rotated secret key", [settings.SECRET_KEY]
    records(staff, 1)
    assert audit_chain_verify().intact


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE predictions_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM predictions_auditevent WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_change_or_delete_a_record(staff, sql):
    [event] = records(staff, 1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.0"


def test_the_sqlite_triggers_come_back_after_a_migration_rebuilt_the_table(staff):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps a table's triggers when it is altered")
    from django.apps import apps
    from django.db.models.signals import post_migrate

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER predictions_auditevent_no_update")
    post_migrate.send(
        sender=apps.get_app_config("predictions"),
        app_config=apps.get_app_config("predictions"),
        verbosity=0,
        interactive=False,
        using=connection.alias,
        apps=apps,
        plan=[],
    )
    [event] = records(staff, 1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE predictions_auditevent SET action = 'x' WHERE id = %s", [event.pk])


@pytest.mark.django_db(transaction=True)
def test_flush_still_empties_the_database_audit_trail_included(staff):
    records(staff, 1)
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()


def test_beat_writes_a_checkpoint_every_few_minutes(staff, checkpoint_path):
    from predictions.audit_tasks import audit_checkpoint_task
    from skinclinic.celery import app

    app.loader.import_default_modules()
    assert "predictions.audit_tasks.audit_checkpoint_task" in app.tasks
    [entry] = [
        e for e in app.conf.beat_schedule.values() if e["task"] == "predictions.audit_tasks.audit_checkpoint_task"
    ]
    assert 0 < entry["schedule"] <= 600
    records(staff, 2)
    assert audit_checkpoint_task.apply().get() == 2
    assert audit_checkpoint_latest().count == 2


def test_the_checkpoint_file_is_readable_by_its_owner_only(staff, checkpoint_path):
    records(staff, 1)
    call_command("audit_checkpoint", stdout=io.StringIO())
    assert checkpoint_path.stat().st_mode & 0o077 == 0


# --- Linked records (migration 0013): hash = SHA-256(prev_hash + MAC of the fields), the MAC never stored -----

LINKED_FIELD_CHANGES = {
    "action": "test.forged",
    "target_type": "predictions.patient",
    "target_id": "999",
    "data": '{"n": 99}',
    "created_at": "2020-01-01 00:00:00",
    "clinic_id": None,
    "actor_id": None,
    "ip_address": "192.0.2.99",
    "user_agent": "Forged/1.0",
    "prev_hash": "f" * 64,
}


@pytest.mark.parametrize("field", LINKED_FIELD_CHANGES)
def test_any_changed_field_of_a_linked_record_is_caught(staff, field):
    first, middle, last = records(staff)
    raw(f"UPDATE predictions_auditevent SET {field} = %s WHERE id = %s", [LINKED_FIELD_CHANGES[field], middle.pk])
    assert middle.pk in {b.event_id for b in audit_chain_verify().breaks}


def test_a_linked_records_stored_hash_changed_breaks_it_and_the_link_after_it(staff):
    first, middle, last = records(staff)
    raw("UPDATE predictions_auditevent SET hash = %s WHERE id = %s", ["e" * 64, middle.pk])
    assert [b.event_id for b in audit_chain_verify().breaks] == [middle.pk, last.pk]


def test_a_linked_record_deleted_from_the_middle_is_caught_even_when_the_next_one_is_relinked(staff):
    first, middle, last = records(staff)
    raw("DELETE FROM predictions_auditevent WHERE id = %s", [middle.pk])
    report = audit_chain_verify()
    assert [(b.event_id, "removed or inserted" in b.problem) for b in report.breaks] == [(last.pk, True)]
    # Relinking the next record needs its MAC, which is not stored: its hash no longer verifies.
    raw("UPDATE predictions_auditevent SET prev_hash = %s WHERE id = %s", [first.hash, last.pk])
    report = audit_chain_verify()
    assert [(b.event_id, "was changed" in b.problem) for b in report.breaks] == [(last.pk, True)]


def test_two_linked_records_swapped_are_caught(staff):
    first, middle, last = records(staff)
    content = ["action", "target_type", "target_id", "data", "created_at"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(content)}, prev_hash, hash FROM predictions_auditevent WHERE id IN (%s, %s)"
            " ORDER BY id",
            [first.pk, last.pk],
        )
        first_row, last_row = cursor.fetchall()

    def write(pk: int, columns: list[str], values) -> None:
        assignments = ", ".join(f"{column} = %s" for column in columns)
        raw(f"UPDATE predictions_auditevent SET {assignments} WHERE id = %s", [*values, pk])

    # What they say swapped, each keeping its place in the chain: neither hashes to its stored hash.
    write(first.pk, content, last_row[:5])
    write(last.pk, content, first_row[:5])
    assert {b.event_id for b in audit_chain_verify().breaks} == {first.pk, last.pk}
    # Whole records swapped (hashes included, so each verifies alone): the links break.
    links = ["prev_hash", "hash"]
    write(first.pk, links, ["1" * 64, "2" * 64])  # out of the way of the unique hashes
    write(last.pk, content + links, first_row)
    write(first.pk, content + links, last_row)
    report = audit_chain_verify()
    assert {b.event_id for b in report.breaks} == {first.pk, middle.pk, last.pk}
    assert all("removed or inserted" in b.problem for b in report.breaks)


@pytest.mark.parametrize(
    "flags", [(True, False), (False, True), (False, False)], ids=["linked-off", "keyed-off", "both-off"]
)
def test_a_linked_records_format_flags_flipped_are_caught(staff, flags):
    first, middle, last = records(staff)
    raw("UPDATE predictions_auditevent SET keyed = %s, linked = %s WHERE id = %s", [*flags, middle.pk])
    assert {b.event_id for b in audit_chain_verify().breaks} == {middle.pk}


def test_a_keyed_record_marked_linked_is_caught(staff):
    first, middle, last = records(staff)
    key = audit_chain_keys()[0]
    rehash_from(first.pk, hasher=lambda event: chain_hmac(event, key), keyed=True, linked=False)
    assert audit_chain_verify().intact
    raw("UPDATE predictions_auditevent SET linked = %s WHERE id = %s", [True, middle.pk])
    assert [b.event_id for b in audit_chain_verify().breaks] == [middle.pk]


@pytest.mark.parametrize("mac", ["guessed", "a stored hash"])
def test_a_forged_linked_record_is_caught_and_so_is_the_chain_that_grew_on_it(staff, mac):
    first, middle, last = records(staff)
    forged = AuditEvent(
        action="test.forged", target_type="x", target_id="1", data={}, user_agent="", prev_hash=last.hash
    )
    forged.created_at = last.created_at
    # Without the key a forger can only guess a MAC, or try one of the values the database holds.
    forged_mac = chain_mac(forged, b"a guessed key") if mac == "guessed" else first.hash
    raw(
        "INSERT INTO predictions_auditevent (action, target_type, target_id, data, created_at, user_agent, prev_hash,"
        " hash, keyed, linked) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            "test.forged",
            "x",
            "1",
            "{}",
            "2026-01-01 00:00:00",
            "",
            last.hash,
            chain_link(last.hash, forged_mac),
            True,
            True,
        ],
    )
    forged_id = chain()[-1].pk
    [after] = records(staff, 1)  # the next append links to the forged head, but cannot make it verify
    assert after.prev_hash == chain()[-2].hash
    assert [b.event_id for b in audit_chain_verify().breaks] == [forged_id]


def test_a_chain_of_unkeyed_keyed_and_linked_records_verifies(staff):
    unkeyed = records(staff, 2)
    rehash_from(unkeyed[0].pk, hasher=chain_hash, keyed=False, linked=False)  # as 0007 found earlier versions'
    keyed = records(staff, 2)
    key = audit_chain_keys()[0]
    rehash_from(keyed[0].pk, hasher=lambda event: chain_hmac(event, key), keyed=True, linked=False)  # as 0007 wrote
    linked = records(staff, 2)
    stored = chain()
    assert [(e.keyed, e.linked) for e in stored] == [(False, False)] * 2 + [(True, False)] * 2 + [(True, True)] * 2
    assert linked[0].prev_hash == stored[3].hash
    report = audit_chain_verify()
    assert report.intact and report.checked == 6 and report.legacy_until == unkeyed[-1].pk
    call_command("audit_checkpoint", stdout=io.StringIO())
    assert "intact: 6 records" in verify()


@pytest.mark.parametrize("position", range(6))
def test_a_changed_record_of_any_format_in_a_mixed_chain_is_caught(staff, position):
    unkeyed = records(staff, 2)
    rehash_from(unkeyed[0].pk, hasher=chain_hash, keyed=False, linked=False)
    keyed = records(staff, 2)
    key = audit_chain_keys()[0]
    rehash_from(keyed[0].pk, hasher=lambda event: chain_hmac(event, key), keyed=True, linked=False)
    records(staff, 2)
    target = chain()[position]
    raw("UPDATE predictions_auditevent SET data = %s WHERE id = %s", ['{"n": 99}', target.pk])
    assert [b.event_id for b in audit_chain_verify().breaks] == [target.pk]
