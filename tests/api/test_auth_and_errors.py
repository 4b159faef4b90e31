"""Who gets in (tokens, sessions), how fast (throttles), and the one shape of every error."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from predictions.models import ApiToken, AuditEvent
from predictions.services.api_tokens import api_token_create, api_token_revoke

from .conftest import token_client

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients"

# Every endpoint, with a method and an id that exists for the staff fixture's clinic where it needs one.
ENDPOINTS = [
    ("get", "/api/v1/clinics"),
    ("get", PATIENTS),
    ("post", PATIENTS),
    ("get", "/api/v1/patients/{patient}"),
    ("patch", "/api/v1/patients/{patient}"),
    ("get", "/api/v1/patients/{patient}/lesions"),
    ("post", "/api/v1/patients/{patient}/lesions"),
    ("get", "/api/v1/lesions/{lesion}"),
    ("patch", "/api/v1/lesions/{lesion}"),
    ("get", "/api/v1/lesions/{lesion}/images"),
    ("post", "/api/v1/lesions/{lesion}/images"),
    ("get", "/api/v1/images/{image}"),
    ("get", "/api/v1/images/{image}/file"),
    ("get", "/api/v1/images/{image}/fhir"),
    ("post", "/api/v1/images/{image}/predictions"),
    ("get", "/api/v1/predictions"),
    ("get", "/api/v1/predictions/{prediction}"),
    ("get", "/api/v1/predictions/{prediction}/heatmap"),
    ("get", "/api/v1/reviews"),
    ("post", "/api/v1/reviews"),
    ("get", "/api/v1/webhooks"),
    ("post", "/api/v1/webhooks"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_every_endpoint_refuses_an_anonymous_caller_with_401_and_a_token_challenge(staff, prediction, method, path):
    url = path.format(
        patient=staff.patient.pk, lesion=staff.lesion.pk, image=prediction.image_id, prediction=prediction.pk
    )
    response = getattr(APIClient(), method)(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.json() == {"detail": "Authentication credentials were not provided.", "errors": {}}


def test_a_valid_token_acts_as_its_user_and_records_its_use(staff):
    token, key = api_token_create(user=staff.clinician, name="EHR")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/v1/clinics")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": staff.clinic.pk,
            "slug": staff.clinic.slug,
            "name": staff.clinic.name,
            "role": "clinician",
            "performance_url": f"http://testserver/api/v1/clinics/{staff.clinic.pk}/performance",
        }
    ]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_clinic_list_gives_the_id_and_link_that_the_performance_report_takes(staff):
    client = token_client(staff.reviewer)
    [clinic] = client.get("/api/v1/clinics").json()
    assert client.get(f"/api/v1/clinics/{clinic['id']}/performance").status_code == 200
    assert client.get(clinic["performance_url"]).status_code == 200


def test_bearer_is_accepted_as_well_as_token(staff):
    _, key = api_token_create(user=staff.reviewer, name="app")
    response = APIClient().get("/api/v1/clinics", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200


def test_the_key_is_not_stored_only_its_digest(staff):
    token, key = api_token_create(user=staff.clinician, name="EHR")
    assert key.startswith("sc_") and len(key) > 40
    assert not ApiToken.objects.filter(key_hash=key).exists()
    assert key not in str(list(ApiToken.objects.values()))
    assert token.prefix == key[:10]


@pytest.mark.parametrize("header", ["Token not-a-real-key", "Token", "Token a b", "Bearer ünïcode"])
def test_bad_or_unknown_keys_are_401(staff, header):
    response = APIClient().get("/api/v1/clinics", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "errors"}


def test_a_revoked_token_stops_working_at_once(staff):
    token, key = api_token_create(user=staff.clinician, name="EHR")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/clinics").status_code == 200
    api_token_revoke(token=token)
    assert client.get("/api/v1/clinics").status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoke", target_id=str(token.pk)).exists()


def test_an_expired_token_or_one_of_an_inactive_user_is_401(staff):
    _, expired = api_token_create(
        user=staff.clinician, name="old", expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert APIClient().get("/api/v1/clinics", HTTP_AUTHORIZATION=f"Token {expired}").status_code == 401
    _, key = api_token_create(user=staff.reviewer, name="app")
    staff.reviewer.is_active = False
    staff.reviewer.save()
    assert APIClient().get("/api/v1/clinics", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_the_portals_session_works_and_its_writes_need_the_csrf_token(staff):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff.clinician)
    assert client.get(PATIENTS).status_code == 200
    response = client.post(PATIENTS, {"mrn": "S-1", "full_name": "Session Patient"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_user_without_a_clinic_sees_empty_lists_and_cannot_create(user_without_clinic):
    client = token_client(user_without_clinic)
    assert client.get(PATIENTS).json()["results"] == []
    assert client.get("/api/v1/predictions").json()["count"] == 0
    response = client.post(PATIENTS, {"mrn": "X", "full_name": "Nobody"})
    assert response.status_code == 403


def test_each_token_has_its_own_rate_limit_and_429_says_when_to_retry(staff, monkeypatch):
    from predictions.api.throttles import ApiRateThrottle

    monkeypatch.setattr(
        ApiRateThrottle, "THROTTLE_RATES", {"token": "3/minute", "user": "3/minute", "anon": "3/minute"}
    )
    first, second = token_client(staff.clinician, "one"), token_client(staff.clinician, "two")
    assert [first.get("/api/v1/clinics").status_code for _ in range(3)] == [200] * 3
    response = first.get("/api/v1/clinics")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["detail"].startswith("Request was throttled")
    assert response.json()["errors"] == {}
    assert second.get("/api/v1/clinics").status_code == 200  # another token of the same user


def test_the_portals_session_is_throttled_per_user(staff, monkeypatch):
    from predictions.api.throttles import ApiRateThrottle

    monkeypatch.setattr(
        ApiRateThrottle, "THROTTLE_RATES", {"token": "100/minute", "user": "2/minute", "anon": "1/minute"}
    )
    client = APIClient()
    client.force_login(staff.reviewer)
    assert [client.get("/api/v1/clinics").status_code for _ in range(3)] == [200, 200, 429]
    assert token_client(staff.reviewer).get("/api/v1/clinics").status_code == 200


def test_the_limit_slides_the_previous_minute_out_gradually(staff, monkeypatch):
    from predictions.api.throttles import ApiRateThrottle

    monkeypatch.setattr(
        ApiRateThrottle, "THROTTLE_RATES", {"token": "10/minute", "user": "10/minute", "anon": "1/minute"}
    )
    clock = {"now": 600 * 60.0}  # the start of a minute
    monkeypatch.setattr(ApiRateThrottle, "timer", lambda self: clock["now"])
    client = token_client(staff.clinician)
    assert [client.get("/api/v1/clinics").status_code for _ in range(11)] == [200] * 10 + [429]
    clock["now"] += 60 + 30  # half-way through the next minute: half of the previous one still counts
    assert [client.get("/api/v1/clinics").status_code for _ in range(6)] == [200] * 5 + [429]
    response = client.get("/api/v1/clinics")
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 30
    clock["now"] += 30  # the next minute: the 5 of this one count in full, at first
    assert [client.get("/api/v1/clinics").status_code for _ in range(6)] == [200] * 5 + [429]


def test_validation_errors_list_each_field(api):
    response = api("clinician").post(PATIENTS, {"full_name": "", "date_of_birth": "yesterday"})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert set(body["errors"]) == {"mrn", "full_name", "date_of_birth"}
    assert all(isinstance(messages, list) and messages for messages in body["errors"].values())


def test_a_method_the_resource_does_not_have_is_405_in_the_same_shape(api):
    response = api("clinician").delete(PATIENTS)
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.', "errors": {}}


def test_a_body_the_endpoint_cannot_parse_is_415_and_malformed_json_is_400(api, staff):
    client = api("clinician")
    response = client.post(PATIENTS, "mrn=1", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["errors"] == {}
    response = client.post(PATIENTS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_the_management_command_makes_lists_and_revokes_tokens(staff):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "api_token",
        "create",
        staff.clinician.username,
        "--name",
        "EHR",
        "--expires-in-days",
        "30",
        stdout=out,
        stderr=err,
    )
    key = out.getvalue().strip()
    assert key.startswith("sc_") and "shown only now" in err.getvalue()
    token = ApiToken.objects.get(user=staff.clinician)
    assert token.expires_at > timezone.now() + datetime.timedelta(days=29)
    assert APIClient().get("/api/v1/clinics", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200

    listing = io.StringIO()
    call_command("api_token", "list", "--user", staff.clinician.username, stdout=listing)
    assert token.prefix in listing.getvalue() and key not in listing.getvalue()

    call_command("api_token", "revoke", str(token.pk), stdout=io.StringIO())
    assert APIClient().get("/api/v1/clinics", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_an_operator_makes_a_token_in_the_admin_and_sees_its_key_once(client, staff, django_user_model):
    operator = django_user_model.objects.create_superuser("operator", "op@example.org", "correct horse battery")
    client.force_login(operator)
    response = client.post(
        "/admin/predictions/apitoken/add/", {"user": staff.clinician.pk, "name": "Intake app"}, follow=True
    )
    assert response.status_code == 200
    [key] = [word for m in response.context["messages"] for word in str(m).split() if word.startswith("sc_")]
    token = ApiToken.objects.get(name="Intake app")
    assert token.user == staff.clinician and token.created_by == operator
    assert APIClient().get("/api/v1/clinics", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    # The key is nowhere on the token's page afterwards.
    assert key not in client.get(f"/admin/predictions/apitoken/{token.pk}/change/").content.decode()
