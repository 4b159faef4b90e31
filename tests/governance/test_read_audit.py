"""Reads of patient data are on the audit trail: each portal page of a record, each API read, each download
and each FHIR export writes one record (who, what, which action, from where); another clinic's user gets
404 and leaves none; the result page's polling writes none. Lists write one record per clinic on the page."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from predictions.models import AuditEvent, Review
from tests.api.conftest import succeeded, token_client
from tests.predictions.factories import (
    LesionFactory,
    LesionImageFactory,
    MembershipFactory,
    PatientFactory,
    PredictionFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ["clinician", "reviewer", "admin"]


@pytest.fixture
def records(staff) -> dict:
    first, second = LesionImageFactory(lesion=staff.lesion), LesionImageFactory(lesion=staff.lesion)
    prediction = succeeded(PredictionFactory(image=first))
    prediction.heatmap.save("heatmap.png", ContentFile(b"\x89PNG heat"), save=True)
    review = Review.objects.create(
        image=first, prediction=prediction, verdict="agree", diagnosis="mel", reviewer=staff.reviewer
    )
    return {
        "patient": staff.patient,
        "lesion": staff.lesion,
        "image": first,
        "second": second,
        "prediction": prediction,
        "review": review,
    }


def reads() -> list[AuditEvent]:
    """The records written by the request under test (the fixtures' own writes are left out)."""
    return list(AuditEvent.objects.exclude(action__in=["api_token.create"]).order_by("id"))


# (url, action, target key) of each read, by where it is served.
PORTAL_READS = [
    (lambda r: reverse("portal:patient-detail", args=[r["patient"].pk]), "patient.view", "patient"),
    (lambda r: reverse("portal:lesion-timeline", args=[r["lesion"].pk]), "lesion.view", "lesion"),
    (
        lambda r: (
            reverse("portal:lesion-timeline", args=[r["lesion"].pk])
            + f"?compare={r['image'].pk}&compare={r['second'].pk}"
        ),
        "image.compare",
        "lesion",
    ),
    (lambda r: reverse("portal:prediction-detail", args=[r["prediction"].pk]), "prediction.view", "prediction"),
    (lambda r: reverse("predictions:lesion-image-file", args=[r["image"].pk]), "image.download", "image"),
    (lambda r: reverse("predictions:prediction-heatmap", args=[r["prediction"].pk]), "heatmap.download", "prediction"),
]
API_READS = [
    (lambda r: f"/api/v1/patients/{r['patient'].pk}", "patient.view", "patient"),
    (lambda r: f"/api/v1/patients/{r['patient'].pk}/lesions", "lesion.list", "patient"),
    (lambda r: f"/api/v1/lesions/{r['lesion'].pk}", "lesion.view", "lesion"),
    (lambda r: f"/api/v1/lesions/{r['lesion'].pk}/images", "image.list", "lesion"),
    (lambda r: f"/api/v1/images/{r['image'].pk}", "image.view", "image"),
    (lambda r: f"/api/v1/images/{r['image'].pk}/file", "image.download", "image"),
    (lambda r: f"/api/v1/images/{r['image'].pk}/fhir", "fhir.export", "image"),
    (lambda r: f"/api/v1/predictions/{r['prediction'].pk}", "prediction.view", "prediction"),
    (lambda r: f"/api/v1/predictions/{r['prediction'].pk}/heatmap", "heatmap.download", "prediction"),
    (lambda r: f"/api/v1/reviews/{r['review'].pk}", "review.view", "review"),
]


def _ids(reads):
    return [action for _, action, _ in reads]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url, action, target", PORTAL_READS, ids=_ids(PORTAL_READS))
def test_each_portal_read_writes_one_record_of_who_what_and_from_where(
    client, staff, records, role, url, action, target
):
    user = staff.role(role)
    client.force_login(user)
    response = client.get(url(records), REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="TestBrowser/2.0")
    assert response.status_code == 200
    [event] = reads()
    obj = records[target]
    assert (event.action, event.actor, event.clinic) == (action, user, staff.clinic)
    assert (event.target_type, event.target_id) == (obj._meta.label_lower, str(obj.pk))
    assert (event.ip_address, event.user_agent, event.data["via"]) == ("203.0.113.5", "TestBrowser/2.0", "portal")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url, action, target", API_READS, ids=_ids(API_READS))
def test_each_api_read_writes_one_record_of_who_what_and_from_where(staff, records, role, url, action, target):
    user = staff.role(role)
    response = token_client(user).get(url(records), REMOTE_ADDR="198.51.100.5", HTTP_USER_AGENT="client/1.0")
    assert response.status_code == 200
    [event] = reads()
    obj = records[target]
    assert (event.action, event.actor, event.clinic) == (action, user, staff.clinic)
    assert (event.target_type, event.target_id) == (obj._meta.label_lower, str(obj.pk))
    assert (event.ip_address, event.user_agent, event.data["via"]) == ("198.51.100.5", "client/1.0", "api")


@pytest.mark.parametrize("url, action, target", PORTAL_READS, ids=_ids(PORTAL_READS))
def test_another_clinics_user_gets_404_in_the_portal_and_leaves_no_record(client, staff, records, url, action, target):
    client.force_login(staff.outsider)
    assert client.get(url(records)).status_code == 404
    assert reads() == []


@pytest.mark.parametrize("url, action, target", API_READS, ids=_ids(API_READS))
def test_another_clinics_user_gets_404_from_the_api_and_leaves_no_record(staff, records, url, action, target):
    assert token_client(staff.outsider).get(url(records)).status_code == 404
    assert reads() == []


def test_the_comparison_names_the_two_images_it_showed(client, staff, records):
    client.force_login(staff.reviewer)
    page = reverse("portal:lesion-timeline", args=[staff.lesion.pk])
    client.get(page, {"compare": [records["second"].pk, records["image"].pk]})
    [event] = reads()
    assert sorted(event.data["images"]) == sorted([records["image"].pk, records["second"].pk])


def test_the_fhir_export_names_the_prediction_and_review_it_reported(staff, records):
    token_client(staff.clinician).get(f"/api/v1/images/{records['image'].pk}/fhir")
    [event] = reads()
    assert (event.data["prediction"], event.data["review"]) == (records["prediction"].pk, records["review"].pk)


FRAGMENTS = ["portal:prediction-result", "portal:prediction-viewer", "portal:prediction-badge"]


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_polling_the_result_pages_fragments_writes_no_record(client, staff, fragment):
    prediction = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))  # queued: the page polls
    client.force_login(staff.clinician)
    client.get(reverse("portal:prediction-detail", args=[prediction.pk]))
    for _ in range(3):
        response = client.get(reverse(fragment, args=[prediction.pk]), headers={"HX-Request": "true"})
        assert response.status_code == 200
    assert [event.action for event in reads()] == ["prediction.view"]


def test_a_missing_heatmap_is_404_and_no_download_is_recorded(client, staff):
    prediction = succeeded(PredictionFactory(image=LesionImageFactory(lesion=staff.lesion)))
    client.force_login(staff.clinician)
    assert client.get(reverse("predictions:prediction-heatmap", args=[prediction.pk])).status_code == 404
    assert token_client(staff.clinician).get(f"/api/v1/predictions/{prediction.pk}/heatmap").status_code == 404
    assert reads() == []


def test_a_fhir_request_before_any_result_is_409_and_exports_nothing(staff):
    image = LesionImageFactory(lesion=staff.lesion)
    PredictionFactory(image=image)
    assert token_client(staff.clinician).get(f"/api/v1/images/{image.pk}/fhir").status_code == 409
    assert reads() == []


def test_the_reads_keep_the_chain_intact(client, staff, records):
    from predictions.services.audit_checkpoints import audit_chain_verify

    client.force_login(staff.clinician)
    for url, _, _ in PORTAL_READS:
        client.get(url(records))
    api = token_client(staff.reviewer)
    for url, _, _ in API_READS:
        api.get(url(records))
    assert len(reads()) == len(PORTAL_READS) + len(API_READS)
    assert audit_chain_verify().intact


# (url, action, target type, what the page shows of the records) of each list of patient data.
LIST_READS = [
    (
        "portal",
        lambda: reverse("portal:patient-list"),
        "patient.list",
        "predictions.patient",
        lambda r: {"patient": [r["patient"].pk]},
    ),
    (
        "portal",
        lambda: reverse("portal:dashboard"),
        "dashboard.view",
        "dashboard",
        lambda r: {"lesionimage": sorted([r["image"].pk, r["second"].pk])},
    ),
    (
        "api",
        lambda: "/api/v1/patients",
        "patient.list",
        "predictions.patient",
        lambda r: {"patient": [r["patient"].pk]},
    ),
    (
        "api",
        lambda: "/api/v1/predictions",
        "prediction.list",
        "predictions.prediction",
        lambda r: {"prediction": [r["prediction"].pk]},
    ),
    ("api", lambda: "/api/v1/reviews", "review.list", "predictions.review", lambda r: {"review": [r["review"].pk]}),
]


LIST_IDS = [f"{action}-{via}" for via, _, action, _, _ in LIST_READS]


def _get(client, via: str, url: str, user):
    if via == "api":
        return token_client(user).get(url, REMOTE_ADDR="198.51.100.7")
    client.force_login(user)
    return client.get(url, REMOTE_ADDR="198.51.100.7")


def _sorted_rows(shown: dict) -> dict:
    return {kind: sorted(ids) for kind, ids in shown.items()}


@pytest.mark.parametrize("via, url, action, target_type, expected", LIST_READS, ids=LIST_IDS)
def test_a_list_of_patient_data_writes_one_record_naming_the_rows_it_showed(
    client, staff, records, via, url, action, target_type, expected
):
    assert _get(client, via, url(), staff.reviewer).status_code == 200
    [event] = [e for e in reads() if e.action == action]
    assert (event.actor, event.clinic, event.target_type, event.target_id) == (
        staff.reviewer,
        staff.clinic,
        target_type,
        "",
    )
    assert (event.ip_address, event.data["via"]) == ("198.51.100.7", via)
    assert _sorted_rows(event.data["shown"]) == expected(records)


@pytest.mark.parametrize("via, url, action, target_type, expected", LIST_READS, ids=LIST_IDS)
def test_an_empty_list_records_nothing(client, staff, records, via, url, action, target_type, expected):
    assert _get(client, via, url(), staff.outsider).status_code == 200  # their clinic has no records
    assert [e for e in reads() if e.action == action] == []


@pytest.mark.parametrize("via", ["portal", "api"])
def test_a_list_across_two_clinics_writes_each_clinic_a_record_of_its_own_rows(client, staff, via):
    MembershipFactory(user=staff.clinician, clinic=staff.other_clinic)
    other = PatientFactory(clinic=staff.other_clinic, created_by=staff.outsider)
    LesionFactory(patient=other)
    url = reverse("portal:patient-list") if via == "portal" else "/api/v1/patients"
    assert _get(client, via, url, staff.clinician).status_code == 200
    events = [e for e in reads() if e.action == "patient.list"]
    assert {(e.clinic, e.action) for e in events} == {
        (staff.clinic, "patient.list"),
        (staff.other_clinic, "patient.list"),
    }
    shown = {e.clinic: e.data["shown"] for e in events}
    assert shown == {staff.clinic: {"patient": [staff.patient.pk]}, staff.other_clinic: {"patient": [other.pk]}}


# The pages a writer fills in show the patient's details too (issue 13): each one shown is a read.
FORM_READS = [
    (lambda r: reverse("portal:patient-edit", args=[r["patient"].pk]), "edit"),
    (lambda r: reverse("portal:image-upload", args=[r["patient"].pk]), "upload"),
]
FORM_IDS = [page for _, page in FORM_READS]


@pytest.mark.parametrize("role", ["clinician", "admin"])
@pytest.mark.parametrize("url, page", FORM_READS, ids=FORM_IDS)
def test_the_patient_edit_and_upload_pages_write_a_read_record(client, staff, records, role, url, page):
    user = staff.role(role)
    client.force_login(user)
    response = client.get(url(records), REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    [event] = reads()
    assert (event.action, event.actor, event.clinic) == ("patient.view", user, staff.clinic)
    assert (event.target_type, event.target_id) == ("predictions.patient", str(records["patient"].pk))
    assert (event.ip_address, event.data["via"], event.data["page"]) == ("203.0.113.9", "portal", page)


def test_the_upload_page_record_names_the_lesions_it_listed(client, staff, records):
    client.force_login(staff.clinician)
    client.get(reverse("portal:image-upload", args=[records["patient"].pk]))
    [event] = reads()
    assert event.data["shown"] == {"lesion": [records["lesion"].pk]}


@pytest.mark.parametrize("url, page", FORM_READS, ids=FORM_IDS)
def test_the_edit_and_upload_pages_refused_to_a_reviewer_or_an_outsider_leave_no_record(
    client, staff, records, url, page
):
    client.force_login(staff.reviewer)
    assert client.get(url(records)).status_code == 403
    client.force_login(staff.outsider)
    assert client.get(url(records)).status_code == 404
    assert reads() == []
