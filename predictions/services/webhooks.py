"""Webhooks: clinic administrators register endpoints; finished predictions and new reviews are delivered.

A delivery is signed with the endpoint's secret (HMAC-SHA256 of the exact body, in the
`X-SkinClinic-Signature: sha256=<hex>` header), attempted by a Celery task, retried with exponential
backoff after a 5xx answer, a timeout or a failed connection, and given up at once on any other answer
(a 4xx means the receiver refuses this body; sending it again will not help). Every attempt is logged.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from mlcore import CLASS_NAMES

from .. import permissions
from ..links import api_public_url
from ..models import (
    AttemptOutcome,
    AuditEvent,
    Clinic,
    DeliveryError,
    DeliveryStatus,
    Prediction,
    Review,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from ..models.audit import AuditAction
from ..models.webhooks import AUDIT_ACTION_EVENTS
from .audit import audit_record
from .webhook_targets import PublicAddressAdapter, WebhookTargetRefused, webhook_target_check

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-SkinClinic-Signature"
USER_AGENT = "SkinClinic-Webhooks/1.0"


# --- Endpoints ---------------------------------------------------------------------------------------------


def _validate_endpoint(url: str, events: Sequence[str]) -> None:
    errors = {}
    try:
        webhook_target_check(url)
    except WebhookTargetRefused as exc:
        errors["url"] = [str(exc)]
    if not events:
        errors["events"] = ["Choose at least one event."]
    elif set(events) - set(WebhookEvent.values):
        errors["events"] = [f"Unknown events: {', '.join(sorted(set(events) - set(WebhookEvent.values)))}."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def webhook_endpoint_create(
    *, actor, clinic: Clinic, url: str, events: Sequence[str], description: str = ""
) -> WebhookEndpoint:
    """Register an endpoint for a clinic (its administrators only), with a new random signing secret."""
    permissions.require(actor, "clinic.administer", clinic)
    _validate_endpoint(url, events)
    endpoint = WebhookEndpoint(
        clinic=clinic,
        url=url,
        events=sorted(set(events)),
        description=description,
        secret="whsec_" + secrets.token_urlsafe(32),
        created_by=actor,
    )
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.WEBHOOK_CREATE,
        target=endpoint,
        data={"url": url, "events": endpoint.events},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *,
    actor,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or whether it is active."""
    permissions.require(actor, "clinic.administer", endpoint.clinic)
    changes = {
        name: value
        for name, value in {
            "url": url,
            "events": sorted(set(events)) if events is not None else None,
            "description": description,
            "is_active": is_active,
        }.items()
        if value is not None
    }
    for name, value in changes.items():
        setattr(endpoint, name, value)
    _validate_endpoint(endpoint.url, endpoint.events)
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        actor=actor,
        clinic=endpoint.clinic,
        action=AuditAction.WEBHOOK_UPDATE,
        target=endpoint,
        data={name: value for name, value in changes.items()},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, actor, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its delivery log."""
    permissions.require(actor, "clinic.administer", endpoint.clinic)
    audit_record(
        actor=actor,
        clinic=endpoint.clinic,
        action=AuditAction.WEBHOOK_DELETE,
        target=endpoint,
        data={"url": endpoint.url},
    )
    endpoint.delete()


# --- Events ------------------------------------------------------------------------------------------------


def _prediction_data(prediction: Prediction) -> dict:
    image = prediction.image
    return {
        "prediction": {
            "id": prediction.pk,
            "url": api_public_url("prediction-detail", prediction.pk),
            "status": prediction.status,
            "model_version": prediction.model_version,
            "image_id": image.pk,
            "lesion_id": image.lesion_id,
            "patient_id": image.lesion.patient_id,
            "top_class": prediction.top_class or None,
            "top_class_name": CLASS_NAMES.get(prediction.top_class),
            "malignancy_risk": prediction.malignancy_risk,
            "error": prediction.error or None,
            "finished_at": prediction.finished_at,
            "fhir_url": api_public_url("image-fhir", image.pk),
        }
    }


def _review_data(review: Review) -> dict:
    return {
        "review": {
            "id": review.pk,
            "url": api_public_url("review-detail", review.pk),
            "image_id": review.image_id,
            "lesion_id": review.image.lesion_id,
            "patient_id": review.image.lesion.patient_id,
            "prediction_id": review.prediction_id,
            "verdict": review.verdict,
            "diagnosis": review.diagnosis,
            "diagnosis_name": CLASS_NAMES.get(review.diagnosis),
            "histopathology_confirmed": review.histopathology_confirmed,
            "created_at": review.created_at,
            "fhir_url": api_public_url("image-fhir", review.image_id),
        }
    }


def webhook_body(*, event: str, event_id, clinic: Clinic | None, created_at: datetime.datetime, data: dict) -> str:
    """The JSON body of an event, serialised once (the signature covers these exact bytes)."""
    payload = {
        "id": str(event_id),
        "type": event,
        "created_at": created_at,
        "clinic": clinic.slug if clinic is not None else None,
        "data": data,
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))


def _event_data(event: str, target_ids: set[str]) -> dict[str, dict]:
    """The `data` of each event's body by target id: the review or prediction as it is now."""
    if event == WebhookEvent.REVIEW_CREATED:
        reviews = Review.objects.select_related("image__lesion").filter(pk__in=target_ids)
        return {str(review.pk): _review_data(review) for review in reviews}
    predictions = Prediction.objects.select_related("image__lesion").filter(pk__in=target_ids)
    return {str(prediction.pk): _prediction_data(prediction) for prediction in predictions}


def webhook_events_emit(*, audit_events: Sequence[AuditEvent]) -> list[WebhookDelivery]:
    """Queue deliveries of the events audit records stand for to their clinics' subscribed endpoints.

    Runs inside the transaction that wrote the records (a worker's batch writes many at once, so the
    endpoints are read once for all); the tasks are sent once it commits.
    """
    audit_events = [e for e in audit_events if e.clinic_id is not None and e.action in AUDIT_ACTION_EVENTS]
    if not audit_events:
        return []
    endpoints_of: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in (
        WebhookEndpoint.objects.select_related("clinic")
        .filter(clinic_id__in={e.clinic_id for e in audit_events}, is_active=True)
        .order_by("id")
    ):
        endpoints_of.setdefault(endpoint.clinic_id, []).append(endpoint)
    wanted = [(e, AUDIT_ACTION_EVENTS[e.action]) for e in audit_events if e.clinic_id in endpoints_of]
    targets: dict[str, set[str]] = {}
    for audit_event, event in wanted:
        targets.setdefault(event, set()).add(audit_event.target_id)
    data_of = {event: _event_data(event, ids) for event, ids in targets.items()}
    now = timezone.now()
    deliveries = []
    for audit_event, event in wanted:
        for endpoint in endpoints_of[audit_event.clinic_id]:
            if event not in endpoint.events:  # filtered here: SQLite has no JSON containment lookup
                continue
            delivery = WebhookDelivery(endpoint=endpoint, event=event, next_attempt_at=now)
            delivery.body = webhook_body(
                event=event,
                event_id=delivery.event_id,
                clinic=endpoint.clinic,
                created_at=audit_event.created_at,
                data=data_of[event][audit_event.target_id],
            )
            deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    webhook_deliveries_enqueue_on_commit([d.pk for d in deliveries])
    return deliveries


def webhook_deliveries_enqueue_on_commit(delivery_ids: Iterable[int]) -> None:
    """Send one delivery task per id once the transaction commits; a broker error is left to the sweep."""
    # One callback for all, not Celery's delay_on_commit per id: with the broker down, the first failed send
    # stops the rest, so the committing request waits out one connection attempt, not one per delivery.
    ids = list(delivery_ids)

    def send() -> None:
        from ..webhook_tasks import webhook_deliver_task

        for delivery_id in ids:
            try:
                webhook_deliver_task.delay(delivery_id)
            except Exception:
                logger.exception("could not enqueue webhook deliveries %s; the sweep will resend them", ids)
                return

    if ids:
        transaction.on_commit(send)


# --- Delivery ----------------------------------------------------------------------------------------------


def webhook_signature(*, secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AttemptResult:
    """What one call of `webhook_delivery_attempt` did; `retry_in` seconds when another attempt is due."""

    delivery_id: int
    outcome: str | None  # None: nothing was sent (finished already, not due yet, or claimed by another run)
    retry_in: float | None = None


def _backoff(number: int) -> float:
    return min(
        settings.SKINCLINIC_WEBHOOK_RETRY_BACKOFF * 2 ** (number - 1), settings.SKINCLINIC_WEBHOOK_RETRY_BACKOFF_MAX
    )


def _target_refusal(url: str) -> str | None:
    """DeliveryError.TARGET_REFUSED if the URL is no longer an allowed target (its name may resolve elsewhere
    now), else None."""
    try:
        webhook_target_check(url)
    except WebhookTargetRefused as exc:
        logger.warning("webhook target %s refused at delivery: %s", url, exc)
        return DeliveryError.TARGET_REFUSED.label
    return None


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    endpoint = delivery.endpoint
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-SkinClinic-Event": delivery.event,
        "X-SkinClinic-Delivery": str(delivery.event_id),
        SIGNATURE_HEADER: webhook_signature(secret=endpoint.secret, body=body),
    }
    timeout = settings.SKINCLINIC_WEBHOOK_TIMEOUT
    try:
        with requests.Session() as session:
            if not settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE:
                adapter = PublicAddressAdapter()
                session.mount("https://", adapter)
                session.mount("http://", adapter)
            # stream=True and no body read: a receiver's answer is its status; a huge body is never pulled in.
            with session.post(
                endpoint.url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
            ) as response:
                return response.status_code, ""
    except requests.RequestException as exc:
        # One answer for a timeout, a refused connection and a failed TLS handshake alike: which of them it
        # was would tell the clinic whether a port is open. Operators find the detail in the server log.
        logger.info("webhook delivery %s to %s: %s: %s", delivery.pk, endpoint.url, exc.__class__.__name__, exc)
        return None, DeliveryError.UNREACHABLE.label


def webhook_delivery_attempt(*, delivery_id: int) -> AttemptResult:
    """Make the next attempt at a pending delivery that is due, log it, and say whether to retry.

    The attempt is claimed by a compare-and-set on the attempt count, so a duplicated task message
    never sends the same attempt twice; a delivery not yet due (its retry is scheduled) is left alone.
    """
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(id=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return AttemptResult(delivery_id, None)
    if delivery.next_attempt_at and delivery.next_attempt_at > now + datetime.timedelta(seconds=1):
        return AttemptResult(delivery_id, None)
    number = delivery.attempts + 1
    lease = datetime.timedelta(seconds=settings.SKINCLINIC_WEBHOOK_TIMEOUT + 60)
    if not WebhookDelivery.objects.filter(
        id=delivery.id, status=DeliveryStatus.PENDING, attempts=delivery.attempts
    ).update(attempts=number, next_attempt_at=now + lease):
        return AttemptResult(delivery_id, None)
    delivery.attempts = number

    started = time.monotonic()
    refusal = None if delivery.endpoint.is_active else DeliveryError.DISABLED.label
    refusal = refusal or _target_refusal(delivery.endpoint.url)
    if refusal:
        status, error = None, refusal
    else:
        status, error = _post(delivery)
    duration_ms = int((time.monotonic() - started) * 1000)

    if status is not None and 200 <= status < 300:
        outcome = AttemptOutcome.DELIVERED
    elif refusal is None and (status is None or status >= 500) and number < settings.SKINCLINIC_WEBHOOK_MAX_ATTEMPTS:
        outcome = AttemptOutcome.WILL_RETRY
    else:
        outcome = AttemptOutcome.GAVE_UP
    if status is not None and not error and outcome != AttemptOutcome.DELIVERED:
        error = DeliveryError.ERROR_STATUS.label  # the status itself is in response_status
    retry_in = _backoff(number) if outcome == AttemptOutcome.WILL_RETRY else None
    _attempt_record(
        delivery,
        number=number,
        started_at=now,
        duration_ms=duration_ms,
        status=status,
        error=error,
        outcome=outcome,
        retry_in=retry_in,
    )
    return AttemptResult(delivery_id, outcome, retry_in)


@transaction.atomic
def _attempt_record(
    delivery: WebhookDelivery,
    *,
    number: int,
    started_at,
    duration_ms: int,
    status: int | None,
    error: str,
    outcome: str,
    retry_in: float | None,
) -> None:
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=started_at,
        duration_ms=duration_ms,
        response_status=status,
        error=error,
        outcome=outcome,
    )
    now = timezone.now()
    if outcome == AttemptOutcome.WILL_RETRY:
        fields = {"next_attempt_at": now + datetime.timedelta(seconds=retry_in)}
    else:
        fields = {
            "status": DeliveryStatus.DELIVERED if outcome == AttemptOutcome.DELIVERED else DeliveryStatus.FAILED,
            "next_attempt_at": None,
            "finished_at": now,
        }
    WebhookDelivery.objects.filter(id=delivery.id, attempts=number).update(**fields)
    if outcome == AttemptOutcome.GAVE_UP:
        logger.warning(
            "webhook delivery %s to %s failed for good after %s attempts: %s",
            delivery.id,
            delivery.endpoint.url,
            number,
            error,
        )


@transaction.atomic
def webhook_deliveries_sweep(*, now: datetime.datetime | None = None) -> list[int]:
    """Resend pending deliveries overdue by SKINCLINIC_WEBHOOK_SWEEP_GRACE seconds (a lost task message,
    a broker down at commit, a worker that died mid-attempt). Returns the ids sent again."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.SKINCLINIC_WEBHOOK_SWEEP_GRACE)
    overdue = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=cutoff).values_list(
            "id", flat=True
        )[:1000]
    )
    webhook_deliveries_enqueue_on_commit(overdue)
    return overdue
