"""Everything that reads, by entity, already scoped to the user's clinics (`clinics.scoped`,
`clinics.object_get_for_user`). Callers import from here; each read lives in the module of the entity it returns."""

from .api_tokens import api_token_list_for_clinic, api_token_owner_list
from .audit import audit_event_browse, audit_event_list
from .clinics import clinic_list, governance_clinic_get, membership_list, object_get_for_user, scoped
from .images import (
    ImageReport,
    image_report_get,
    lesion_image_detail_get,
    lesion_image_detail_list,
    lesion_image_duplicate_list,
    lesion_image_list,
)
from .lesions import lesion_get, lesion_list, lesion_summary_list, lesion_timeline
from .model_versions import (
    CARD_FIGURES,
    ServedModel,
    model_served_get,
    model_version_active,
    model_version_get,
    model_version_list,
)
from .patients import patient_get, patient_list, patient_summary_list
from .performance import AGE_BANDS, MELANOMA, Figures, PerformanceReport, age_band, performance_report
from .predictions import (
    ClassHeatmap,
    Dashboard,
    dashboard_get,
    latest_predictions,
    prediction_class_heatmaps,
    prediction_get,
    prediction_list,
    prediction_needs_review_q,
    prediction_representation_get,
    prediction_representation_list,
    prediction_version_diff,
)
from .review_cases import review_case_get, review_case_list, reviewer_list
from .reviews import review_get, review_list, review_representation_list
from .similar_cases import PanelStatus, SimilarCasesPanel, similar_case_thumbnail, similar_cases_panel
from .webhooks import webhook_delivery_list, webhook_endpoint_get, webhook_endpoint_list

__all__ = [
    "clinic_list",
    "membership_list",
    "scoped",
    "object_get_for_user",
    "governance_clinic_get",
    "patient_list",
    "patient_get",
    "patient_summary_list",
    "lesion_list",
    "lesion_get",
    "lesion_summary_list",
    "lesion_timeline",
    "lesion_image_list",
    "lesion_image_duplicate_list",
    "lesion_image_detail_list",
    "lesion_image_detail_get",
    "ImageReport",
    "image_report_get",
    "prediction_list",
    "prediction_get",
    "latest_predictions",
    "ClassHeatmap",
    "prediction_class_heatmaps",
    "Dashboard",
    "prediction_needs_review_q",
    "dashboard_get",
    "prediction_representation_list",
    "prediction_representation_get",
    "prediction_version_diff",
    "review_list",
    "review_representation_list",
    "review_get",
    "review_case_list",
    "review_case_get",
    "reviewer_list",
    "audit_event_list",
    "audit_event_browse",
    "model_version_list",
    "model_version_active",
    "model_version_get",
    "CARD_FIGURES",
    "ServedModel",
    "model_served_get",
    "MELANOMA",
    "AGE_BANDS",
    "age_band",
    "Figures",
    "PerformanceReport",
    "performance_report",
    "PanelStatus",
    "SimilarCasesPanel",
    "similar_cases_panel",
    "similar_case_thumbnail",
    "api_token_owner_list",
    "api_token_list_for_clinic",
    "webhook_endpoint_list",
    "webhook_endpoint_get",
    "webhook_delivery_list",
]
