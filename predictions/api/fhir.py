"""The FHIR R4 export of an image's result: a Bundle around a DiagnosticReport.

Built with the `fhir.resources` models of the R4 line (its R4B package, FHIR 4.3: the same DiagnosticReport,
Observation, Media and Device as 4.0.1), which validate every element as the bundle is put together:

- Observation: the top class as a coded value, one component per class probability and one for the
  malignancy risk, the body site, `derivedFrom` the image (Media), `device` the model (Device);
- DiagnosticReport: status `preliminary` until a clinician's review of the image exists, `final` after,
  with the reviewer's diagnosis as its conclusion;
- Patient (identified by the clinic's MRN), Organization (the clinic), Practitioner (the reviewer).

Entries are named by `urn:uuid:` fullUrls derived from the record ids, so exporting twice gives the
same ids and the references resolve inside the bundle.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from mlcore import CLASS_NAMES, CLASSES, MALIGNANT_CLASSES

from ..interpretation import prediction_interpret
from ..models import Prediction, Review, Verdict
from ..selectors import ImageReport

NAMESPACE = "urn:skinclinic"
CLASS_SYSTEM = f"{NAMESPACE}:fhir:CodeSystem:ham10000-diagnosis"
SITE_SYSTEM = f"{NAMESPACE}:fhir:CodeSystem:ham10000-localization"
LOCAL_SYSTEM = f"{NAMESPACE}:fhir:CodeSystem:skinclinic"
MODEL_SYSTEM = f"{NAMESPACE}:model"
USER_SYSTEM = f"{NAMESPACE}:user"
UCUM = "http://unitsofmeasure.org"
MEDIA_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/media-type"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, NAMESPACE)


def _full_url(kind: str, key) -> str:
    return f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, f'{kind}/{key}')}"


def _ref(full_url: str, display: str | None = None) -> dict:
    return {"reference": full_url, **({"display": display} if display else {})}


def class_coding(code: str) -> dict:
    return {"system": CLASS_SYSTEM, "code": code, "display": CLASS_NAMES[code]}


def _site(site: str) -> dict:
    return {"coding": [{"system": SITE_SYSTEM, "code": site, "display": site}], "text": site}


def _probability(value: float) -> dict:
    return {"value": round(float(value), 6), "unit": "probability", "system": UCUM, "code": "1"}


def _mrn_system(clinic) -> str:
    return f"{NAMESPACE}:clinic:{clinic.slug}:mrn"


def _interpretations(reading) -> list[dict]:
    """The referral verdict (when the model has an operating point, or refused the image) and the doubt flag."""
    said = []
    if reading.recommendation != "none":
        said.append(
            {
                "coding": [{"system": LOCAL_SYSTEM, "code": str(reading.recommendation), "display": reading.headline}],
                "text": reading.bands_note
                if reading.assessable
                else " ".join(reason.message for reason in reading.assessment_reasons) or reading.headline,
            }
        )
    if reading.uncertain:
        said.append(
            {
                "coding": [{"system": LOCAL_SYSTEM, "code": "uncertain", "display": "Uncertain"}],
                "text": " ".join(reading.uncertain_reasons),
            }
        )
    return said


def _conclusion(prediction: Prediction, reading, review: Review | None) -> str:
    said = (
        f"Model {prediction.model_version}: {reading.headline}. Most likely {CLASS_NAMES[prediction.top_class]} "
        f"({reading.top.probability:.0%}); malignancy risk {reading.risk:.0%} ({reading.band.label.lower()})."
    )
    if reading.has_threshold:
        said += f" Referral threshold {reading.referral_threshold:.0%}."
    if reading.assessment_reasons:
        said += " " + " ".join(reason.message for reason in reading.assessment_reasons)
    if reading.uncertain:
        said += " Flagged uncertain: " + " ".join(reading.uncertain_reasons)
    if review is None:
        return said + " Not yet reviewed by a clinician."
    who = review.reviewer.get_full_name() or review.reviewer.get_username()
    if review.verdict == Verdict.AGREE:
        verdict = f"Reviewed by {who}: agrees ({CLASS_NAMES[review.diagnosis]})."
    else:
        verdict = f"Reviewed by {who}: diagnosis {CLASS_NAMES[review.diagnosis]}, overriding the model."
    if review.histopathology_confirmed:
        verdict += " Confirmed by histopathology."
    return f"{verdict} {said}"


def image_fhir_bundle(report: ImageReport, *, file_url: str):
    """The Bundle (a fhir.resources R4B model) for an image whose prediction has succeeded.

    `file_url` is where the image itself can be fetched (the clinic-checked API view).
    """
    from fhir.resources.R4B.bundle import Bundle

    image, prediction, review = report.image, report.prediction, report.review
    if prediction is None:
        raise ValueError("the image has no finished prediction to report")
    reading = prediction_interpret(prediction)
    if reading is None:
        raise ValueError("the image's prediction has not succeeded")
    probabilities = prediction.probabilities
    assert probabilities  # prediction_interpret reads only a prediction that has them
    patient, clinic = image.lesion.patient, image.lesion.patient.clinic
    status = "final" if review is not None else "preliminary"
    taken = image.captured_at.isoformat() if image.captured_at else image.uploaded_at
    urls = {
        "Organization": _full_url("clinic", clinic.pk),
        "Patient": _full_url("patient", patient.pk),
        "Media": _full_url("image", image.pk),
        "Device": _full_url("model", prediction.model_version),
        "Observation": _full_url("prediction", prediction.pk),
        "DiagnosticReport": _full_url("report", f"{prediction.pk}/{review.pk if review else 0}"),
    }
    model_name, _, model_version = prediction.model_version.rpartition(":")
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Organization",
            "identifier": [{"system": f"{NAMESPACE}:clinic", "value": clinic.slug}],
            "name": clinic.name,
        },
        {
            "resourceType": "Patient",
            "identifier": [
                {
                    "use": "usual",
                    "system": _mrn_system(clinic),
                    "value": patient.mrn,
                    "type": {
                        "coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MR"}],
                        "text": "Medical record number",
                    },
                }
            ],
            "gender": patient.sex if patient.sex in ("male", "female") else "unknown",
            **({"birthDate": patient.date_of_birth.isoformat()} if patient.date_of_birth else {}),
            "managingOrganization": _ref(urls["Organization"], clinic.name),
        },
        {
            "resourceType": "Media",
            "status": "completed",
            "type": {"coding": [{"system": MEDIA_TYPE_SYSTEM, "code": "image", "display": "Image"}]},
            "subject": _ref(urls["Patient"]),
            "createdDateTime": taken,
            "bodySite": _site(image.site),
            "width": image.width,
            "height": image.height,
            "content": {
                "contentType": CONTENT_TYPES.get(image.format, "application/octet-stream"),
                "url": file_url,
                "size": image.size_bytes,
                "title": f"Lesion photograph {image.pk}",
            },
        },
        {
            "resourceType": "Device",
            "identifier": [{"system": MODEL_SYSTEM, "value": prediction.model_version}],
            "deviceName": [{"name": model_name or prediction.model_version, "type": "model-name"}],
            "version": [{"value": model_version or prediction.model_version}],
            "type": {"text": "Skin lesion image classifier (software)"},
            "manufacturer": "SkinClinic",
        },
        {
            "resourceType": "Observation",
            "status": status,
            "code": {
                "coding": [
                    {
                        "system": LOCAL_SYSTEM,
                        "code": "lesion-classification",
                        "display": "Skin lesion classification by image analysis",
                    }
                ]
            },
            "subject": _ref(urls["Patient"]),
            "effectiveDateTime": taken,
            "issued": prediction.finished_at,
            "valueCodeableConcept": {
                "coding": [class_coding(prediction.top_class)],
                "text": CLASS_NAMES[prediction.top_class],
            },
            **({"interpretation": said} if (said := _interpretations(reading)) else {}),
            "bodySite": _site(image.site),
            "method": {"text": f"Convolutional neural network {prediction.model_version}"},
            "device": _ref(urls["Device"], prediction.model_version),
            "derivedFrom": [_ref(urls["Media"])],
            "component": [
                *(
                    {"code": {"coding": [class_coding(code)]}, "valueQuantity": _probability(probabilities[code])}
                    for code in CLASSES
                    if code in probabilities
                ),
                {
                    "code": {
                        "coding": [
                            {
                                "system": LOCAL_SYSTEM,
                                "code": "malignancy-risk",
                                "display": "Malignancy risk (" + " + ".join(MALIGNANT_CLASSES) + ")",
                            }
                        ]
                    },
                    "valueQuantity": _probability(reading.risk),
                },
            ],
        },
    ]
    diagnosis = review.diagnosis if review is not None else prediction.top_class
    diagnostic_report = {
        "resourceType": "DiagnosticReport",
        "status": status,
        "code": {
            "coding": [
                {"system": LOCAL_SYSTEM, "code": "lesion-image-report", "display": "Skin lesion image analysis report"}
            ]
        },
        "subject": _ref(urls["Patient"]),
        "effectiveDateTime": taken,
        "issued": prediction.finished_at,
        "performer": [_ref(urls["Organization"], clinic.name)],
        "result": [_ref(urls["Observation"])],
        "media": [{"link": _ref(urls["Media"]), "comment": "The photograph analysed"}],
        "conclusion": _conclusion(prediction, reading, review),
        "conclusionCode": [{"coding": [class_coding(diagnosis)], "text": CLASS_NAMES[diagnosis]}],
    }
    if review is not None:
        urls["Practitioner"] = _full_url("user", review.reviewer_id)
        resources.append(
            {
                "resourceType": "Practitioner",
                "identifier": [{"system": USER_SYSTEM, "value": str(review.reviewer_id)}],
                "name": [{"text": review.reviewer.get_full_name() or review.reviewer.get_username()}],
            }
        )
        diagnostic_report["resultsInterpreter"] = [_ref(urls["Practitioner"])]
    resources.insert(0, diagnostic_report)
    # JSON-shaped dicts, which the model validates into its element types (the signature mypy derives from
    # the model's fields names only those types).
    elements: dict[str, Any] = {
        "type": "collection",
        "timestamp": timezone.now(),
        "identifier": {
            "system": f"{NAMESPACE}:fhir:bundle",
            "value": urls["DiagnosticReport"].removeprefix("urn:uuid:"),
        },
        "entry": [
            {"fullUrl": urls[r["resourceType"]], "resource": {**r, "id": urls[r["resourceType"]][9:]}}
            for r in resources
        ],
    }
    return Bundle(**elements)
