"""API: a prediction's similar reference cases (found by the worker with the result) and their thumbnails."""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..models import AuditAction, SimilarCase
from ..selectors import PanelStatus, similar_case_thumbnail, similar_cases_panel
from .serializers import ErrorSerializer
from .views import PrivateFileView, _record_read


class SimilarCaseSerializer(serializers.ModelSerializer):
    diagnosis = serializers.CharField(source="diagnosis_name", read_only=True)
    confirmed_by = serializers.CharField(
        read_only=True,
        help_text="How the case's diagnosis was established: "
        "histopathology, follow-up, consensus, confocal microscopy or not stated.",
    )
    malignant = serializers.BooleanField(source="is_malignant", read_only=True)
    thumbnail = serializers.SerializerMethodField()

    class Meta:
        model = SimilarCase
        fields = [
            "rank",
            "reference_id",
            "dx",
            "diagnosis",
            "malignant",
            "dx_type",
            "confirmed_by",
            "age",
            "sex",
            "site",
            "similarity",
            "thumbnail",
        ]
        read_only_fields = fields

    def get_thumbnail(self, case: SimilarCase) -> str:
        path = reverse("api:prediction-similar-case-thumbnail", args=[case.prediction_id, case.rank])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class SimilarCasesSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[status.value for status in PanelStatus],
        help_text="shown: the cases are listed; not_ready: no result yet; not_assessable: the model refused the "
        "image; no_index: no usable reference index for the prediction's model (see build_command); "
        "before_index: the result was computed before the index was built.",
    )
    message = serializers.CharField(help_text="Why there are no cases, in words; empty when they are listed.")
    build_command = serializers.CharField(help_text="The command that builds the missing index (no_index only).")
    note = serializers.CharField(source="for_comparison_note")
    cases = SimilarCaseSerializer(many=True)


def _errors(*codes: int) -> dict:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


class PredictionSimilarCasesView(APIView):
    @extend_schema(
        summary="The reference cases most similar to the prediction's image",
        description="Six published images (HAM10000's training set by default), each with its "
        "diagnosis and how it was confirmed, nearest the image in the model's own "
        "embedding; found by the worker with the result. For comparison only: a "
        "reviewer's diagnosis outranks them.",
        responses={200: SimilarCasesSerializer, **_errors(401, 404)},
    )
    def get(self, request, pk):
        prediction = selectors.prediction_representation_get(user=request.user, pk=pk)
        panel = similar_cases_panel(prediction=prediction)
        # The cases are shown beside the patient's result: reading them is reading the prediction.
        _record_read(
            request,
            clinic_id=prediction.clinic_id,
            action=AuditAction.PREDICTION_VIEW,
            target=prediction,
            data={"similar_cases": panel.status.value},
        )
        return Response(SimilarCasesSerializer(panel, context={"request": request}).data)


class PredictionSimilarCaseThumbnailView(PrivateFileView):
    @extend_schema(
        summary="The thumbnail of one of the prediction's similar reference cases",
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, **_errors(401, 404)},
    )
    def get(self, request, pk, rank):
        prediction = selectors.prediction_representation_get(user=request.user, pk=pk)
        response = FileResponse(
            similar_case_thumbnail(prediction=prediction, rank=rank).open("rb"), content_type="image/jpeg"
        )  # no such case: 404, and no record
        response["Cache-Control"] = "private, no-store"
        _record_read(
            request,
            clinic_id=prediction.clinic_id,
            action=AuditAction.PREDICTION_VIEW,
            target=prediction,
            data={"similar_case_thumbnail": rank},
        )
        return response
