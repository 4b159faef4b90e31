"""Governance reads in the API: real-world performance of the model versions against reviewed diagnoses."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..services.performance import performance_export


class ClinicPerformanceView(APIView):
    @extend_schema(
        summary="Real-world performance of the model versions in a clinic",
        description="Predictions compared with reviewed diagnoses (each image's newest histopathology-confirmed "
        "review, else its newest): confusion matrix, per-class recall, melanoma sensitivity and "
        "agreement rate per model version, and the same by sex, age band and anatomic site. For the "
        "clinic's reviewers and administrators; recorded in the audit trail as an export.",
        parameters=[
            OpenApiParameter("version", str, description="only this model version (name:version)"),
            OpenApiParameter("histopathology", bool, description="only histopathology-confirmed diagnoses"),
        ],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), 401: None, 403: None, 404: None},
    )
    def get(self, request, pk):
        clinic = selectors.governance_clinic_get(user=request.user, pk=pk)
        version = request.query_params.get("version") or None
        histopathology = request.query_params.get("histopathology", "").lower() in ("1", "true", "yes", "on")
        return Response(
            performance_export(
                actor=request.user, clinic=clinic, model_version=version, histopathology_only=histopathology, via="api"
            )
        )
