"""Everything that reads clinical records, already scoped to the clinics the user belongs to."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import models
from django.db.models import Case, Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.http import Http404

from mlcore import CLASS_NAMES, CLASSES

from . import permissions
from .interpretation import REVIEW_STANDING_ORDER
from .models import (
    AuditEvent,
    Clinic,
    HeatmapStatus,
    Lesion,
    LesionImage,
    Membership,
    Patient,
    Prediction,
    PredictionStatus,
    Review,
)

M = TypeVar("M", bound=models.Model)


def clinic_list(*, user) -> QuerySet[Clinic]:
    """The clinics the user is a member of (none for an anonymous user)."""
    if not user.is_authenticated:
        return Clinic.objects.none()
    return Clinic.objects.filter(memberships__user=user)


def scoped(queryset: QuerySet[M], *, user) -> QuerySet[M]:
    """Restrict a queryset of a clinical model to the user's clinics (via the model's CLINIC_PATH)."""
    path = queryset.model.CLINIC_PATH
    clinic_ids = clinic_list(user=user).values("id")
    return queryset.filter(**{f"{path}__id__in" if path else "id__in": clinic_ids})


def object_get_for_user(queryset: QuerySet[M] | type[M], *, user, pk) -> M:
    """The one answer to "may this user see this object?": the object, or 404 for another clinic's.

    404 rather than 403, so that ids of other clinics' records reveal nothing.
    """
    if isinstance(queryset, type):
        queryset = queryset.objects.all()
    try:
        return scoped(queryset, user=user).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from exc


def patient_list(*, user, clinic: Clinic | None = None) -> QuerySet[Patient]:
    patients = scoped(Patient.objects.select_related("clinic"), user=user)
    return patients.filter(clinic=clinic) if clinic is not None else patients


def lesion_list(*, user, patient: Patient | None = None) -> QuerySet[Lesion]:
    lesions = scoped(Lesion.objects.select_related("patient__clinic"), user=user)
    return lesions.filter(patient=patient) if patient is not None else lesions


def lesion_image_list(*, user, lesion: Lesion | None = None) -> QuerySet[LesionImage]:
    images = scoped(LesionImage.objects.select_related("lesion__patient__clinic", "uploaded_by"), user=user)
    return images.filter(lesion=lesion) if lesion is not None else images


def lesion_image_duplicate_list(*, user, clinic: Clinic, digests: list[str],
                                lesion: Lesion | None) -> list[LesionImage]:
    """Images of the clinic stored from the same uploaded bytes (SHA-256) as `digests`, outside `lesion`, oldest
    first, with their lesion and patient."""
    images = (lesion_image_list(user=user).filter(lesion__patient__clinic=clinic, sha256__in=set(digests))
              .select_related("lesion__patient"))
    if lesion is not None:
        images = images.exclude(lesion=lesion)
    return list(images.order_by("uploaded_at", "id"))


def prediction_list(*, user, image: LesionImage | None = None) -> QuerySet[Prediction]:
    predictions = scoped(Prediction.objects.select_related("image__lesion__patient__clinic"), user=user)
    return predictions.filter(image=image) if image is not None else predictions


def review_list(*, user, image: LesionImage | None = None) -> QuerySet[Review]:
    reviews = scoped(Review.objects.select_related("image", "prediction", "reviewer"), user=user)
    return reviews.filter(image=image) if image is not None else reviews


def audit_event_list(*, user, clinic: Clinic) -> QuerySet[AuditEvent]:
    """A clinic's audit trail, for its reviewers and administrators (PermissionDenied for anyone else)."""
    permissions.require(user, "governance.view", clinic)
    return AuditEvent.objects.filter(clinic=clinic).select_related("actor")


# --- Summaries for the portal's pages -------------------------------------------------------------------------
def _images_newest_first(queryset: QuerySet[LesionImage]) -> QuerySet[LesionImage]:
    # An image without a capture date counts as taken on its upload day.
    return queryset.annotate(taken_on=Coalesce("captured_at", TruncDate("uploaded_at"))).order_by(
        F("taken_on").desc(), "-uploaded_at", "-id")


def _latest_predictions(**outer) -> QuerySet[Prediction]:
    """Predictions of the newest image first, then the newest run of the model on it first."""
    return (Prediction.objects.filter(**outer)
            .annotate(taken_on=Coalesce("image__captured_at", TruncDate("image__uploaded_at")))
            .order_by(F("taken_on").desc(), "-image__uploaded_at", "-image_id", "-queued_at", "-id"))


def _lesions_with_standing_review(**outer) -> QuerySet[Lesion]:
    """Lesions annotated with the diagnosis that stands for them (`standing_diagnosis`, `standing_histopathology`):
    the newest histopathology-confirmed review of any of their images, else the newest review."""
    standing = Review.objects.filter(image__lesion=OuterRef("pk")).order_by(*REVIEW_STANDING_ORDER)
    return Lesion.objects.filter(**outer).annotate(
        standing_diagnosis=Subquery(standing.values("diagnosis")[:1]),
        standing_histopathology=Subquery(standing.values("histopathology_confirmed")[:1]),
    )


def patient_summary_list(*, user, query: str = "") -> QuerySet[Patient]:
    """The user's patients whose name or MRN contains `query`, each annotated with `lesion_count` (followed
    lesions); the highest open risk among their followed lesions (`open_risk`, with that result's
    `open_refer`, `open_referral_threshold` and `open_assessable`), a lesion's risk being open while the newest
    finished result of its newest image is unreviewed; and the standing diagnosis of a lesion reviewed as
    malignant (`reviewed_malignant_diagnosis`, `reviewed_malignant_histopathology`)."""
    from mlcore import MALIGNANT_CLASSES

    patients = patient_list(user=user)
    query = query.strip()
    if query:
        patients = patients.filter(Q(full_name__icontains=query) | Q(mrn__icontains=query))
    latest = _latest_predictions(image__lesion=OuterRef("pk"), status=PredictionStatus.SUCCEEDED).annotate(
        image_reviewed=Exists(Review.objects.filter(image=OuterRef("image"))))
    open_fields = {"open_risk": ("malignancy_risk", models.FloatField()),
                   "open_refer": ("refer", models.BooleanField()),
                   "open_referral_threshold": ("referral_threshold", models.FloatField()),
                   "open_assessable": ("assessable", models.BooleanField())}
    lesions = Lesion.objects.filter(patient=OuterRef("pk"), archived_at__isnull=True).annotate(**{
        name: Subquery(latest.annotate(value=Case(When(image_reviewed=True, then=Value(None)), default=F(field),
                                                  output_field=output)).values("value")[:1])
        for name, (field, output) in open_fields.items()}).filter(open_risk__isnull=False).order_by("-open_risk", "id")
    malignant = (_lesions_with_standing_review(patient=OuterRef("pk"), archived_at__isnull=True)
                 .filter(standing_diagnosis__in=MALIGNANT_CLASSES)
                 .order_by("-standing_histopathology", "id"))
    return patients.annotate(
        lesion_count=Count("lesions", filter=Q(lesions__archived_at__isnull=True), distinct=True),
        **{name: Subquery(lesions.values(name)[:1]) for name in open_fields},
        reviewed_malignant_diagnosis=Subquery(malignant.values("standing_diagnosis")[:1]),
        reviewed_malignant_histopathology=Subquery(malignant.values("standing_histopathology")[:1]),
    ).order_by("full_name", "id")


def lesion_summary_list(*, user, patient: Patient, archived: bool = False) -> QuerySet[Lesion]:
    """The patient's followed lesions (or, with `archived`, the archived ones), each annotated with its
    `image_count`, its newest image (`latest_image_id`), the newest prediction of that image
    (`latest_prediction_id`, `_status`, `_top_class`, `_risk`, `_refer`, `_referral_threshold`, `_assessable`)
    and the diagnosis that stands (`standing_diagnosis`, `standing_histopathology`)."""
    newest_image = _images_newest_first(LesionImage.objects.filter(lesion=OuterRef("pk")))
    newest_prediction = _latest_predictions(image__lesion=OuterRef("pk"))
    standing = Review.objects.filter(image__lesion=OuterRef("pk")).order_by(*REVIEW_STANDING_ORDER)
    return lesion_list(user=user, patient=patient).filter(archived_at__isnull=not archived).annotate(
        image_count=Count("images", distinct=True),
        latest_image_id=Subquery(newest_image.values("id")[:1]),
        latest_image_taken_on=Subquery(newest_image.values("taken_on")[:1]),
        latest_prediction_id=Subquery(newest_prediction.values("id")[:1]),
        latest_prediction_status=Subquery(newest_prediction.values("status")[:1]),
        latest_prediction_top_class=Subquery(newest_prediction.values("top_class")[:1]),
        latest_prediction_risk=Subquery(newest_prediction.values("malignancy_risk")[:1]),
        latest_prediction_refer=Subquery(newest_prediction.values("refer")[:1]),
        latest_prediction_referral_threshold=Subquery(newest_prediction.values("referral_threshold")[:1]),
        latest_prediction_assessable=Subquery(newest_prediction.values("assessable")[:1]),
        standing_diagnosis=Subquery(standing.values("diagnosis")[:1]),
        standing_histopathology=Subquery(standing.values("histopathology_confirmed")[:1]),
    ).order_by("id")


def lesion_timeline(*, user, lesion: Lesion) -> list[LesionImage]:
    """Every image of the lesion, oldest first, with `predictions` (all model versions, newest run first)
    and `reviews` (oldest first, with their reviewers) prefetched."""
    images = lesion_image_list(user=user, lesion=lesion).annotate(
        taken_on=Coalesce("captured_at", TruncDate("uploaded_at"))).order_by("taken_on", "uploaded_at", "id")
    return list(images.prefetch_related(
        Prefetch("predictions", queryset=Prediction.objects.order_by("-queued_at", "-id")),
        Prefetch("reviews",
                 queryset=Review.objects.select_related("reviewer", "prediction").order_by("created_at", "id")),
    ))


def prediction_get(*, user, pk) -> Prediction:
    """One prediction with its image, lesion, patient and clinic, or 404 outside the user's clinics."""
    return object_get_for_user(
        Prediction.objects.select_related("image__lesion__patient__clinic", "image__uploaded_by"), user=user, pk=pk)


@dataclass(frozen=True)
class ClassHeatmap:
    """One class whose evidence a prediction's viewer can show: the top class's heatmap (the prediction's own
    file) or a PredictionHeatmap, with its state: pending, stored or unavailable."""

    class_code: str
    class_name: str
    status: str
    error: str
    is_top: bool
    is_concern: bool


def prediction_class_heatmaps(*, prediction: Prediction) -> list[ClassHeatmap]:
    """The prediction's heatmaps per class, top class first, then the class of concern, then the rest; uses
    `prediction.class_heatmaps` as prefetched when it is. Empty until the prediction has a result."""
    if prediction.status != PredictionStatus.SUCCEEDED:
        return []
    concern = prediction.concern_class
    # The top class's file is the prediction's own: shown whenever it is there (as the viewer always did).
    top_status = HeatmapStatus.STORED if prediction.heatmap else prediction.heatmap_status
    found = [ClassHeatmap(prediction.top_class, CLASS_NAMES[prediction.top_class], top_status,
                          prediction.heatmap_error, is_top=True, is_concern=False)]
    others = sorted(prediction.class_heatmaps.all(),
                    key=lambda h: (h.class_code != concern, CLASSES.index(h.class_code)))
    found += [ClassHeatmap(h.class_code, CLASS_NAMES[h.class_code], h.status, h.error, is_top=False,
                           is_concern=h.class_code == concern) for h in others]
    return found


@dataclass(frozen=True)
class Dashboard:
    recent_images: list[LesionImage]
    in_progress: list[Prediction]
    failed: list[Prediction]
    high_risk_unreviewed: list[Prediction]  # the first `limit` of them, the highest risk first
    high_risk_unreviewed_total: int = 0
    cannot_assess: list[Prediction] = dataclasses.field(default_factory=list)


def prediction_needs_review_q() -> Q:
    """Results a human must see (as `interpretation.Interpretation.needs_review` says, in SQL): at or above the
    model's referral threshold, or, from a model without one, in the clinic's high band; not refused images."""
    without_threshold = Q(refer__isnull=True, referral_threshold__isnull=True,
                          malignancy_risk__gte=settings.SKINCLINIC_RISK_HIGH_AT)
    with_threshold = Q(refer__isnull=True, referral_threshold__isnull=False,
                       malignancy_risk__gte=F("referral_threshold"))
    return (Q(refer=True) | without_threshold | with_threshold) & ~Q(assessable=False)


def dashboard_get(*, user, limit: int = 10) -> Dashboard:
    """What needs a clinician's attention in the user's clinics: results to refer (or, from a model without a
    referral threshold, high-risk ones) whose image nobody has reviewed yet, with their total; images the
    model could not assess; predictions still queued or running; failed ones; and the newest uploads."""
    predictions = prediction_list(user=user).select_related("image__lesion__patient")
    recent = (lesion_image_list(user=user).select_related("lesion__patient")
              .prefetch_related(Prefetch("predictions", queryset=Prediction.objects.order_by("-queued_at", "-id")),
                                Prefetch("reviews", queryset=Review.objects.select_related("reviewer")))
              .order_by("-uploaded_at", "-id"))[:limit]
    reviewed = Review.objects.filter(image=OuterRef("image"))
    to_review = (predictions.filter(prediction_needs_review_q(), status=PredictionStatus.SUCCEEDED)
                 .filter(~Exists(reviewed)))
    return Dashboard(
        recent_images=list(recent),
        in_progress=list(predictions.filter(status__in=[PredictionStatus.QUEUED, PredictionStatus.RUNNING])
                         .order_by("queued_at", "id")[:limit]),
        failed=list(predictions.filter(status=PredictionStatus.FAILED).order_by("-finished_at", "-id")[:limit]),
        high_risk_unreviewed=list(to_review.order_by("-malignancy_risk", "-finished_at")[:limit]),
        high_risk_unreviewed_total=to_review.count(),
        cannot_assess=list(predictions.filter(status=PredictionStatus.SUCCEEDED, assessable=False)
                           .filter(~Exists(reviewed)).order_by("-finished_at", "-id")[:limit]),
    )


def membership_list(*, user) -> QuerySet[Membership]:
    """The user's memberships (clinic and role), for showing who is signed in where."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("clinic").order_by("clinic__name")
