"""Similar cases without the model or the shared HAM10000 data: a SimilarCase row written by hand and its
thumbnail file in a temporary reference folder, so that these checks run everywhere (test_similar_cases.py
covers the real model's cases where the data is present): the thumbnails reach only members of the
prediction's clinic, in the portal and the API, and reading the cases through the API is on the audit trail."""

import io

import pytest
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from mlcore.reference import THUMBS_DIR, index_dirname
from predictions.models import AuditEvent, SimilarCase
from tests.api.conftest import succeeded, token_client

from .factories import LesionImageFactory, PredictionFactory

pytestmark = pytest.mark.django_db

REFERENCE_ID = "ISIC_0000001"


@pytest.fixture
def case(staff, settings, tmp_path) -> SimilarCase:
    """A finished prediction of the staff's clinic with one similar case whose thumbnail is on disk."""
    prediction = succeeded(PredictionFactory(image=LesionImageFactory(lesion=staff.lesion)))
    settings.SKINCLINIC_REFERENCE_DIR = str(tmp_path)
    thumbs = tmp_path / index_dirname(prediction.model_version) / THUMBS_DIR
    thumbs.mkdir(parents=True)
    Image.new("RGB", (64, 48), (180, 120, 100)).save(thumbs / f"{REFERENCE_ID}.jpg", "JPEG")
    return SimilarCase.objects.create(
        prediction=prediction,
        rank=1,
        reference_id=REFERENCE_ID,
        dx="mel",
        dx_type="histo",
        age=55.0,
        sex="male",
        site="back",
        similarity=0.93,
    )


def reads() -> list[AuditEvent]:
    """The records written by the requests under test (the token's creation left out)."""
    return list(AuditEvent.objects.exclude(action="api_token.create").order_by("id"))


def _thumbnail_url(case: SimilarCase, rank: int | None = None) -> str:
    return f"/api/v1/predictions/{case.prediction_id}/similar-cases/{rank or case.rank}/thumbnail"


@pytest.mark.parametrize("role", ["clinician", "reviewer", "admin"])
def test_reading_the_similar_cases_through_the_api_is_recorded(staff, case, role):
    user = staff.role(role)
    client = token_client(user)
    body = client.get(
        f"/api/v1/predictions/{case.prediction_id}/similar-cases",
        REMOTE_ADDR="198.51.100.7",
        HTTP_USER_AGENT="client/1.0",
    ).json()
    assert body["status"] == "shown" and [c["reference_id"] for c in body["cases"]] == [REFERENCE_ID]
    thumb = client.get(body["cases"][0]["thumbnail"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    listed, downloaded = reads()
    for event in (listed, downloaded):
        assert (event.action, event.actor, event.clinic) == ("prediction.view", user, staff.clinic)
        assert (event.target_type, event.target_id) == ("predictions.prediction", str(case.prediction_id))
        assert event.data["via"] == "api"
    assert listed.data["similar_cases"] == "shown" and listed.ip_address == "198.51.100.7"
    assert downloaded.data["similar_case_thumbnail"] == 1


def test_a_missing_thumbnail_or_another_clinics_prediction_leaves_no_record(staff, case):
    assert token_client(staff.clinician).get(_thumbnail_url(case, rank=2)).status_code == 404
    outsider = token_client(staff.outsider)
    assert outsider.get(f"/api/v1/predictions/{case.prediction_id}/similar-cases").status_code == 404
    assert outsider.get(_thumbnail_url(case)).status_code == 404
    assert reads() == []


def _portal_thumbnail_url(case: SimilarCase, rank: int | None = None) -> str:
    return reverse("portal:prediction-similar-thumbnail", args=[case.prediction_id, rank or case.rank])


@pytest.mark.parametrize("role", ["clinician", "reviewer", "admin"])
def test_members_get_the_portal_thumbnail_and_another_clinics_admin_gets_404(client, staff, case, role):
    client.force_login(staff.role(role))
    response = client.get(_portal_thumbnail_url(case))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(response.streaming_content))) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (64, 48)
    assert client.get(_portal_thumbnail_url(case, rank=2)).status_code == 404

    client.force_login(staff.outsider)
    assert client.get(_portal_thumbnail_url(case)).status_code == 404


def test_signed_out_users_are_sent_to_sign_in_for_the_portal_thumbnail(client, case):
    response = client.get(_portal_thumbnail_url(case))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_api_thumbnail_reaches_members_only(staff, case):
    response = token_client(staff.reviewer).get(_thumbnail_url(case))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert token_client(staff.outsider).get(_thumbnail_url(case)).status_code == 404
    anonymous = APIClient()
    assert anonymous.get(_thumbnail_url(case)).status_code == 401
    assert anonymous.get(f"/api/v1/predictions/{case.prediction_id}/similar-cases").status_code == 401
