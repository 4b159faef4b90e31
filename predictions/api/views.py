"""API views: each validates its input, calls one service or selector, and serialises the outcome."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from .. import permissions, selectors
from ..models import Clinic, HeatmapStatus, Lesion, LesionImage, Prediction, WebhookDelivery
from ..models.audit import AuditAction
from ..selectors import clinic_list, prediction_class_heatmaps
from ..selectors.predictions import PredictionRepresentationPages, prediction_class_heatmap_rows
from ..services import image_upload, lesion_create, patient_create, patient_update, review_create
from ..services.audit import audit_access_record, audit_list_access_record
from ..services.lesion_updates import lesion_update
from ..services.prediction_requests import prediction_request
from ..services.predictions import prediction_class_heatmap_request
from ..services.webhooks import webhook_endpoint_create, webhook_endpoint_delete, webhook_endpoint_update
from ..views import private_file_response
from .exceptions import Conflict, PayloadTooLarge
from .filters import ImageFilter, LesionFilter, PatientFilter, PredictionFilter, ReviewFilter
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import idempotent
from .parsers import JSONParser
from .serializers import (
    ClassHeatmapRequestSerializer,
    ClassHeatmapSerializer,
    ClinicSerializer,
    ErrorSerializer,
    ImageSerializer,
    ImageUploadResultSerializer,
    ImageUploadSerializer,
    LesionCreateSerializer,
    LesionSerializer,
    LesionUpdateSerializer,
    PatientCreateSerializer,
    PatientSerializer,
    PatientUpdateSerializer,
    PredictionSerializer,
    ReviewCreateSerializer,
    ReviewSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
    api_links,
    api_url,
    class_heatmap_representation,
)

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    type=str,
    description="Makes the POST safe to retry: a repeat with the same key returns the first response.",
)


def _errors(*codes: int) -> dict:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


def _valid(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, context={"request": request}, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _clinic_for(user, slug: str | None, permission: str) -> Clinic:
    """The clinic a create request is for: the one named by slug, or the only one where the user holds
    `permission` (a right of predictions.permissions)."""
    if slug:
        clinic = clinic_list(user=user).filter(slug=slug).first()
        if clinic is None:
            raise ValidationError({"clinic": ["No clinic of yours has this slug."]})
        return clinic
    clinics = list(permissions.clinics_where(user, permission)[:2])
    if len(clinics) == 1:
        return clinics[0]
    if clinics:
        raise ValidationError({"clinic": ["You act for several clinics: give the clinic's slug."]})
    raise PermissionDenied("You have no role in any clinic that allows this.")


def _record_read(request, *, action: str, target, clinic=None, clinic_id=None, data: dict | None = None) -> None:
    audit_access_record(
        actor=request.user, clinic=clinic, clinic_id=clinic_id, action=action, target=target, via="api", data=data
    )


class AuditedListMixin:
    """A list of patient data records what it showed: one audit record per clinic whose rows are on the page."""

    list_action: str  # e.g. "patient.list"

    def filter_queryset(self, queryset):
        # django-filter builds a FilterSet per request (a deep copy of each of its filters, a tenth of a
        # page of 50's CPU) that leaves the queryset as it is when the query string names no filter: it is
        # skipped when every parameter is the page's, the ordering's or the format's.
        unfiltered = self.unfiltered()
        for backend in self.filter_backends:
            if not (unfiltered and issubclass(backend, DjangoFilterBackend)):
                queryset = backend().filter_queryset(self.request, queryset, self)
        return queryset

    def unfiltered(self):
        """Whether the query string names no filter: only paging, ordering and format parameters."""
        paginator = self.paginator
        not_filters = {
            getattr(paginator, "page_query_param", None),
            getattr(paginator, "page_size_query_param", None),
            api_settings.ORDERING_PARAM,
            api_settings.URL_FORMAT_OVERRIDE,
        }
        return set(self.request.query_params) <= not_filters

    def list_queryset(self):
        """What the list pages (its filtered queryset): it has the listed `model`."""
        return self.filter_queryset(self.get_queryset())

    def list(self, request, *args, **kwargs):
        queryset = self.list_queryset()
        page = self.paginate_queryset(queryset)
        rows = page if page is not None else list(queryset)
        audit_list_access_record(
            actor=request.user,
            action=self.list_action,
            target_type=queryset.model._meta.label_lower,
            shown=[(row.clinic_id, row) for row in rows],
            via="api",
        )
        data = self.get_serializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class PrivateFileView(APIView):
    """Streams a stored file to members of its clinic; errors stay JSON whatever the Accept header says."""

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type

    file_response = staticmethod(private_file_response)


# --- Clinics and patients ----------------------------------------------------------------------------------


class ClinicListView(APIView):
    @extend_schema(summary="The clinics you belong to, with your role", responses={200: ClinicSerializer(many=True)})
    def get(self, request):
        memberships = selectors.membership_list(user=request.user)
        return Response(ClinicSerializer(memberships, many=True, context={"request": request}).data)


@extend_schema_view(
    get=extend_schema(summary="List patients", responses={200: PatientSerializer(many=True), **_errors(401)})
)
class PatientListView(AuditedListMixin, generics.ListAPIView):
    list_action = AuditAction.PATIENT_LIST
    serializer_class = PatientSerializer
    filterset_class = PatientFilter
    ordering_fields = ["full_name", "mrn", "created_at", "date_of_birth", "id"]
    ordering = ["full_name", "id"]

    def get_queryset(self):
        return selectors.patient_list(user=self.request.user)

    @extend_schema(
        summary="Register a patient",
        request=PatientCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: PatientSerializer, **_errors(400, 401, 403, 409, 422)},
    )
    @idempotent
    def post(self, request):
        data = _valid(PatientCreateSerializer, request)
        clinic = _clinic_for(request.user, data.pop("clinic", None), "record.write")
        patient = patient_create(actor=request.user, clinic=clinic, **data)  # a duplicate MRN: 409
        body = PatientSerializer(patient, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class PatientDetailView(generics.GenericAPIView):
    serializer_class = PatientSerializer

    @extend_schema(summary="A patient", responses={200: PatientSerializer, **_errors(401, 404)})
    def get(self, request, pk):
        patient = selectors.patient_get(user=request.user, pk=pk)
        _record_read(request, clinic=patient.clinic, action=AuditAction.PATIENT_VIEW, target=patient)
        return Response(PatientSerializer(patient, context={"request": request}).data)

    @extend_schema(
        summary="Correct a patient's details",
        request=PatientUpdateSerializer,
        responses={200: PatientSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def patch(self, request, pk):
        patient = selectors.patient_get(user=request.user, pk=pk)
        data = _valid(PatientUpdateSerializer, request, partial=True)
        patient = patient_update(actor=request.user, patient=patient, **data)
        return Response(PatientSerializer(patient, context={"request": request}).data)


@extend_schema_view(
    get=extend_schema(
        summary="List a patient's lesions", responses={200: LesionSerializer(many=True), **_errors(401, 404)}
    )
)
class PatientLesionListView(generics.ListAPIView):
    serializer_class = LesionSerializer
    filterset_class = LesionFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["id"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.patient = selectors.patient_get(user=request.user, pk=kwargs["pk"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no patient
            return Lesion.objects.none()
        return selectors.lesion_list(user=self.request.user, patient=self.patient)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        _record_read(request, clinic=self.patient.clinic, action=AuditAction.LESION_LIST, target=self.patient)
        return response

    @extend_schema(
        summary="Start following a lesion of the patient",
        request=LesionCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: LesionSerializer, **_errors(400, 401, 403, 404, 422)},
    )
    @idempotent
    def post(self, request, pk):
        lesion = lesion_create(actor=request.user, patient=self.patient, **_valid(LesionCreateSerializer, request))
        body = LesionSerializer(lesion, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class LesionDetailView(generics.GenericAPIView):
    serializer_class = LesionSerializer

    @extend_schema(summary="A lesion", responses={200: LesionSerializer, **_errors(401, 404)})
    def get(self, request, pk):
        lesion = selectors.lesion_get(user=request.user, pk=pk)
        _record_read(request, clinic=lesion.patient.clinic, action=AuditAction.LESION_VIEW, target=lesion)
        return Response(LesionSerializer(lesion, context={"request": request}).data)

    @extend_schema(
        summary="Correct a lesion's site, label, notes, side or body map point",
        request=LesionUpdateSerializer,
        responses={200: LesionSerializer, **_errors(400, 401, 403, 404)},
    )
    def patch(self, request, pk):
        lesion = selectors.lesion_get(user=request.user, pk=pk)
        data = _valid(LesionUpdateSerializer, request, partial=True)
        lesion = lesion_update(actor=request.user, lesion=lesion, **data)
        return Response(LesionSerializer(lesion, context={"request": request}).data)


# --- Images ------------------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        summary="List a lesion's images", responses={200: ImageSerializer(many=True), **_errors(401, 404)}
    )
)
class LesionImageListView(generics.ListAPIView):
    serializer_class = ImageSerializer
    filterset_class = ImageFilter
    parser_classes = [MultiPartParser, FormParser]
    ordering_fields = ["uploaded_at", "captured_at", "id"]
    ordering = ["-uploaded_at", "-id"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.lesion = selectors.lesion_get(user=request.user, pk=kwargs["pk"])
        if request.method == "POST":
            # Refuse an oversized body before reading it; 1 MiB leaves room for the form's other fields.
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.SKINCLINIC_MAX_UPLOAD_BYTES + 1024 * 1024:
                limit = settings.SKINCLINIC_MAX_UPLOAD_BYTES // (1024 * 1024)
                raise PayloadTooLarge(
                    f"The request is larger than the {limit} MB upload limit.",
                    errors={"file": [f"The file is larger than the {limit} MB limit."]},
                )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no lesion
            return LesionImage.objects.none()
        return selectors.lesion_image_detail_list(user=self.request.user, lesion=self.lesion)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        _record_read(request, clinic=self.lesion.patient.clinic, action=AuditAction.IMAGE_LIST, target=self.lesion)
        return response

    @extend_schema(
        summary="Upload a photograph of the lesion",
        description="Stores the image and queues its prediction: **202** with both and a `Location` to poll. "
        "The same bytes uploaded again for the lesion return the existing image with **200**.",
        request={"multipart/form-data": ImageUploadSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            202: ImageUploadResultSerializer,
            200: ImageUploadResultSerializer,
            **_errors(400, 401, 403, 404, 413, 415, 422),
        },
    )
    @idempotent
    def post(self, request, pk):
        data = _valid(ImageUploadSerializer, request)
        # Too large (413) and not an image (415) are typed refusals of the service: the exception handler answers.
        image, created = image_upload(actor=request.user, lesion=self.lesion, **data)
        image = selectors.lesion_image_detail_get(user=request.user, pk=image.pk)
        newest = next(iter(image.predictions.all()), None)
        prediction = selectors.prediction_representation_get(user=request.user, pk=newest.pk) if newest else None
        context = {"request": request}
        body = ImageUploadResultSerializer({"image": image, "prediction": prediction}, context=context).data
        if not created:
            return Response(body, status=status.HTTP_200_OK)
        return Response(
            body,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": api_url(context, "prediction-detail", prediction.pk)},
        )


class ImageDetailView(generics.GenericAPIView):
    serializer_class = ImageSerializer

    @extend_schema(summary="An image, with its predictions", responses={200: ImageSerializer, **_errors(401, 404)})
    def get(self, request, pk):
        image = selectors.lesion_image_detail_get(user=request.user, pk=pk)
        _record_read(request, clinic=image.lesion.patient.clinic, action=AuditAction.IMAGE_VIEW, target=image)
        return Response(ImageSerializer(image, context={"request": request}).data)


class ImageFileView(PrivateFileView):
    @extend_schema(
        summary="The stored photograph (re-encoded, without metadata)",
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
            **_errors(401, 404),
        },
    )
    def get(self, request, pk):
        image = selectors.lesion_image_detail_get(user=request.user, pk=pk)
        response = self.file_response(image.file, "image/jpeg" if image.format == "JPEG" else "image/png")
        _record_read(request, clinic=image.lesion.patient.clinic, action=AuditAction.IMAGE_DOWNLOAD, target=image)
        return response


class ImagePredictionRequestView(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        summary="Run the current model version on the image",
        description="Queues a prediction by the model version in service (**202**, with `Location`), or returns "
        "the one that exists (**200**). A failed one is queued again.",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={202: PredictionSerializer, 200: PredictionSerializer, **_errors(401, 403, 404, 422)},
    )
    @idempotent
    def post(self, request, pk):
        image = selectors.lesion_image_detail_get(user=request.user, pk=pk)
        prediction, queued = prediction_request(actor=request.user, image=image)
        prediction = selectors.prediction_representation_get(user=request.user, pk=prediction.pk)
        body = PredictionSerializer(prediction, context={"request": request}).data
        if not queued:
            return Response(body, status=status.HTTP_200_OK)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class FhirJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir"


class ImageFhirView(APIView):
    renderer_classes = [FhirJSONRenderer, JSONRenderer]

    @extend_schema(
        summary="The image's result as a FHIR R4 DiagnosticReport bundle",
        description="A Bundle (type collection) of a DiagnosticReport, its Observation (top class, per-class "
        "probabilities, body site, derived from the Media), the Media, the model as a Device, the "
        "Patient and the clinic. Status `preliminary` until a clinician reviewed the image, then "
        "`final`. **409** while no prediction of the image has succeeded.",
        responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT, **_errors(401, 404, 409)},
    )
    def get(self, request, pk):
        from .fhir import image_fhir_bundle

        report = selectors.image_report_get(user=request.user, pk=pk)
        if report.prediction is None:
            state = report.pending.status if report.pending else "not requested"
            raise Conflict(f"The image has no finished prediction yet (its newest is {state}).")
        bundle = image_fhir_bundle(report, file_url=api_url({"request": request}, "image-file", pk))
        _record_read(
            request,
            clinic=report.image.lesion.patient.clinic,
            action=AuditAction.FHIR_EXPORT,
            target=report.image,
            data={"prediction": report.prediction.pk, "review": report.review.pk if report.review else None},
        )
        return HttpResponse(bundle.model_dump_json(), content_type="application/fhir+json")


# --- Predictions -------------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(summary="List predictions", responses={200: PredictionSerializer(many=True), **_errors(400, 401)})
)
class PredictionListView(AuditedListMixin, generics.ListAPIView):
    list_action = AuditAction.PREDICTION_LIST
    serializer_class = PredictionSerializer
    filterset_class = PredictionFilter
    ordering_fields = ["queued_at", "finished_at", "malignancy_risk", "id"]
    ordering = ["-queued_at", "-id"]

    def get_queryset(self):
        return selectors.prediction_representation_list(user=self.request.user)

    def list_queryset(self):
        # Counted and paged on the predictions' own rows; only the page's rows are joined (see the class).
        # Without filters, its statements are compiled once per process (`unfiltered`): no queryset is built.
        if self.unfiltered():
            ordering = OrderingFilter().get_ordering(self.request, Prediction.objects.none(), self)
            return PredictionRepresentationPages.unfiltered(user=self.request.user, ordering=ordering)
        return PredictionRepresentationPages(self.filter_queryset(self.get_queryset()))


class PredictionDetailView(generics.GenericAPIView):
    serializer_class = PredictionSerializer

    @extend_schema(
        summary="A prediction: status, probabilities, risk, uncertainty, timings",
        responses={200: PredictionSerializer, **_errors(401, 404)},
    )
    def get(self, request, pk):
        prediction = selectors.prediction_representation_get(user=request.user, pk=pk)
        _record_read(request, clinic_id=prediction.clinic_id, action=AuditAction.PREDICTION_VIEW, target=prediction)
        return Response(PredictionSerializer(prediction, context={"request": request}).data)


class PredictionHeatmapView(PrivateFileView):
    @extend_schema(
        summary="The prediction's heatmap (Grad-CAM over the model's input)",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **_errors(401, 404)},
    )
    def get(self, request, pk):
        prediction = selectors.prediction_representation_get(user=request.user, pk=pk)
        response = self.file_response(prediction.heatmap, "image/png")  # no heatmap: 404, and no record
        _record_read(request, clinic_id=prediction.clinic_id, action=AuditAction.HEATMAP_DOWNLOAD, target=prediction)
        return response


class PredictionHeatmapsView(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        summary="The prediction's heatmaps per class",
        description="The top class's and the class of concern's are drawn by the worker after the "
        "result; others once requested (POST).",
        responses={200: ClassHeatmapSerializer(many=True), **_errors(401, 404)},
    )
    def get(self, request, pk):
        prediction = selectors.prediction_representation_get(user=request.user, pk=pk)
        _record_read(
            request,
            clinic_id=prediction.clinic_id,
            action=AuditAction.PREDICTION_VIEW,
            target=prediction,
            data={"heatmaps": True},
        )
        return Response(_class_heatmaps(request, prediction))

    @extend_schema(
        summary="Ask the worker for the heatmap of another class",
        description="Queues the Grad-CAM heatmap for `class_code` (**202**; it is drawn by the worker, "
        "never in the request) or answers **200** when it is stored, pending already, or "
        "the top class's. Poll GET until its `url` is set.",
        request=ClassHeatmapRequestSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            202: ClassHeatmapSerializer(many=True),
            200: ClassHeatmapSerializer(many=True),
            **_errors(400, 401, 403, 404),
        },
    )
    @idempotent
    def post(self, request, pk):
        prediction = selectors.prediction_representation_get(user=request.user, pk=pk)
        serializer = ClassHeatmapRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        class_code = serializer.validated_data["class_code"]
        before = {h.class_code: h.status for h in prediction_class_heatmaps(prediction=prediction)}
        prediction_class_heatmap_request(actor=request.user, prediction=prediction, class_code=class_code, via="api")
        prediction = selectors.prediction_representation_get(user=request.user, pk=pk)
        queued = before.get(class_code) in (None, HeatmapStatus.UNAVAILABLE)
        return Response(
            _class_heatmaps(request, prediction), status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK
        )


def _class_heatmaps(request, prediction) -> list[dict]:
    links = api_links({"request": request})
    return [
        class_heatmap_representation(links, prediction, heatmap)
        for heatmap in prediction_class_heatmaps(prediction=prediction)
    ]


class PredictionClassHeatmapView(PrivateFileView):
    @extend_schema(
        summary="The prediction's heatmap for one class (Grad-CAM over the model's input)",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **_errors(401, 404)},
    )
    def get(self, request, pk, class_code):
        prediction = selectors.prediction_representation_get(user=request.user, pk=pk)
        if class_code == prediction.top_class:
            file = prediction.heatmap
        else:
            heatmap = next((h for h in prediction_class_heatmap_rows(prediction) if h.class_code == class_code), None)
            file = heatmap.file if heatmap else None
        response = self.file_response(file, "image/png")  # none stored: 404, and no record
        _record_read(
            request,
            clinic_id=prediction.clinic_id,
            action=AuditAction.HEATMAP_DOWNLOAD,
            target=prediction,
            data={"class": class_code},
        )
        return response


# --- Reviews -----------------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(summary="List reviews", responses={200: ReviewSerializer(many=True), **_errors(400, 401)})
)
class ReviewListView(AuditedListMixin, generics.ListAPIView):
    list_action = AuditAction.REVIEW_LIST
    serializer_class = ReviewSerializer
    filterset_class = ReviewFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return selectors.review_representation_list(user=self.request.user)

    @extend_schema(
        summary="Record a reviewer's diagnosis of an image",
        request=ReviewCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: ReviewSerializer, **_errors(400, 401, 403, 422)},
    )
    @idempotent
    def post(self, request):
        data = _valid(ReviewCreateSerializer, request)
        review = review_create(actor=request.user, **data)
        review = selectors.review_get(user=request.user, pk=review.pk)
        body = ReviewSerializer(review, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class ReviewDetailView(generics.GenericAPIView):
    serializer_class = ReviewSerializer

    @extend_schema(summary="A review", responses={200: ReviewSerializer, **_errors(401, 404)})
    def get(self, request, pk):
        review = selectors.review_get(user=request.user, pk=pk)
        _record_read(request, clinic=review.image.lesion.patient.clinic, action=AuditAction.REVIEW_VIEW, target=review)
        return Response(ReviewSerializer(review, context={"request": request}).data)


# --- Webhooks ----------------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        summary="List the webhook endpoints of the clinics you administer",
        responses={200: WebhookEndpointSerializer(many=True), **_errors(401)},
    )
)
class WebhookListView(generics.ListAPIView):
    serializer_class = WebhookEndpointSerializer
    ordering_fields = ["created_at", "id"]
    ordering = ["id"]

    def get_queryset(self):
        return selectors.webhook_endpoint_list(user=self.request.user)

    @extend_schema(
        summary="Register a webhook endpoint (clinic administrators)",
        description="The response carries the signing `secret`, shown this once. Each delivery is a "
        "POST of a JSON body with the header `X-SkinClinic-Signature: sha256=<hex HMAC-SHA256 "
        "of the body under the secret>`.",
        request=WebhookEndpointCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WebhookEndpointCreatedSerializer, **_errors(400, 401, 403, 422)},
    )
    @idempotent
    def post(self, request):
        data = _valid(WebhookEndpointCreateSerializer, request)
        clinic = _clinic_for(request.user, data.get("clinic"), "clinic.administer")
        endpoint = webhook_endpoint_create(
            actor=request.user,
            clinic=clinic,
            url=data["target_url"],
            events=data["events"],
            description=data["description"],
        )
        body = WebhookEndpointCreatedSerializer(endpoint, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class WebhookDetailView(generics.GenericAPIView):
    serializer_class = WebhookEndpointSerializer

    @extend_schema(summary="A webhook endpoint", responses={200: WebhookEndpointSerializer, **_errors(401, 403, 404)})
    def get(self, request, pk):
        endpoint = selectors.webhook_endpoint_get(user=request.user, pk=pk)
        return Response(WebhookEndpointSerializer(endpoint, context={"request": request}).data)

    @extend_schema(
        summary="Change a webhook endpoint",
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, **_errors(400, 401, 403, 404)},
    )
    def patch(self, request, pk):
        endpoint = selectors.webhook_endpoint_get(user=request.user, pk=pk)
        data = _valid(WebhookEndpointUpdateSerializer, request, partial=True)
        endpoint = webhook_endpoint_update(
            actor=request.user,
            endpoint=endpoint,
            url=data.get("target_url"),
            events=data.get("events"),
            description=data.get("description"),
            is_active=data.get("is_active"),
        )
        return Response(WebhookEndpointSerializer(endpoint, context={"request": request}).data)

    @extend_schema(
        summary="Remove a webhook endpoint and its delivery log", responses={204: None, **_errors(401, 403, 404)}
    )
    def delete(self, request, pk):
        webhook_endpoint_delete(actor=request.user, endpoint=selectors.webhook_endpoint_get(user=request.user, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(
        summary="The deliveries to a webhook endpoint, each with its attempts",
        responses={200: WebhookDeliverySerializer(many=True), **_errors(401, 403, 404)},
    )
)
class WebhookDeliveryListView(generics.ListAPIView):
    serializer_class = WebhookDeliverySerializer
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no endpoint
            return WebhookDelivery.objects.none()
        endpoint = selectors.webhook_endpoint_get(user=self.request.user, pk=self.kwargs["pk"])
        return selectors.webhook_delivery_list(endpoint=endpoint)
