"""On PostgreSQL the audit chain is appended by migration 0013's function, one statement per call: the hash it
stores is the one Python computes, a read's record is one statement committed before it returns, and appends
from many connections at once, in transactions or not, leave one chain that never forks."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from predictions.models import AuditEvent
from predictions.models.audit import AuditAction, audit_chain_keys, chain_link, chain_mac
from predictions.services.audit import (
    audit_access_record,
    audit_context,
    audit_list_access_record,
    audit_record,
)
from predictions.services.audit_checkpoints import audit_chain_verify

pytestmark = pytest.mark.integration


class Background:
    """`function` run on a thread of its own, so on a database connection of its own."""

    def __init__(self, function):
        self.outcome: dict = {}

        def run():
            try:
                self.outcome["value"] = function()
            except BaseException as exc:  # re-raised by result()
                self.outcome["error"] = exc
            finally:
                connection.close()

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def result(self):
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]


@pytest.mark.parametrize(
    ("ip_address", "user_agent", "data"),
    [
        ("203.0.113.7", "TestBrowser/1.0", {"n": 1}),
        ("2001:DB8:0:0:0:0:0:1", "Navigateur/2.0 (é, ü, 漢字)", {"risk": 0.1, "whole": 2.0, "big": 1e20}),
        ("::ffff:192.0.2.1", "", {"nested": {"b": [1, 2.5, None, True], "a": "ñ"}, "text": "line\nbreak"}),
        (None, "", {}),
    ],
    ids=["ipv4", "ipv6-unicode-floats", "ipv4-mapped-nested", "empty"],
)
def test_the_database_stores_the_hash_python_computes_for_the_record_it_stores(
    real_services, staff, ip_address, user_agent, data
):
    with audit_context(ip_address=ip_address, user_agent=user_agent):
        first = audit_record(actor=staff.admin, clinic=staff.clinic, action="test.first", target=staff.clinic)
        second = audit_record(actor=None, clinic=None, action="test.second", target_type="page", target_id="")
        third = audit_access_record(
            actor=staff.clinician,
            clinic_id=staff.clinic.pk,
            action=AuditAction.PATIENT_VIEW,
            target=staff.patient,
            via="api",
            data=data,
        )
    key = audit_chain_keys()[0]
    for returned in (first, second, third):
        stored = AuditEvent.objects.get(pk=returned.pk)
        assert stored.keyed and stored.linked
        assert (stored.prev_hash, stored.hash) == (returned.prev_hash, returned.hash)
        assert stored.hash == chain_link(stored.prev_hash, chain_mac(stored, key)) == returned.compute_hash()
    assert [second.prev_hash, third.prev_hash] == [first.hash, second.hash]
    with connection.cursor() as cursor:  # the SQL that links, on its own
        cursor.execute("SELECT encode(sha256(convert_to(%s || %s, 'UTF8')), 'hex')", [first.hash, "ab" * 32])
        assert cursor.fetchone()[0] == chain_link(first.hash, "ab" * 32)
    assert audit_chain_verify().intact


def test_a_read_is_recorded_in_one_statement_committed_before_it_returns(real_services, staff):
    assert connection.get_autocommit()  # as an API read runs: no transaction around it
    with CaptureQueriesContext(connection) as queries:
        event = audit_access_record(
            actor=staff.clinician, clinic=staff.clinic, action=AuditAction.PATIENT_VIEW, target=staff.patient, via="api"
        )
    # One statement and nothing else: no BEGIN or COMMIT either (Django lists those it sends as queries too);
    # in autocommit the statement commits itself.
    assert len(queries.captured_queries) == 1, queries.captured_queries
    assert "skinclinic_audit_append" in queries.captured_queries[0]["sql"]
    # Already committed: another connection sees it.
    assert Background(lambda: AuditEvent.objects.filter(pk=event.pk, hash=event.hash).exists()).result()


def test_a_list_page_across_clinics_is_one_statement_too_in_order(real_services, staff):
    other_patient = type(staff.patient).objects.create(
        clinic=staff.other_clinic, mrn="O-1", full_name="Other Clinic", created_by=staff.outsider
    )
    with CaptureQueriesContext(connection) as queries:
        events = audit_list_access_record(
            actor=staff.admin,
            action=AuditAction.PATIENT_LIST,
            target_type="predictions.patient",
            shown=[(staff.other_clinic.pk, other_patient), (staff.clinic.pk, staff.patient)],
            via="api",
        )
    assert len(queries.captured_queries) == 1
    assert [e.clinic_id for e in events] == sorted([staff.clinic.pk, staff.other_clinic.pk])
    assert events[1].prev_hash == events[0].hash and events[0].pk < events[1].pk
    assert audit_chain_verify().intact


def test_an_append_waiting_for_the_lock_links_to_the_record_its_holder_committed(real_services, staff):
    """The function reads the head after the lock, in a statement of its own: its snapshot is newer than the
    commit of the transaction it waited for (a head read in the calling statement's snapshot would fork)."""
    appended, release = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():
            event = audit_record(actor=staff.admin, clinic=staff.clinic, action="test.holder", target=staff.clinic)
            appended.set()
            assert release.wait(30)
        return event

    def waiter():
        assert appended.wait(30)
        return audit_access_record(
            actor=staff.clinician, clinic=staff.clinic, action=AuditAction.PATIENT_VIEW, target=staff.patient, via="api"
        )

    holding, waiting = Background(holder), Background(waiter)
    try:
        deadline = time.monotonic() + 30
        with connection.cursor() as cursor:
            while True:  # until the waiter's statement has begun and waits for the chain's lock
                cursor.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    " WHERE l.locktype = 'advisory' AND l.objid = %s AND NOT l.granted"
                    " AND d.datname = current_database()",
                    [0x5C1A0D17],  # the chain's lock key (migration 0013)
                )
                if cursor.fetchone()[0] == 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        assert time.monotonic() <= deadline, "the second append never waited for the lock"
    finally:
        release.set()
    assert waiting.result().prev_hash == holding.result().hash
    assert audit_chain_verify().intact


def test_concurrent_appends_from_many_connections_leave_one_chain_that_verifies(real_services, staff):
    threads_count, appends = 4, 25
    start = threading.Barrier(threads_count)
    returned: list[list[AuditEvent]] = [[] for _ in range(threads_count)]
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            start.wait(30)
            for n in range(appends):
                if worker == 0:  # reads, in autocommit
                    events = [
                        audit_access_record(
                            actor=staff.clinician,
                            clinic=staff.clinic,
                            action=AuditAction.PATIENT_VIEW,
                            target=staff.patient,
                            via="api",
                            data={"n": n},
                        )
                    ]
                elif worker == 1:  # actions, each in its transaction, holding the lock a moment
                    with transaction.atomic():
                        events = [
                            audit_record(
                                actor=staff.admin,
                                clinic=staff.clinic,
                                action="test.write",
                                data={"n": n},
                                target=staff.clinic,
                            )
                        ]
                        time.sleep(0.002)
                elif worker == 2:  # two records of one page, in autocommit
                    events = audit_list_access_record(
                        actor=staff.admin,
                        action=AuditAction.PATIENT_LIST,
                        target_type="predictions.patient",
                        shown=[(staff.clinic.pk, staff.patient), (staff.other_clinic.pk, staff.clinic)],
                        via="api",
                    )
                else:  # two records in a transaction, one call each
                    with transaction.atomic():
                        events = [
                            audit_record(actor=None, clinic=None, action=f"test.batch.{i}", target=staff.clinic)
                            for i in range(2)
                        ]
                returned[worker].extend(events)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads_count)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(120)
    assert not errors, errors
    written = [e for events in returned for e in events]
    assert len(written) == appends * 6
    stored = list(AuditEvent.objects.order_by("id"))
    assert len(stored) == len(written)
    assert {(e.pk, e.prev_hash, e.hash) for e in stored} == {(e.pk, e.prev_hash, e.hash) for e in written}
    assert len({e.prev_hash for e in stored}) == len(stored)  # no two records link to the same one: no fork
    report = audit_chain_verify()
    assert report.intact and report.checked == len(stored), report.breaks[:3]
