"""Query-string filters of the list endpoints (django-filter); ordering is `?ordering=` on each view."""

from __future__ import annotations

import django_filters as filters

from ..models import (
    DiagnosisClass,
    Lesion,
    LesionImage,
    Patient,
    Prediction,
    PredictionStatus,
    Review,
    Sex,
    Site,
    Verdict,
)


class PatientFilter(filters.FilterSet):
    mrn = filters.CharFilter(field_name="mrn", help_text="Exact medical record number.")
    mrn_contains = filters.CharFilter(field_name="mrn", lookup_expr="icontains")
    name = filters.CharFilter(field_name="full_name", lookup_expr="icontains", help_text="Part of the name.")
    clinic = filters.CharFilter(field_name="clinic__slug", help_text="A clinic's slug.")
    sex = filters.ChoiceFilter(choices=Sex.choices)
    born = filters.DateFromToRangeFilter(field_name="date_of_birth", help_text="`born_after`, `born_before`.")
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")

    class Meta:
        model = Patient
        fields: list[str] = []


class LesionFilter(filters.FilterSet):
    site = filters.ChoiceFilter(choices=Site.choices)
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")

    class Meta:
        model = Lesion
        fields: list[str] = []


class ImageFilter(filters.FilterSet):
    captured = filters.DateFromToRangeFilter(field_name="captured_at")
    uploaded = filters.IsoDateTimeFromToRangeFilter(field_name="uploaded_at")
    site = filters.ChoiceFilter(choices=Site.choices)

    class Meta:
        model = LesionImage
        fields: list[str] = []


class PredictionFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=PredictionStatus.choices)
    top_class = filters.MultipleChoiceFilter(choices=DiagnosisClass.choices)
    risk_above = filters.NumberFilter(
        field_name="malignancy_risk", lookup_expr="gte", help_text="Malignancy risk at least this (0 to 1)."
    )
    risk_below = filters.NumberFilter(field_name="malignancy_risk", lookup_expr="lt")
    reviewed = filters.BooleanFilter(field_name="is_reviewed", help_text="Whether the image has a review.")
    model_version = filters.CharFilter()
    mrn = filters.CharFilter(field_name="image__lesion__patient__mrn", help_text="The patient's exact MRN.")
    patient = filters.NumberFilter(field_name="image__lesion__patient_id")
    lesion = filters.NumberFilter(field_name="image__lesion_id")
    image = filters.NumberFilter(field_name="image_id")
    queued = filters.IsoDateTimeFromToRangeFilter(field_name="queued_at", help_text="`queued_after`, `queued_before`.")
    finished = filters.IsoDateTimeFromToRangeFilter(field_name="finished_at")

    class Meta:
        model = Prediction
        fields: list[str] = []


class ReviewFilter(filters.FilterSet):
    verdict = filters.ChoiceFilter(choices=Verdict.choices)
    diagnosis = filters.MultipleChoiceFilter(choices=DiagnosisClass.choices)
    histopathology_confirmed = filters.BooleanFilter()
    mrn = filters.CharFilter(field_name="image__lesion__patient__mrn")
    patient = filters.NumberFilter(field_name="image__lesion__patient_id")
    image = filters.NumberFilter(field_name="image_id")
    prediction = filters.NumberFilter(field_name="prediction_id")
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")

    class Meta:
        model = Review
        fields: list[str] = []
