"""Representations of the clinical records for the API, and the input each write accepts.

Output serializers read only what the selectors joined or prefetched (no queries here); input
serializers only check shapes and types, the services check everything else.
"""

from __future__ import annotations

import json
from datetime import tzinfo

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from mlcore import CLASS_NAMES

from ..interpretation import prediction_interpret
from ..links import ApiLinks
from ..models import (
    DiagnosisClass,
    HeatmapStatus,
    Lesion,
    LesionImage,
    Patient,
    Prediction,
    PredictionStatus,
    Review,
    Sex,
    Site,
    Verdict,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from ..models.records import BodyView, Laterality
from ..selectors import prediction_class_heatmaps, scoped


def api_links(context: dict) -> ApiLinks:
    """The links of one response: absolute to the request's scheme and host (worked out once per request),
    or paths when there is no request (as in webhook bodies)."""
    request = context.get("request")
    if request is None:
        return ApiLinks()
    links = getattr(request, "_api_links", None)
    if links is None:
        links = request._api_links = ApiLinks(request.build_absolute_uri("/")[:-1])
    return links


def api_url(context: dict, name: str, pk) -> str:
    """The absolute URL of an API resource (a path when there is no request, as in webhook bodies)."""
    return api_links(context).url(name, pk)


class LinkField(serializers.Field):
    """A read-only absolute link to an API view taking the object's id (or another attribute's value)."""

    def __init__(self, view_name: str, lookup: str = "pk", **kwargs):
        self.view_name, self.lookup = view_name, lookup
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, instance):
        return api_url(self.context, self.view_name, getattr(instance, self.lookup))


extend_schema_field({"type": "string", "format": "uri", "readOnly": True})(LinkField)


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """An id of a record of the requesting user's clinics; any other id reads as nonexistent."""

    def get_queryset(self):
        return scoped(super().get_queryset(), user=self.context["request"].user)


# --- Clinics and patients ----------------------------------------------------------------------------------


class ClinicSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="clinic_id", help_text="The id that the clinic's other endpoints take.")
    performance_url = LinkField(
        "clinic-performance",
        lookup="clinic_id",
        help_text="The model's real-world performance in the clinic (reviewers, admins).",
    )
    slug = serializers.CharField(source="clinic.slug")
    name = serializers.CharField(source="clinic.name")
    role = serializers.CharField()


class PatientSerializer(serializers.ModelSerializer):
    url = LinkField("patient-detail")
    clinic = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    lesions_url = LinkField("patient-lesions")

    class Meta:
        model = Patient
        fields = ["id", "url", "clinic", "mrn", "full_name", "date_of_birth", "sex", "created_at", "lesions_url"]


class PatientCreateSerializer(serializers.Serializer):
    clinic = serializers.SlugField(required=False, help_text="The clinic's slug; needed only if you belong to several.")
    mrn = serializers.CharField(max_length=64)
    full_name = serializers.CharField(max_length=200)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    sex = serializers.ChoiceField(choices=Sex.choices, default=Sex.UNKNOWN)


class PatientUpdateSerializer(serializers.Serializer):
    mrn = serializers.CharField(max_length=64, required=False)
    full_name = serializers.CharField(max_length=200, required=False)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)


class LesionSerializer(serializers.ModelSerializer):
    url = LinkField("lesion-detail")
    patient = serializers.PrimaryKeyRelatedField(read_only=True)
    images_url = LinkField("lesion-images")

    class Meta:
        model = Lesion
        fields = [
            "id",
            "url",
            "patient",
            "site",
            "label",
            "notes",
            "laterality",
            "body_view",
            "body_x",
            "body_y",
            "archived_at",
            "merged_into",
            "created_at",
            "images_url",
        ]
        read_only_fields = ["archived_at", "merged_into"]


class LesionCreateSerializer(serializers.Serializer):
    site = serializers.ChoiceField(choices=Site.choices, default=Site.UNKNOWN)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class LesionUpdateSerializer(serializers.Serializer):
    site = serializers.ChoiceField(choices=Site.choices, required=False)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    laterality = serializers.ChoiceField(
        choices=[("", "Not recorded"), *Laterality.choices],
        required=False,
        allow_blank=True,
        help_text="The patient's side.",
    )
    body_view = serializers.ChoiceField(
        choices=[("", "No point"), *BodyView.choices],
        required=False,
        allow_blank=True,
        help_text="With body_x and body_y: the body map point.",
    )
    body_x = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        allow_null=True,
        help_text="0 to 1 across the view's outline, from the viewer's left.",
    )
    body_y = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        allow_null=True,
        help_text="0 to 1 down the outline, from the top of the head.",
    )


# --- Predictions -------------------------------------------------------------------------------------------


class ClassProbabilitySerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=DiagnosisClass.choices)
    name = serializers.CharField()
    probability = serializers.FloatField()
    malignant = serializers.BooleanField()


class PredictionSummarySerializer(serializers.ModelSerializer):
    url = LinkField("prediction-detail")

    class Meta:
        model = Prediction
        fields = ["id", "url", "status", "model_version", "top_class", "malignancy_risk", "queued_at", "finished_at"]


class ClassHeatmapSerializer(serializers.Serializer):
    class_code = serializers.ChoiceField(choices=DiagnosisClass.choices)
    class_name = serializers.CharField()
    status = serializers.ChoiceField(
        choices=HeatmapStatus.choices, help_text="pending until the worker has drawn it, stored, or unavailable."
    )
    url = serializers.URLField(allow_null=True, help_text="The PNG, once stored.")
    error = serializers.CharField(help_text="Why there is no heatmap, when unavailable.")
    top_class = serializers.BooleanField()
    class_of_concern = serializers.BooleanField()


class ClassHeatmapRequestSerializer(serializers.Serializer):
    class_code = serializers.ChoiceField(
        choices=DiagnosisClass.choices, help_text="The class whose evidence the heatmap shows."
    )


def class_heatmap_representation(links: ApiLinks, prediction, heatmap) -> dict:
    if heatmap.status != HeatmapStatus.STORED:
        url = None
    elif heatmap.is_top:
        url = links.url("prediction-heatmap", prediction.pk)
    else:
        url = f"{links.url('prediction-heatmaps', prediction.pk)}/{heatmap.class_code}"
    return {
        "class_code": heatmap.class_code,
        "class_name": heatmap.class_name,
        "status": heatmap.status,
        "url": url,
        "error": heatmap.error,
        "top_class": heatmap.is_top,
        "class_of_concern": heatmap.is_concern,
    }


def _datetime(value, zone) -> str | None:
    """What DRF's DateTimeField gives (ISO 8601 in the current time zone `zone`, UTC as Z), without its
    machinery."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _float(value) -> float | None:
    return float(value) if value is not None else None


def _choice(value) -> str:
    return str(value) if value is not None else value  # a TextChoices member as its plain value


class PredictionSerializer(serializers.Serializer):
    """A prediction with its reading: classes ranked with names, risk band, and whether to doubt it.

    A plain Serializer with its fields spelled out: a ModelSerializer would rebuild them from the model on
    every request, a tenth of the time of answering one.
    """

    id = serializers.IntegerField(read_only=True)
    url = LinkField("prediction-detail")
    status = serializers.ChoiceField(choices=PredictionStatus.choices, read_only=True)
    model_version = serializers.CharField(read_only=True)
    image = serializers.IntegerField(source="image_id", read_only=True)
    image_url = LinkField("image-detail", lookup="image_id")
    lesion = serializers.IntegerField(source="lesion_id", read_only=True)  # annotated by the API's selectors
    patient = serializers.IntegerField(source="patient_id", read_only=True)
    top_class = serializers.ChoiceField(
        choices=DiagnosisClass.choices,
        allow_blank=True,
        read_only=True,
        help_text="Empty until the prediction has succeeded.",
    )
    top_class_name = serializers.SerializerMethodField()
    top_probability = serializers.SerializerMethodField()
    probabilities = serializers.SerializerMethodField()
    malignancy_risk = serializers.FloatField(allow_null=True, read_only=True, help_text="P(mel) + P(bcc) + P(akiec).")
    risk_band = serializers.SerializerMethodField()
    recommendation = serializers.SerializerMethodField()
    assessable = serializers.BooleanField(
        allow_null=True,
        read_only=True,
        help_text="False: the model refused the image (see assessment_reasons); null: its model has no such gate.",
    )
    assessment_reasons = serializers.JSONField(read_only=True, help_text="[{code, message}]")
    refer = serializers.BooleanField(
        allow_null=True,
        read_only=True,
        help_text="Malignancy risk at or above the model's referral threshold; null "
        "when the model defines no threshold.",
    )
    referral_threshold = serializers.FloatField(allow_null=True, read_only=True)
    uncertain = serializers.SerializerMethodField()
    uncertain_reasons = serializers.SerializerMethodField()
    entropy = serializers.SerializerMethodField()
    error = serializers.CharField(read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    queued_at = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(allow_null=True, read_only=True)
    finished_at = serializers.DateTimeField(allow_null=True, read_only=True)
    queue_seconds = serializers.SerializerMethodField()
    run_seconds = serializers.SerializerMethodField()
    heatmap_url = serializers.SerializerMethodField()
    heatmap_status = serializers.ChoiceField(
        choices=HeatmapStatus.choices,
        read_only=True,
        help_text="After success: pending until drawn, stored (see heatmap_url), or unavailable once its "
        "attempts ran out (heatmap_error says why).",
    )
    heatmap_error = serializers.CharField(read_only=True)
    heatmaps = serializers.SerializerMethodField(
        help_text="The heatmap per class: the top class's and the class of concern's (the likeliest malignant "
        "class, when it is not the top one) are drawn by the worker; others on request "
        "(POST heatmaps_url). `url` is set once a heatmap is stored."
    )
    heatmaps_url = LinkField("prediction-heatmaps")
    similar_cases_url = LinkField(
        "prediction-similar-cases",
        help_text="The six reference cases most similar to "
        "the image, found by the worker with the result (for comparison only).",
    )
    reviewed = serializers.SerializerMethodField()
    fhir_url = LinkField("image-fhir", lookup="image_id")

    def to_representation(self, instance):
        """The fields above, built directly: DRF's field-by-field walk (and the copy of every declared field
        each serializer makes) was half the CPU of a page of 50. The method fields' values come from their
        own `get_*` methods (the reading worked out once per prediction, the links and time zone once per
        response); the declared fields stay for the schema, and a test holds the two to the same keys and
        values."""
        obj = instance
        links, zone = self._per_response()
        url = links.url
        pk = obj.pk  # read once: `pk` is a property that looks up the primary key's name
        return {
            "id": pk,
            "url": url("prediction-detail", pk),
            "status": _choice(obj.status),
            "model_version": obj.model_version,
            "image": obj.image_id,
            "image_url": url("image-detail", obj.image_id),
            "lesion": obj.lesion_id,
            "patient": obj.patient_id,
            "top_class": _choice(obj.top_class),
            "top_class_name": self.get_top_class_name(obj),
            "top_probability": self.get_top_probability(obj),
            "probabilities": self.get_probabilities(obj),
            "malignancy_risk": _float(obj.malignancy_risk),
            "risk_band": self.get_risk_band(obj),
            "recommendation": self.get_recommendation(obj),
            "assessable": obj.assessable,
            "assessment_reasons": obj.assessment_reasons,
            "refer": obj.refer,
            "referral_threshold": _float(obj.referral_threshold),
            "uncertain": self.get_uncertain(obj),
            "uncertain_reasons": self.get_uncertain_reasons(obj),
            "entropy": self.get_entropy(obj),
            "error": obj.error,
            "attempts": obj.attempts,
            "queued_at": _datetime(obj.queued_at, zone),
            "started_at": _datetime(obj.started_at, zone),
            "finished_at": _datetime(obj.finished_at, zone),
            "queue_seconds": self.get_queue_seconds(obj),
            "run_seconds": self.get_run_seconds(obj),
            "heatmap_url": self.get_heatmap_url(obj),
            "heatmap_status": _choice(obj.heatmap_status),
            "heatmap_error": obj.heatmap_error,
            "heatmaps": self.get_heatmaps(obj),
            "heatmaps_url": url("prediction-heatmaps", pk),
            "similar_cases_url": url("prediction-similar-cases", pk),
            "reviewed": self.get_reviewed(obj),
            "fhir_url": url("image-fhir", obj.image_id),
        }

    def _per_response(self) -> tuple[ApiLinks, tzinfo]:
        """The response's links and current time zone, read once per serializer (a page's 50 predictions
        share one): each is a context-local lookup, and reading them per value was a fifth of a page's
        representation."""
        found = getattr(self, "_per_response_values", None)
        if found is None:
            found = self._per_response_values = (api_links(self.context), timezone.get_current_timezone())
        return found

    def _reading_of(self, obj):
        """The prediction's reading, worked out once per prediction (several fields read it)."""
        if getattr(self, "_read", (None,))[0] is not obj:
            self._read = (obj, prediction_interpret(obj))
        return self._read[1]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_top_class_name(self, obj) -> str | None:
        return CLASS_NAMES.get(obj.top_class)

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_top_probability(self, obj) -> float | None:
        reading = self._reading_of(obj)
        return reading.top.probability if reading else None

    @extend_schema_field(ClassProbabilitySerializer(many=True, allow_null=True))
    def get_probabilities(self, obj):
        reading = self._reading_of(obj)
        if reading is None:
            return None
        return [
            {"code": c.code, "name": c.name, "probability": c.probability, "malignant": c.malignant}
            for c in reading.classes
        ]

    @extend_schema_field(serializers.ChoiceField(choices=["low", "intermediate", "high"], allow_null=True))
    def get_risk_band(self, obj) -> str | None:
        """Against the model's referral threshold (low / high) when it has one, else the clinic's bands."""
        reading = self._reading_of(obj)
        return reading.band.key if reading else None

    @extend_schema_field(
        serializers.ChoiceField(choices=["refer", "routine", "cannot_assess", "none"], allow_null=True)
    )
    def get_recommendation(self, obj) -> str | None:
        """refer / routine / cannot_assess, or none when the model defines no referral threshold."""
        reading = self._reading_of(obj)
        return str(reading.recommendation) if reading else None

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_uncertain(self, obj) -> bool | None:
        reading = self._reading_of(obj)
        return reading.uncertain if reading else None

    def get_uncertain_reasons(self, obj) -> list[str]:
        reading = self._reading_of(obj)
        return reading.uncertain_reasons if reading else []

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_entropy(self, obj) -> float | None:
        reading = self._reading_of(obj)
        return reading.entropy if reading else None

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_queue_seconds(self, obj) -> float | None:
        return (obj.started_at - obj.queued_at).total_seconds() if obj.started_at else None

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_run_seconds(self, obj) -> float | None:
        if obj.started_at and obj.finished_at:
            return (obj.finished_at - obj.started_at).total_seconds()
        return None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_heatmap_url(self, obj) -> str | None:
        return self._per_response()[0].url("prediction-heatmap", obj.pk) if obj.heatmap else None

    @extend_schema_field(ClassHeatmapSerializer(many=True))
    def get_heatmaps(self, obj) -> list[dict]:
        return [
            class_heatmap_representation(self._per_response()[0], obj, heatmap)
            for heatmap in prediction_class_heatmaps(prediction=obj)
        ]

    def get_reviewed(self, obj) -> bool:
        return bool(getattr(obj, "is_reviewed", False))


# --- Images ------------------------------------------------------------------------------------------------


class ImageSerializer(serializers.ModelSerializer):
    url = LinkField("image-detail")
    patient = serializers.IntegerField(source="lesion.patient_id", read_only=True)
    file_url = LinkField("image-file")
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    predictions = PredictionSummarySerializer(many=True, read_only=True)
    predictions_url = LinkField("image-predictions")
    fhir_url = LinkField("image-fhir")

    class Meta:
        model = LesionImage
        fields = [
            "id",
            "url",
            "lesion",
            "patient",
            "file_url",
            "sha256",
            "width",
            "height",
            "format",
            "size_bytes",
            "captured_at",
            "uploaded_at",
            "uploaded_by",
            "age",
            "sex",
            "site",
            "predictions",
            "predictions_url",
            "fhir_url",
        ]


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A JPEG, PNG, TIFF or WebP photograph of the lesion.")
    captured_at = serializers.DateField(required=False, allow_null=True)
    age = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=130,
        help_text="Age at capture; defaults to the age from the date of birth.",
    )
    sex = serializers.ChoiceField(choices=Sex.choices, required=False, help_text="Defaults to the patient's.")
    site = serializers.ChoiceField(choices=Site.choices, required=False, help_text="Defaults to the lesion's.")


class ImageUploadResultSerializer(serializers.Serializer):
    image = ImageSerializer()
    prediction = PredictionSerializer(allow_null=True)


# --- Reviews -----------------------------------------------------------------------------------------------


class ReviewSerializer(serializers.ModelSerializer):
    url = LinkField("review-detail")
    lesion = serializers.IntegerField(source="image.lesion_id", read_only=True)
    patient = serializers.IntegerField(source="image.lesion.patient_id", read_only=True)
    diagnosis_name = serializers.SerializerMethodField()
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "url",
            "image",
            "prediction",
            "lesion",
            "patient",
            "verdict",
            "diagnosis",
            "diagnosis_name",
            "histopathology_confirmed",
            "notes",
            "reviewer",
            "created_at",
        ]

    def get_diagnosis_name(self, obj) -> str:
        return CLASS_NAMES.get(obj.diagnosis, obj.diagnosis)


class ReviewCreateSerializer(serializers.Serializer):
    image = ScopedPrimaryKeyRelatedField(queryset=LesionImage.objects.select_related("lesion__patient__clinic"))
    prediction = ScopedPrimaryKeyRelatedField(
        queryset=Prediction.objects.all(),
        required=False,
        allow_null=True,
        help_text="The prediction an `agree` agrees with; left out, the image's newest finished prediction.",
    )
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    diagnosis = serializers.ChoiceField(
        choices=DiagnosisClass.choices,
        required=False,
        allow_null=True,
        help_text="Needed to override; an agreement takes the prediction's class.",
    )
    histopathology_confirmed = serializers.BooleanField(default=False)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


# --- Webhooks ----------------------------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = LinkField("webhook-detail")
    clinic = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    target_url = serializers.URLField(source="url", read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices), read_only=True)
    deliveries_url = LinkField("webhook-deliveries")

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "clinic",
            "target_url",
            "description",
            "events",
            "is_active",
            "created_at",
            "deliveries_url",
        ]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown only now: the key of the HMAC-SHA256 signatures.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = WebhookEndpointSerializer.Meta.fields + ["secret"]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    clinic = serializers.SlugField(
        required=False, help_text="The clinic's slug; needed only if you administer several."
    )
    target_url = serializers.URLField(max_length=500)
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices), min_length=1)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    target_url = serializers.URLField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), min_length=1, required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebhookAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    outcome = serializers.CharField()


class WebhookDeliverySerializer(serializers.ModelSerializer):
    payload = serializers.SerializerMethodField()
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_id",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "finished_at",
            "payload",
            "attempt_log",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, obj) -> dict:
        return json.loads(obj.body)


ErrorSerializer = inline_serializer(
    "Error",
    fields={
        "detail": serializers.CharField(),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    },
)
