"""Webhooks: endpoints (clinic admins only), events from finished predictions and reviews, and delivery
to a real HTTP receiver: signed, retried with backoff on 5xx and timeouts, never on 4xx, every attempt logged."""

import datetime
import hashlib
import hmac
import json
import socket

import pytest
import requests
from django.utils import timezone

from predictions.models import AttemptOutcome, DeliveryError, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from predictions.services import webhook_targets
from predictions.services.webhook_targets import WebhookTargetRefused, webhook_target_check
from predictions.services.webhooks import webhook_deliveries_sweep, webhook_endpoint_create
from predictions.tasks import prediction_run_task
from predictions.webhook_tasks import webhook_deliver_task
from tests.predictions.factories import LesionImageFactory, PredictionFactory

from .receiver import start_receiver

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks"
ALL_EVENTS = ["prediction.succeeded", "prediction.failed", "review.created"]


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE = True  # the receiver is plain http on loopback
    settings.SKINCLINIC_WEBHOOK_TIMEOUT = 0.5
    settings.SKINCLINIC_WEBHOOK_RETRY_BACKOFF = 0.001  # due again at once; the countdown is asserted instead
    settings.SKINCLINIC_WEBHOOK_MAX_ATTEMPTS = 4
    return settings


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def scheduled(monkeypatch):
    """Retries the delivery task schedules, as (delivery id, countdown), instead of sending them to a broker."""
    calls = []
    monkeypatch.setattr(webhook_deliver_task, "apply_async", lambda args, countdown: calls.append((args[0], countdown)))
    return calls


@pytest.fixture
def endpoint(staff, receiver):
    return webhook_endpoint_create(actor=staff.admin, clinic=staff.clinic, url=receiver.url, events=ALL_EVENTS)


def finish_a_prediction(staff, django_capture_on_commit_callbacks):
    """Run a queued prediction through the real task (with the small test classifier); returns it."""
    prediction = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    with django_capture_on_commit_callbacks(execute=True):
        prediction_run_task.apply(args=[prediction.pk])
    prediction.refresh_from_db()
    return prediction


def attempts(delivery):
    return [(a.number, a.response_status, a.outcome) for a in delivery.attempt_log.order_by("number")]


# --- Endpoints over the API --------------------------------------------------------------------------------


@pytest.mark.parametrize("role,expected", [("admin", 201), ("clinician", 403), ("reviewer", 403), ("anonymous", 401)])
def test_clinic_admins_register_endpoints_and_see_the_secret_once(api, staff, role, expected):
    response = api(role).post(WEBHOOKS, {"target_url": "https://ehr.example.org/hooks", "events": ALL_EVENTS[:2]})
    assert response.status_code == expected, response.json()
    if expected != 201:
        assert WebhookEndpoint.objects.count() == 0
        return
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["clinic"] == staff.clinic.slug
    assert body["events"] == ["prediction.failed", "prediction.succeeded"]
    shown = api("admin").get(body["url"]).json()
    assert "secret" not in shown and shown["target_url"] == "https://ehr.example.org/hooks"


def test_endpoints_are_hidden_from_other_clinics_and_closed_to_non_admins(api, staff, endpoint):
    assert api("outsider").get(f"{WEBHOOKS}/{endpoint.pk}").status_code == 404
    assert api("outsider").get(WEBHOOKS).json()["results"] == []
    assert api("clinician").get(f"{WEBHOOKS}/{endpoint.pk}").status_code == 403
    assert api("clinician").get(f"{WEBHOOKS}/{endpoint.pk}/deliveries").status_code == 403
    assert api("clinician").get(WEBHOOKS).json()["results"] == []
    assert [e["id"] for e in api("admin").get(WEBHOOKS).json()["results"]] == [endpoint.pk]


def test_an_admin_changes_and_removes_an_endpoint(api, staff, endpoint):
    client = api("admin")
    response = client.patch(f"{WEBHOOKS}/{endpoint.pk}", {"events": ["review.created"], "is_active": False})
    assert response.status_code == 200
    assert response.json()["events"] == ["review.created"] and response.json()["is_active"] is False
    assert api("outsider").delete(f"{WEBHOOKS}/{endpoint.pk}").status_code == 404
    assert client.delete(f"{WEBHOOKS}/{endpoint.pk}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_endpoints_must_use_https_and_name_known_events(api, settings):
    settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE = False
    response = api("admin").post(WEBHOOKS, {"target_url": "http://ehr.example.org/hooks", "events": ["nope"]})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"events"}
    response = api("admin").post(WEBHOOKS, {"target_url": "http://ehr.example.org/hooks", "events": ALL_EVENTS})
    assert response.status_code == 400 and response.json()["errors"] == {"url": ["Webhook URLs must use https."]}


NOT_PUBLIC = "The URL's host is not a public address."
# Targets that would aim the server at itself, its cloud's metadata service or a private network (issue 13).
REFUSED_TARGETS = [
    ("https://127.0.0.1/hooks", NOT_PUBLIC),
    ("https://localhost:8443/hooks", NOT_PUBLIC),
    ("https://[::1]/hooks", NOT_PUBLIC),
    ("https://[::ffff:10.0.0.1]/hooks", NOT_PUBLIC),
    ("https://169.254.169.254/latest/meta-data/", NOT_PUBLIC),
    ("https://metadata.google.internal/computeMetadata/v1/", NOT_PUBLIC),
    ("https://10.1.2.3/hooks", NOT_PUBLIC),
    ("https://172.16.0.9/hooks", NOT_PUBLIC),
    ("https://192.168.1.20/hooks", NOT_PUBLIC),
    ("https://100.64.0.1/hooks", NOT_PUBLIC),  # carrier-grade NAT
    ("https://0.0.0.0/hooks", NOT_PUBLIC),
    ("https://user:pw@ehr.example.org/hooks", "Webhook URLs may not contain a user name or password."),
    ("https://token@93.184.215.14/hooks", "Webhook URLs may not contain a user name or password."),
    ("https://no-such-host.invalid/hooks", "The URL's host could not be resolved."),
]


@pytest.mark.parametrize("url, message", REFUSED_TARGETS, ids=[url for url, _ in REFUSED_TARGETS])
def test_registration_refuses_targets_that_are_not_public_https_hosts(api, settings, url, message):
    settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE = False
    response = api("admin").post(WEBHOOKS, {"target_url": url, "events": ALL_EVENTS})
    assert response.status_code == 400 and response.json()["errors"] == {"url": [message]}
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", ["https://2130706433/x", "https://0x7f.1/x", "https://017700000001/x"])
def test_the_target_rule_resolves_the_host_so_any_spelling_of_an_address_is_caught(settings, url):
    settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE = False
    with pytest.raises(WebhookTargetRefused, match="not a public address"):
        webhook_target_check(url)


def _post_through(adapter, url: str) -> int:
    with requests.Session() as session:
        session.mount("http://", adapter)
        with session.post(url, data=b"{}", timeout=2, stream=True) as response:
            return response.status_code


def test_the_connection_itself_refuses_a_name_that_resolves_to_a_private_address(receiver):
    """The name was checked a moment before (DNS rebinding answers public first, private next): the connection
    resolves once more, refuses, and connects to nothing."""
    url = receiver.url.replace("127.0.0.1", "localhost")
    with pytest.raises(requests.ConnectionError, match="not public"):
        _post_through(webhook_targets.PublicAddressAdapter(), url)
    assert receiver.received == []


def test_the_connection_goes_to_the_address_it_checked(receiver):
    # The same adapter, with loopback allowed, to show the checked connection delivers (no public host here).
    class Connection(webhook_targets._PublicHTTPConnection):
        address_allowed = staticmethod(lambda address: address == "127.0.0.1")

    class Pool(webhook_targets._PublicHTTPConnectionPool):
        ConnectionCls = Connection

    class Adapter(webhook_targets.PublicAddressAdapter):
        pool_classes = {"http": Pool, "https": webhook_targets._PublicHTTPSConnectionPool}

    receiver.answers = [204]
    assert _post_through(Adapter(), receiver.url) == 204
    assert len(receiver.received) == 1


def test_changing_an_endpoints_url_to_a_private_target_is_refused(api, staff, settings):
    settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE = False
    endpoint = webhook_endpoint_create(
        actor=staff.admin, clinic=staff.clinic, url="https://93.184.215.14/hooks", events=ALL_EVENTS
    )
    response = api("admin").patch(f"{WEBHOOKS}/{endpoint.pk}", {"target_url": "https://169.254.169.254/"})
    assert response.status_code == 400 and response.json()["errors"] == {"url": [NOT_PUBLIC]}
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.14/hooks"


def test_a_public_https_address_is_accepted(api, settings):
    settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE = False
    response = api("admin").post(WEBHOOKS, {"target_url": "https://93.184.215.14/hooks", "events": ALL_EVENTS})
    assert response.status_code == 201, response.json()


def test_private_targets_are_accepted_when_insecure_targets_are_allowed_but_credentials_never(api):
    # webhook_settings allows insecure targets, as WEBHOOK_ALLOW_INSECURE does in local development.
    assert api("admin").post(WEBHOOKS, {"target_url": "http://127.0.0.1:9/x", "events": ALL_EVENTS}).status_code == 201
    response = api("admin").post(WEBHOOKS, {"target_url": "http://u:p@127.0.0.1:9/x", "events": ALL_EVENTS})
    assert response.status_code == 400


# --- Events ------------------------------------------------------------------------------------------------


def test_a_finished_prediction_is_delivered_signed_to_the_clinics_subscribed_endpoints(
    staff, endpoint, receiver, scheduled, django_capture_on_commit_callbacks, monkeypatch
):
    elsewhere = webhook_endpoint_create(
        actor=staff.outsider, clinic=staff.other_clinic, url=receiver.url, events=ALL_EVENTS
    )
    reviews_only = webhook_endpoint_create(
        actor=staff.admin, clinic=staff.clinic, url=receiver.url, events=["review.created"]
    )
    sent = []
    monkeypatch.setattr(webhook_deliver_task, "delay", sent.append)

    prediction = finish_a_prediction(staff, django_capture_on_commit_callbacks)

    [delivery] = WebhookDelivery.objects.all()
    assert delivery.endpoint == endpoint and delivery.event == "prediction.succeeded"
    assert sent == [delivery.pk]  # the task is sent once the worker's transaction commits
    assert not elsewhere.deliveries.exists() and not reviews_only.deliveries.exists()

    assert webhook_deliver_task.apply(args=[delivery.pk]).get() == AttemptOutcome.DELIVERED
    [request] = receiver.received
    assert request.path == "/hooks/skinclinic" and request.body == delivery.body.encode()
    expected = "sha256=" + hmac.new(endpoint.secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-SkinClinic-Signature"] == expected
    assert request.headers["X-SkinClinic-Event"] == "prediction.succeeded"
    assert request.headers["X-SkinClinic-Delivery"] == str(delivery.event_id)
    payload = json.loads(request.body)
    assert payload["type"] == "prediction.succeeded" and payload["clinic"] == staff.clinic.slug
    data = payload["data"]["prediction"]
    assert (data["id"], data["status"], data["top_class"]) == (prediction.pk, "succeeded", prediction.top_class)
    assert data["patient_id"] == staff.patient.pk and "full_name" not in request.body.decode()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and attempts(delivery) == [(1, 200, "delivered")]
    assert scheduled == []


def test_a_failed_prediction_and_a_new_review_are_events_too(
    api, staff, endpoint, prediction, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(webhook_deliver_task, "delay", lambda delivery_id: None)
    from predictions.services import prediction_fail

    failing = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion), status="running", claimed_by="run-1")
    prediction_fail(prediction=failing, claimant="run-1", error="The stored image could not be read")
    api("reviewer").post(
        "/api/v1/reviews", {"image": prediction.image_id, "prediction": prediction.pk, "verdict": "agree"}
    )
    events = {d.event: json.loads(d.body)["data"] for d in WebhookDelivery.objects.all()}
    assert set(events) == {"prediction.failed", "review.created"}
    assert events["prediction.failed"]["prediction"]["error"] == "The stored image could not be read"
    assert events["review.created"]["review"]["verdict"] == "agree"
    assert events["review.created"]["review"]["diagnosis"] == prediction.top_class


def test_no_deliveries_for_an_inactive_endpoint(staff, endpoint, django_capture_on_commit_callbacks):
    endpoint.is_active = False
    endpoint.save()
    finish_a_prediction(staff, django_capture_on_commit_callbacks)
    assert not WebhookDelivery.objects.exists()


# --- Delivery, retries and giving up -----------------------------------------------------------------------


@pytest.fixture
def delivery(staff, endpoint, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(webhook_deliver_task, "delay", lambda delivery_id: None)
    finish_a_prediction(staff, django_capture_on_commit_callbacks)
    return WebhookDelivery.objects.get()


def test_a_5xx_answer_is_retried_with_backoff_until_delivered(delivery, receiver, scheduled, settings):
    settings.SKINCLINIC_WEBHOOK_RETRY_BACKOFF = 0.001
    receiver.answers = [503, 502, 200]
    outcomes = [webhook_deliver_task.apply(args=[delivery.pk]).get() for _ in range(3)]
    assert outcomes == ["will_retry", "will_retry", "delivered"]
    assert [countdown for _, countdown in scheduled] == [0.001, 0.002]  # base * 2 ** (attempt - 1)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert attempts(delivery) == [(1, 503, "will_retry"), (2, 502, "will_retry"), (3, 200, "delivered")]
    assert len({r.body for r in receiver.received}) == 1  # the same signed body every time


def test_a_timeout_is_retried(delivery, receiver, scheduled):
    receiver.answers = [(1.5, 200), 200]
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() == "will_retry"
    [attempt] = delivery.attempt_log.all()
    assert attempt.response_status is None and attempt.error == DeliveryError.UNREACHABLE.label
    assert 400 <= attempt.duration_ms < 1500
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() == "delivered"


def test_a_refused_connection_is_retried(delivery, scheduled):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(url=f"http://127.0.0.1:{port}/x")
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() == "will_retry"
    assert delivery.attempt_log.get().error == DeliveryError.UNREACHABLE.label


def test_the_delivery_log_does_not_tell_an_open_port_from_a_closed_one(staff, receiver, scheduled):
    """An https URL to the receiver's open (plain http) port fails in the TLS handshake, one to a closed port
    fails to connect: the log says the same of both."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    errors = []
    for url in (receiver.url.replace("http:", "https:"), f"https://127.0.0.1:{closed}/x"):
        endpoint = webhook_endpoint_create(actor=staff.admin, clinic=staff.clinic, url=url, events=ALL_EVENTS)
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="prediction.succeeded", body="{}")
        assert webhook_deliver_task.apply(args=[delivery.pk]).get() == "will_retry"
        errors.append(delivery.attempt_log.get().error)
    assert errors == [DeliveryError.UNREACHABLE.label] * 2


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 301])
def test_any_other_answer_is_not_retried(delivery, receiver, scheduled, status):
    receiver.answers = [status]
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() == "gave_up"
    assert scheduled == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.finished_at is not None
    assert attempts(delivery) == [(1, status, "gave_up")]
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() is None  # finished: nothing more is sent
    assert len(receiver.received) == 1


def test_it_gives_up_after_the_last_attempt(delivery, receiver, scheduled, settings):
    settings.SKINCLINIC_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.answers = [500, 500, 200]
    assert [webhook_deliver_task.apply(args=[delivery.pk]).get() for _ in range(3)] == ["will_retry", "gave_up", None]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and len(receiver.received) == 2


def test_a_duplicate_message_never_sends_an_attempt_twice(delivery, receiver, scheduled, settings):
    settings.SKINCLINIC_WEBHOOK_RETRY_BACKOFF = 300
    receiver.answers = [503]
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() == "will_retry"
    assert scheduled == [(delivery.pk, 300)]
    # A second message before the retry is due (a redelivery, the sweep) sends nothing.
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() is None
    assert len(receiver.received) == 1


def test_the_backoff_is_capped(delivery, receiver, scheduled, settings):
    settings.SKINCLINIC_WEBHOOK_RETRY_BACKOFF, settings.SKINCLINIC_WEBHOOK_RETRY_BACKOFF_MAX = 0.001, 0.002
    receiver.answers = [500, 500, 500]
    for _ in range(3):
        webhook_deliver_task.apply(args=[delivery.pk])
    assert [countdown for _, countdown in scheduled] == [0.001, 0.002, 0.002]


def test_private_addresses_are_refused_unless_allowed(delivery, receiver, scheduled, settings):
    settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE = False
    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(url=receiver.url.replace("http:", "https:"))
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() == "gave_up"
    assert delivery.attempt_log.get().error == DeliveryError.TARGET_REFUSED.label and receiver.received == []


def test_the_sweep_resends_deliveries_whose_message_was_lost(
    delivery, django_capture_on_commit_callbacks, monkeypatch, settings
):
    sent = []
    monkeypatch.setattr(webhook_deliver_task, "delay", sent.append)
    assert webhook_deliveries_sweep() == []  # just created: its own message is on the way
    later = timezone.now() + datetime.timedelta(seconds=settings.SKINCLINIC_WEBHOOK_SWEEP_GRACE + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_sweep(now=later) == [delivery.pk]
    assert sent == [delivery.pk]


def test_the_delivery_log_lists_attempts(api, delivery, receiver, scheduled):
    receiver.answers = [500, 204]
    webhook_deliver_task.apply(args=[delivery.pk])
    webhook_deliver_task.apply(args=[delivery.pk])
    [listed] = api("admin").get(f"{WEBHOOKS}/{delivery.endpoint_id}/deliveries").json()["results"]
    assert listed["status"] == "delivered" and listed["payload"]["type"] == "prediction.succeeded"
    assert [(a["number"], a["response_status"], a["outcome"]) for a in listed["attempt_log"]] == [
        (1, 500, "will_retry"),
        (2, 204, "delivered"),
    ]


def test_the_worker_registers_the_webhook_tasks_and_beat_runs_the_sweep():
    from skinclinic.celery import app

    app.loader.import_default_modules()  # what a worker does at startup
    assert {
        "predictions.webhook_tasks.webhook_deliver_task",
        "predictions.webhook_tasks.webhook_deliveries_sweep_task",
    } <= set(app.tasks)
    [entry] = [
        e
        for e in app.conf.beat_schedule.values()
        if e["task"] == "predictions.webhook_tasks.webhook_deliveries_sweep_task"
    ]
    assert entry["schedule"] > 0
    task = app.tasks["predictions.webhook_tasks.webhook_deliver_task"]
    assert task.acks_late and task.reject_on_worker_lost
