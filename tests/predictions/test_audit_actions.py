"""The audit trail's vocabulary is one enum (models.audit.AuditAction), and webhook events are emitted by the
services that record their actions, in the same transaction, not derived from whatever writes an audit record."""

import re

from predictions.models import AuditAction, WebhookDelivery, WebhookEndpoint, WebhookEvent
from predictions.models.webhooks import AUDIT_ACTION_EVENTS
from predictions.services import review_create
from predictions.services.audit import audit_record
from tests.predictions.factories import LesionImageFactory, PredictionFactory


def test_every_action_is_named_entity_dot_verb_once():
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", value) for value in AuditAction.values)
    assert len(set(AuditAction.values)) == len(AuditAction.values)


def test_each_webhook_event_stands_for_an_audit_action():
    assert all(isinstance(action, AuditAction) for action in AUDIT_ACTION_EVENTS)
    assert set(AUDIT_ACTION_EVENTS.values()) == set(WebhookEvent)


def _endpoint(staff) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        clinic=staff.clinic,
        url="https://hooks.example.org/skinclinic",
        events=[WebhookEvent.REVIEW_CREATED],
        secret="s" * 40,
        created_by=staff.admin,
    )


def test_a_review_recorded_by_the_service_queues_its_webhook_event(staff, django_capture_on_commit_callbacks):
    endpoint = _endpoint(staff)
    image = LesionImageFactory(lesion=staff.lesion)
    with django_capture_on_commit_callbacks():
        review = review_create(actor=staff.reviewer, image=image, verdict="override", diagnosis="mel")
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.event == WebhookEvent.REVIEW_CREATED and str(review.pk) in delivery.body


def test_writing_an_audit_record_alone_sends_no_webhook(staff):
    _endpoint(staff)
    prediction = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    audit_record(actor=staff.reviewer, clinic=staff.clinic, action=AuditAction.REVIEW_CREATE, target=prediction)
    assert not WebhookDelivery.objects.exists()
