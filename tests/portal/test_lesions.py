"""Lesions in the portal: create and edit with a side and a point on the body map, archive and restore, merge two
records of one lesion, and the patient's body map coloured by each lesion's status."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from predictions.models import AuditEvent, Lesion, LesionImage, Review
from predictions.services.lesion_updates import lesion_merge
from tests.predictions.factories import LesionFactory, LesionImageFactory, PatientFactory

from .conftest import PROBABILITIES_NEVUS_20_PERCENT_RISK, PROBABILITIES_UNCERTAIN_MELANOMA, succeeded

PLACED = {
    "label": "Below the left scapula",
    "site": "back",
    "laterality": "left",
    "body_view": "back",
    "body_x": "0.32",
    "body_y": "0.28",
    "notes": "Irregular border.",
}


def test_a_clinician_starts_following_a_lesion_with_its_side_and_a_point_on_the_body_map(client, staff):
    client.force_login(staff.clinician)
    response = client.post(reverse("portal:lesion-create", args=[staff.patient.pk]), PLACED)
    lesion = Lesion.objects.get(label="Below the left scapula")
    assert response.status_code == 302 and response["Location"] == reverse("portal:lesion-timeline", args=[lesion.pk])
    assert (lesion.laterality, lesion.body_view, lesion.body_x, lesion.body_y) == ("left", "back", 0.32, 0.28)
    assert lesion.site == "back" and lesion.created_by == staff.clinician
    assert AuditEvent.objects.filter(action="lesion.create", target_id=str(lesion.pk)).exists()


def test_half_a_point_is_refused_with_a_message_and_nothing_is_stored(client, staff):
    client.force_login(staff.clinician)
    response = client.post(
        reverse("portal:lesion-create", args=[staff.patient.pk]), {**PLACED, "body_x": "", "label": "Half placed"}
    )
    assert response.status_code == 200 and not Lesion.objects.filter(label="Half placed").exists()
    assert "Place the lesion on the body map" in response.content.decode()


def test_editing_a_lesion_moves_its_point_and_the_audit_names_what_changed(client, staff):
    client.force_login(staff.clinician)
    client.post(
        reverse("portal:lesion-edit", args=[staff.lesion.pk]),
        {**PLACED, "label": staff.lesion.label, "site": staff.lesion.site, "notes": staff.lesion.notes},
    )
    staff.lesion.refresh_from_db()
    assert (staff.lesion.body_view, staff.lesion.body_x) == ("back", 0.32)
    event = AuditEvent.objects.get(action="lesion.update", target_id=str(staff.lesion.pk))
    assert set(event.data["changed"]) >= {"body_view", "body_x", "body_y", "laterality"}


def test_only_clinicians_and_admins_manage_lesions_and_another_clinic_finds_nothing(client, staff):
    client.force_login(staff.reviewer)
    assert client.post(reverse("portal:lesion-create", args=[staff.patient.pk]), PLACED).status_code == 403
    assert client.post(reverse("portal:lesion-archive", args=[staff.lesion.pk])).status_code == 403
    client.force_login(staff.outsider)
    assert client.get(reverse("portal:lesion-edit", args=[staff.lesion.pk])).status_code == 404
    assert client.post(reverse("portal:lesion-merge", args=[staff.lesion.pk])).status_code == 404
    client.force_login(staff.admin)
    assert client.get(reverse("portal:lesion-edit", args=[staff.lesion.pk])).status_code == 200


def test_an_archived_lesion_leaves_the_map_the_open_risk_and_the_upload_choices_and_can_be_followed_again(
    client, staff
):
    succeeded(LesionImageFactory(lesion=staff.lesion), PROBABILITIES_UNCERTAIN_MELANOMA)
    client.force_login(staff.clinician)
    client.post(reverse("portal:lesion-archive", args=[staff.lesion.pk]))
    staff.lesion.refresh_from_db()
    assert staff.lesion.archived_at is not None and staff.lesion.archived_by == staff.clinician
    detail = client.get(reverse("portal:patient-detail", args=[staff.patient.pk]))
    assert list(detail.context["lesions"]) == [] and list(detail.context["archived_lesions"]) == [staff.lesion]
    row = next(
        p for p in client.get(reverse("portal:patient-list")).context["page"].object_list if p.pk == staff.patient.pk
    )
    assert row.open_risk is None and row.lesion_count == 0
    upload = client.get(reverse("portal:image-upload", args=[staff.patient.pk])).content.decode()
    assert f'value="{staff.lesion.pk}"' not in upload
    assert "Archived on" in client.get(reverse("portal:lesion-timeline", args=[staff.lesion.pk])).content.decode()
    client.post(reverse("portal:lesion-restore", args=[staff.lesion.pk]))
    staff.lesion.refresh_from_db()
    assert staff.lesion.archived_at is None
    assert [
        e.action
        for e in AuditEvent.objects.filter(
            target_id=str(staff.lesion.pk), action__in=["lesion.archive", "lesion.restore"]
        ).order_by("id")
    ] == ["lesion.archive", "lesion.restore"]


def test_merging_moves_the_images_with_their_results_and_reviews_and_archives_the_merged_record(client, staff):
    twin = LesionFactory(patient=staff.patient, label="Recorded twice")
    image = LesionImageFactory(lesion=twin)
    prediction = succeeded(image)
    Review.objects.create(image=image, prediction=prediction, verdict="agree", diagnosis="nv", reviewer=staff.reviewer)
    client.force_login(staff.clinician)
    response = client.post(reverse("portal:lesion-merge", args=[twin.pk]), {"target": staff.lesion.pk})
    assert response["Location"] == reverse("portal:lesion-timeline", args=[staff.lesion.pk])
    twin.refresh_from_db()
    assert twin.merged_into == staff.lesion and twin.archived_at is not None
    assert LesionImage.objects.get(pk=image.pk).lesion == staff.lesion
    timeline = client.get(reverse("portal:lesion-timeline", args=[staff.lesion.pk])).content.decode()
    assert 'data-reviewed-diagnosis="nv"' in timeline
    assert AuditEvent.objects.get(action="lesion.merge").data == {"into": staff.lesion.pk, "images": [image.pk]}


def test_a_merge_is_refused_across_patients_and_when_one_photograph_is_in_both(staff):
    other_patient = LesionFactory(patient=PatientFactory(clinic=staff.clinic))
    with pytest.raises(ValidationError, match="same patient"):
        lesion_merge(actor=staff.clinician, source=other_patient, target=staff.lesion)
    twin = LesionFactory(patient=staff.patient)
    photo = LesionImageFactory(lesion=staff.lesion)
    LesionImageFactory(lesion=twin, sha256=photo.sha256)
    with pytest.raises(ValidationError, match="stored in both"):
        lesion_merge(actor=staff.clinician, source=twin, target=staff.lesion)
    assert LesionImage.objects.filter(lesion=twin).count() == 1 and Lesion.objects.get(pk=twin.pk).archived_at is None


def test_the_patients_body_map_has_a_dot_per_placed_lesion_coloured_by_its_status(client, staff):
    referred = LesionFactory(patient=staff.patient, label="Referred", body_view="front", body_x=0.4, body_y=0.3)
    succeeded(
        LesionImageFactory(lesion=referred),
        PROBABILITIES_NEVUS_20_PERCENT_RISK,
        refer=True,
        referral_threshold=0.12,
        assessable=True,
    )
    reviewed = LesionFactory(patient=staff.patient, label="Excised", body_view="back", body_x=0.6, body_y=0.5)
    image = LesionImageFactory(lesion=reviewed)
    Review.objects.create(
        image=image,
        prediction=succeeded(image),
        verdict="override",
        diagnosis="mel",
        histopathology_confirmed=True,
        reviewer=staff.reviewer,
    )
    LesionFactory(patient=staff.patient, label="Not placed")
    client.force_login(staff.clinician)
    body = client.get(reverse("portal:patient-detail", args=[staff.patient.pk])).content.decode()
    assert body.count('class="body-map__dot ') == 2
    assert 'data-status="high"' in body and 'data-status="malignant"' in body
    assert "Referred: to refer or high risk" in body and "Excised: reviewed: malignant" in body
    assert reverse("portal:lesion-timeline", args=[referred.pk]) in body


def test_the_report_shows_the_lesion_on_the_body_map(client, staff):
    from .test_report import pdf_text

    staff.lesion.body_view, staff.lesion.body_x, staff.lesion.body_y = "front", 0.5, 0.4
    staff.lesion.laterality = "midline"
    staff.lesion.save()
    client.force_login(staff.clinician)
    text = pdf_text(client.get(reverse("portal:lesion-report", args=[staff.lesion.pk])).content)
    assert "Site on the body map" in text and "Front" in text and "midline" in text
