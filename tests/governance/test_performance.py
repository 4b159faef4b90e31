"""Real-world performance: predictions against reviewed diagnoses, checked against counts made by hand."""

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from predictions.models import AuditEvent
from predictions.selectors import performance_report

from .helpers import V1, V2

pytestmark = pytest.mark.django_db


def figures(report, version):
    return report.figures[version]


def test_agreement_confusion_matrix_and_recall_match_hand_counts(staff, reviewed):
    report = performance_report(user=staff.reviewer, clinic=staff.clinic)
    assert report.versions == [V1, V2]
    v1 = figures(report, V1)
    assert (v1["n"], v1["agreed"], v1["agreement_rate"]) == (6, 3, 0.5)
    assert (v1["melanomas"], v1["melanomas_detected"]) == (3, 1)
    assert v1["melanoma_sensitivity"] == pytest.approx(1 / 3)
    recall = v1["per_class_recall"]
    assert recall["mel"] == {"support": 3, "correct": 1, "recall": pytest.approx(1 / 3)}
    assert recall["nv"] == {"support": 2, "correct": 1, "recall": 0.5}
    assert recall["bcc"] == {"support": 1, "correct": 1, "recall": 1.0}
    assert recall["akiec"] == {"support": 0, "correct": 0, "recall": None}

    labels = v1["confusion_matrix"]["labels"]
    assert labels == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    cells = {
        (labels[i], labels[j]): count
        for i, row in enumerate(v1["confusion_matrix"]["matrix"])
        for j, count in enumerate(row)
        if count
    }
    assert cells == {
        ("mel", "mel"): 1,
        ("mel", "nv"): 1,
        ("mel", "bkl"): 1,
        ("nv", "mel"): 1,
        ("nv", "nv"): 1,
        ("bcc", "bcc"): 1,
    }

    v2 = figures(report, V2)
    assert (v2["n"], v2["agreement_rate"], v2["melanoma_sensitivity"], v2["melanomas"]) == (3, 1.0, 1.0, 2)


def test_subgroups_by_sex_age_band_and_site_match_hand_counts(staff, reviewed):
    groups = figures(performance_report(user=staff.admin, clinic=staff.clinic), V1)["subgroups"]

    def table(kind):
        return {
            row["group"]: (row["n"], row["agreed"], row["melanomas"], row["melanomas_detected"]) for row in groups[kind]
        }

    assert table("sex") == {"female": (3, 1, 3, 1), "male": (3, 2, 0, 0)}
    assert [row["group"] for row in groups["age_band"]] == ["0-29", "30-44", "45-59", "60-74", "75+", "unknown"]
    assert table("age_band") == {
        "0-29": (1, 1, 1, 1),
        "30-44": (1, 0, 1, 0),
        "45-59": (1, 0, 1, 0),
        "60-74": (1, 0, 0, 0),
        "75+": (1, 1, 0, 0),
        "unknown": (1, 1, 0, 0),
    }
    assert table("site") == {"back": (3, 2, 1, 1), "face": (2, 0, 2, 0), "trunk": (1, 1, 0, 0)}
    male = next(row for row in groups["sex"] if row["group"] == "male")
    assert male["melanoma_sensitivity"] is None  # no reviewed melanoma: no figure, not 0


def test_histopathology_only_and_a_single_version(staff, reviewed):
    report = performance_report(user=staff.reviewer, clinic=staff.clinic, histopathology_only=True)
    assert report.versions == [V1]
    assert (figures(report, V1)["n"], figures(report, V1)["agreed"], figures(report, V1)["melanomas"]) == (1, 0, 1)
    only_v2 = performance_report(user=staff.reviewer, clinic=staff.clinic, model_version=V2)
    assert only_v2.versions == [V2]


def test_clinicians_and_other_clinics_get_no_figures(staff, reviewed):
    for user in (staff.clinician, staff.outsider):
        with pytest.raises(PermissionDenied):
            performance_report(user=user, clinic=staff.clinic)


def test_the_page_draws_the_charts_and_records_the_view(staff, reviewed, client):
    client.force_login(staff.reviewer)
    response = client.get(reverse("governance:performance", args=[staff.clinic.pk]), REMOTE_ADDR="192.0.2.44")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<svg") >= 2 * (2 + 3)  # per version: confusion matrix, recall, three subgroup charts
    assert "Confusion matrix, model:1" in body and "3 of 6" in body
    assert response["Cache-Control"].startswith("max-age=0")
    event = AuditEvent.objects.get(action="performance.view")
    assert (event.actor, event.clinic, event.ip_address) == (staff.reviewer, staff.clinic, "192.0.2.44")


def test_the_json_endpoint_returns_the_same_figures_and_is_recorded_as_an_export(staff, reviewed, client):
    client.force_login(staff.admin)
    url = reverse("governance:performance-json", args=[staff.clinic.pk])
    data = client.get(url, {"version": V1}).json()
    assert [v["model_version"] for v in data["model_versions"]] == [V1]
    expected = performance_report(user=staff.admin, clinic=staff.clinic, model_version=V1).as_dict()
    assert data == json.loads(json.dumps(expected))
    assert AuditEvent.objects.filter(action="performance.export", actor=staff.admin).count() == 1


@pytest.mark.parametrize("role,status", [("clinician", 403), ("outsider", 404)])
def test_the_page_refuses_clinicians_and_hides_from_other_clinics(staff, client, role, status):
    client.force_login(staff.role(role))
    for name in ("governance:performance", "governance:performance-json"):
        assert client.get(reverse(name, args=[staff.clinic.pk])).status_code == status
    assert not AuditEvent.objects.filter(action__startswith="performance.").exists()


def test_signed_out_users_are_sent_to_sign_in(staff, client):
    response = client.get(reverse("governance:performance", args=[staff.clinic.pk]))
    assert response.status_code == 302 and "login" in response["Location"]
