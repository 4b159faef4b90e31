"""The audit trail: a chained, append-only record of each action (who, what, when, from where), with a
verification that finds any record changed, removed or inserted behind the app's back."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse

from predictions.models import AuditEvent
from predictions.models.audit import GENESIS_HASH, AuditAppendOnlyError, audit_guard_suspended
from predictions.services import lesion_create, patient_create, review_create
from predictions.services.audit import audit_context, audit_record
from predictions.services.audit_checkpoints import audit_chain_verify

from .helpers import finished_prediction

pytestmark = pytest.mark.django_db


def chain() -> list[AuditEvent]:
    return list(AuditEvent.objects.order_by("id"))


def raw(sql: str, params=()) -> None:
    """Write to the table as someone with database access would: past the app, and past the triggers (which the
    database's owner can drop)."""
    with connection.cursor() as cursor, audit_guard_suspended():
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")  # superuser: triggers off
        cursor.execute(sql, params)


def test_each_action_writes_one_record_linked_to_the_one_before(staff):
    patient = patient_create(actor=staff.clinician, clinic=staff.clinic, mrn="A-1", full_name="Ann Example")
    lesion_create(actor=staff.clinician, patient=patient, site="back")
    prediction = finished_prediction(lesion=staff.lesion, probabilities={"mel": 0.9})
    review_create(actor=staff.reviewer, image=prediction.image, verdict="agree", prediction=prediction)

    events = chain()
    actions = [e.action for e in events]
    for expected in [
        "patient.create",
        "lesion.create",
        "prediction.succeeded",
        "review_case.open",
        "review.create",
        "review_case.close",
    ]:
        assert expected in actions
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in zip(events, events[1:]):
        assert after.prev_hash == before.hash
    assert all(e.hash == e.compute_hash() for e in events)
    patient_event = next(e for e in events if e.action == "patient.create")
    assert (patient_event.actor, patient_event.clinic, patient_event.target_id) == (
        staff.clinician,
        staff.clinic,
        str(patient.pk),
    )
    assert audit_chain_verify().intact and audit_chain_verify().checked == len(events)


def test_records_cannot_be_changed_or_deleted_through_the_app(staff):
    event = audit_record(actor=staff.admin, clinic=staff.clinic, action="test.action", target=staff.clinic)
    event.action = "something.else"
    with pytest.raises(AuditAppendOnlyError):
        event.save()
    with pytest.raises(AuditAppendOnlyError):
        event.delete()
    with pytest.raises(AuditAppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="something.else")
    with pytest.raises(AuditAppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditAppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(action="forged", target_type="x", target_id="1")])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.action"
    assert audit_chain_verify().intact


def test_the_database_refuses_updates_and_deletes_of_records_in_sql(staff):
    from django.db import DatabaseError

    event = audit_record(actor=staff.admin, clinic=staff.clinic, action="test.action", target=staff.clinic)
    for sql in (
        "UPDATE predictions_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM predictions_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.action"


def _three_records(staff):
    return [
        audit_record(
            actor=staff.admin,
            clinic=staff.clinic,
            action=f"test.{n}",
            target=staff.clinic,
            data={"n": n, "risk": 0.5, "whole": 2.0},
        )
        for n in range(3)
    ]


def test_verification_finds_a_record_whose_fields_were_changed(staff):
    first, middle, last = _three_records(staff)
    raw(
        "UPDATE predictions_auditevent SET data = %s WHERE id = %s", ['{"n": 99, "risk": 0.5, "whole": 2.0}', middle.pk]
    )

    report = audit_chain_verify()
    assert not report.intact
    assert [(b.event_id, "changed" in b.problem) for b in report.breaks] == [(middle.pk, True)]

    errors = io.StringIO()
    with pytest.raises(CommandError, match="broken: 1 problem"):
        call_command("audit_verify", no_checkpoint=True, stderr=errors)
    assert f"audit record {middle.pk}: its fields do not hash" in errors.getvalue()


def test_verification_finds_a_removed_record(staff):
    first, middle, last = _three_records(staff)
    raw("DELETE FROM predictions_auditevent WHERE id = %s", [middle.pk])
    report = audit_chain_verify()
    assert [(b.event_id, "removed or inserted" in b.problem) for b in report.breaks] == [(last.pk, True)]


def test_a_forger_who_rehashes_a_changed_record_still_breaks_the_link_after_it(staff):
    first, middle, last = _three_records(staff)
    raw("UPDATE predictions_auditevent SET actor_id = NULL WHERE id = %s", [first.pk])
    forged = AuditEvent.objects.get(pk=first.pk)
    raw("UPDATE predictions_auditevent SET hash = %s WHERE id = %s", [forged.compute_hash(), first.pk])
    assert [b.event_id for b in audit_chain_verify().breaks] == [middle.pk]


def test_the_verify_command_passes_an_intact_chain_and_checks_its_head(staff):
    *_, last = _three_records(staff)
    call_command("audit_checkpoint", stdout=io.StringIO())
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "intact: 3 records" in out.getvalue() and last.hash in out.getvalue()
    call_command("audit_verify", expect_head=last.hash, stdout=io.StringIO())
    with pytest.raises(CommandError, match="cut off"):
        call_command("audit_verify", expect_head="f" * 64, stdout=io.StringIO())


def test_records_written_during_a_request_say_where_it_came_from(staff, client):
    prediction = finished_prediction(lesion=staff.lesion, probabilities={"nv": 0.95})
    client.force_login(staff.clinician)
    response = client.get(
        reverse("predictions:lesion-image-file", args=[prediction.image_id]),
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="TestBrowser/1.0",
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="image.download")
    assert (event.actor, event.clinic, event.target_id) == (staff.clinician, staff.clinic, str(prediction.image_id))
    assert (event.ip_address, event.user_agent) == ("203.0.113.7", "TestBrowser/1.0")
    assert event.hash == event.compute_hash()


def test_forwarded_for_is_believed_only_when_configured(staff, client, settings):
    prediction = finished_prediction(lesion=staff.lesion, probabilities={"nv": 0.95})
    prediction.heatmap.save("heatmap.png", ContentFile(b"\x89PNG heat"), save=True)  # a 404 records nothing
    client.force_login(staff.clinician)
    url = reverse("predictions:prediction-heatmap", args=[prediction.pk])
    client.get(url, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9, 10.0.0.1")
    settings.SKINCLINIC_AUDIT_TRUST_X_FORWARDED_FOR = True
    client.get(url, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9, 10.0.0.1")
    ips = list(AuditEvent.objects.filter(action="heatmap.download").order_by("id").values_list("ip_address", flat=True))
    assert ips == ["10.0.0.2", "198.51.100.9"]


def test_another_clinics_user_downloads_nothing_and_leaves_no_download_record(staff, client):
    prediction = finished_prediction(lesion=staff.lesion, probabilities={"nv": 0.95})
    client.force_login(staff.outsider)
    assert client.get(reverse("predictions:lesion-image-file", args=[prediction.image_id])).status_code == 404
    assert not AuditEvent.objects.filter(action="image.download").exists()


def test_a_record_written_in_a_failed_action_rolls_back_with_it(staff):
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=staff.admin, clinic=staff.clinic, action="test.rolled_back", target=staff.clinic)
        raise RuntimeError("the action failed")
    assert AuditEvent.objects.count() == before
    audit_record(actor=staff.admin, clinic=staff.clinic, action="test.after", target=staff.clinic)
    assert audit_chain_verify().intact


def test_audit_context_outside_a_request_is_the_system(staff):
    with audit_context(ip_address="192.0.2.1", user_agent="cron"):
        inside = audit_record(actor=None, clinic=None, action="test.inside", target=staff.clinic)
    outside = audit_record(actor=None, clinic=None, action="test.outside", target=staff.clinic)
    assert (inside.ip_address, inside.user_agent) == ("192.0.2.1", "cron")
    assert (outside.ip_address, outside.user_agent) == (None, "")


def test_reviewers_and_admins_browse_their_clinics_trail_filtered(staff):
    from django.core.exceptions import PermissionDenied

    from predictions.governance.filters import AuditEventFilter
    from predictions.selectors import audit_event_browse

    def browse(user, **query):
        return AuditEventFilter(query, queryset=audit_event_browse(user=user, clinic=staff.clinic)).qs

    patient = patient_create(actor=staff.clinician, clinic=staff.clinic, mrn="B-1", full_name="Bea Example")
    patient_create(actor=staff.outsider, clinic=staff.other_clinic, mrn="B-1", full_name="Other Clinic")
    for role in ("reviewer", "admin"):
        found = browse(staff.role(role), action="patient.")
        assert [(e.action, e.target_id) for e in found] == [("patient.create", str(patient.pk))]
    assert not browse(staff.admin, actor=staff.reviewer.pk).exists()
    with pytest.raises(PermissionDenied):
        audit_event_browse(user=staff.clinician, clinic=staff.clinic)
    with pytest.raises(PermissionDenied):
        audit_event_browse(user=staff.outsider, clinic=staff.clinic)
