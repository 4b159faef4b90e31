"""The clinical records: who belongs to which clinic, their patients' lesions, images, predictions and reviews.

Every model that holds patient data names the path to its clinic in `CLINIC_PATH`; the one scoping
helper in selectors.py uses it, so no query of patient data forgets the clinic.
"""

from .audit import AuditAction, AuditEvent
from .clinics import Clinic, Membership, Role
from .predictions import (
    DiagnosisClass,
    HeatmapStatus,
    Prediction,
    PredictionHeatmap,
    PredictionStatus,
    WorkerHeartbeat,
)
from .queue import ReviewCase, ReviewCaseReason, ReviewCaseState, ReviewReason
from .records import Lesion, LesionImage, Patient, Sex, Site
from .registry import ModelVersion
from .reviews import Review, Verdict

__all__ = [
    "AuditAction",
    "AuditEvent",
    "Clinic",
    "Membership",
    "Role",
    "Patient",
    "Lesion",
    "LesionImage",
    "Sex",
    "Site",
    "DiagnosisClass",
    "HeatmapStatus",
    "Prediction",
    "PredictionHeatmap",
    "PredictionStatus",
    "Review",
    "Verdict",
    "WorkerHeartbeat",
    "ModelVersion",
    "ReviewCase",
    "ReviewCaseReason",
    "ReviewCaseState",
    "ReviewReason",
]

# The REST API's own records (tokens, idempotent responses) and the clinics' webhooks.
from .api import ApiToken, IdempotencyRecord  # noqa: E402
from .webhooks import (  # noqa: E402
    AttemptOutcome,
    DeliveryError,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ += [
    "ApiToken",
    "IdempotencyRecord",
    "AttemptOutcome",
    "DeliveryError",
    "DeliveryStatus",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]

# The reference cases most similar to a prediction's image (the public reference set, no patient data).
from .similar_cases import Confirmation, SimilarCase  # noqa: E402

__all__ += ["Confirmation", "SimilarCase"]
