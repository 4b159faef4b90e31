"""The FHIR R4 export of an image's result, validated by fhir.resources."""

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation

from mlcore import CLASSES
from predictions.api.fhir import CLASS_SYSTEM
from predictions.models import Review
from tests.predictions.factories import LesionImageFactory, PredictionFactory

from .conftest import EVERYONE, succeeded

pytestmark = pytest.mark.django_db


def fhir_url(image_id):
    return f"/api/v1/images/{image_id}/fhir"


def export(client, image_id) -> tuple[Bundle, dict]:
    response = client.get(fhir_url(image_id), HTTP_ACCEPT="application/fhir+json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/fhir+json"
    bundle = Bundle.model_validate_json(response.content)  # raises on anything that is not valid R4(B)
    resources = {}
    for entry in bundle.entry:
        resources.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    return bundle, resources


def only(resources, kind):
    [resource] = resources[kind]
    return resource


def test_the_bundle_is_valid_and_holds_report_observation_media_device_patient(api, staff, prediction):
    bundle, resources = export(api("clinician"), prediction.image_id)
    assert bundle.type == "collection"
    assert sorted(resources) == ["Device", "DiagnosticReport", "Media", "Observation", "Organization", "Patient"]
    # Every reference names an entry of the bundle.
    full_urls = {entry.fullUrl for entry in bundle.entry}
    references = []

    def collect(value):
        if isinstance(value, dict):
            if "reference" in value:
                references.append(value["reference"])
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(bundle.model_dump())
    assert references and set(references) <= full_urls


def test_the_observation_codes_the_top_class_and_each_class_probability(api, staff, prediction):
    _, resources = export(api("clinician"), prediction.image_id)
    observation: Observation = only(resources, "Observation")
    [coding] = observation.valueCodeableConcept.coding
    assert (coding.system, coding.code, coding.display) == (CLASS_SYSTEM, "mel", "Melanoma")
    probabilities = {c.code.coding[0].code: float(c.valueQuantity.value) for c in observation.component}
    assert {code: probabilities[code] for code in CLASSES} == pytest.approx(prediction.probabilities)
    assert probabilities["malignancy-risk"] == pytest.approx(prediction.malignancy_risk)
    assert observation.bodySite.coding[0].code == "back"
    media, device = only(resources, "Media"), only(resources, "Device")
    [derived] = observation.derivedFrom
    assert derived.reference.endswith(media.id)
    assert observation.device.reference.endswith(device.id)
    assert device.version[0].value == "1.0" and device.deviceName[0].name == "test-colour"
    assert media.content.url == f"http://testserver/api/v1/images/{prediction.image_id}/file"
    assert media.content.contentType == "image/jpeg" and media.width == prediction.image.width


def test_the_report_is_preliminary_until_a_review_then_final(api, staff, prediction):
    client = api("clinician")
    _, resources = export(client, prediction.image_id)
    report: DiagnosticReport = only(resources, "DiagnosticReport")
    assert report.status == "preliminary" and only(resources, "Observation").status == "preliminary"
    assert "Not yet reviewed" in report.conclusion
    assert report.conclusionCode[0].coding[0].code == "mel"

    api("reviewer").post(
        "/api/v1/reviews",
        {
            "image": prediction.image_id,
            "prediction": prediction.pk,
            "verdict": "agree",
            "histopathology_confirmed": True,
        },
    )
    _, resources = export(client, prediction.image_id)
    report = only(resources, "DiagnosticReport")
    assert report.status == "final" and only(resources, "Observation").status == "final"
    assert "agrees" in report.conclusion and "histopathology" in report.conclusion
    practitioner = only(resources, "Practitioner")
    assert report.resultsInterpreter[0].reference.endswith(practitioner.id)


def test_an_override_becomes_the_reports_conclusion(api, staff, prediction):
    Review.objects.create(
        image=prediction.image, prediction=prediction, verdict="override", diagnosis="bkl", reviewer=staff.reviewer
    )
    _, resources = export(api("admin"), prediction.image_id)
    report = only(resources, "DiagnosticReport")
    assert report.status == "final"
    assert report.conclusionCode[0].coding[0].code == "bkl"
    assert "overriding the model" in report.conclusion
    assert only(resources, "Observation").valueCodeableConcept.coding[0].code == "mel"  # what the model said


def test_the_patient_is_identified_by_the_clinics_mrn(api, staff, prediction):
    _, resources = export(api("reviewer"), prediction.image_id)
    patient = only(resources, "Patient")
    [identifier] = patient.identifier
    assert identifier.value == staff.patient.mrn and staff.clinic.slug in identifier.system
    assert identifier.type.coding[0].code == "MR"


def test_exporting_twice_gives_the_same_resource_ids(api, prediction):
    first, _ = export(api("clinician"), prediction.image_id)
    second, _ = export(api("clinician"), prediction.image_id)
    assert [e.fullUrl for e in first.entry] == [e.fullUrl for e in second.entry]


def test_an_uncertain_result_carries_an_interpretation(api, prediction):
    succeeded(prediction, probabilities=dict(zip(CLASSES, [0.2, 0.15, 0.15, 0.1, 0.2, 0.1, 0.1])))
    _, resources = export(api("clinician"), prediction.image_id)
    [interpretation] = only(resources, "Observation").interpretation
    assert interpretation.coding[0].code == "uncertain"


def test_the_current_model_versions_result_is_reported_over_an_older_one(api, staff, image, fake_classifier):
    old = succeeded(PredictionFactory(image=image, model_version="old:0.1"))
    current = succeeded(PredictionFactory(image=image))
    _, resources = export(api("clinician"), image.pk)
    assert only(resources, "Device").identifier[0].value == current.model_version != old.model_version


def test_there_is_no_report_until_a_prediction_succeeded(api, staff):
    queued = PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))
    response = api("clinician").get(fhir_url(queued.image_id))
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


@pytest.mark.parametrize("role", EVERYONE + ["anonymous"])
def test_the_report_reaches_members_of_the_clinic_only(api, prediction, role):
    expected = {"outsider": 404, "anonymous": 401}.get(role, 200)
    assert api(role).get(fhir_url(prediction.image_id)).status_code == expected


def test_a_result_the_model_refers_carries_the_referral_as_an_interpretation_and_in_the_conclusion(api, prediction):
    succeeded(prediction)
    prediction.refer, prediction.referral_threshold, prediction.assessable = True, 0.12, True
    prediction.save()
    _, resources = export(api("clinician"), prediction.image_id)
    [interpretation] = only(resources, "Observation").interpretation
    assert interpretation.coding[0].code == "refer"
    assert interpretation.coding[0].display == "Refer: suspicious for a malignant lesion"
    assert "Refer: suspicious for a malignant lesion" in only(resources, "DiagnosticReport").conclusion
