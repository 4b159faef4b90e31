from django.urls import path

from . import lesion_views, similar_views, token_views, views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("api-tokens/", token_views.api_token_clinics, name="api-tokens"),
    path("clinics/<int:clinic_id>/api-tokens/", token_views.api_token_list, name="api-token-list"),
    path(
        "clinics/<int:clinic_id>/api-tokens/<int:token_id>/revoke/",
        token_views.api_token_revoke,
        name="api-token-revoke",
    ),
    path("patients/", views.patient_list, name="patient-list"),
    path("patients/new/", views.patient_create, name="patient-create"),
    path("patients/<int:patient_id>/", views.patient_detail, name="patient-detail"),
    path("patients/<int:patient_id>/edit/", views.patient_edit, name="patient-edit"),
    path("patients/<int:patient_id>/upload/", views.image_upload, name="image-upload"),
    path("lesions/<int:lesion_id>/", views.lesion_timeline, name="lesion-timeline"),
    path("lesions/<int:lesion_id>/report.pdf", lesion_views.lesion_report, name="lesion-report"),
    path("patients/<int:patient_id>/lesions/new/", lesion_views.lesion_create, name="lesion-create"),
    path("lesions/<int:lesion_id>/edit/", lesion_views.lesion_edit, name="lesion-edit"),
    path("lesions/<int:lesion_id>/archive/", lesion_views.lesion_archive_view, name="lesion-archive"),
    path("lesions/<int:lesion_id>/restore/", lesion_views.lesion_restore_view, name="lesion-restore"),
    path("lesions/<int:lesion_id>/merge/", lesion_views.lesion_merge_view, name="lesion-merge"),
    path("predictions/<int:prediction_id>/", views.prediction_detail, name="prediction-detail"),
    path("predictions/<int:prediction_id>/result/", views.prediction_result, name="prediction-result"),
    path("predictions/<int:prediction_id>/badge/", views.prediction_badge, name="prediction-badge"),
    path("predictions/<int:prediction_id>/viewer/", views.prediction_viewer, name="prediction-viewer"),
    path("predictions/<int:prediction_id>/retry/", views.prediction_retry, name="prediction-retry"),
    path(
        "predictions/<int:prediction_id>/heatmaps/", views.prediction_heatmap_request, name="prediction-heatmap-request"
    ),
    path("predictions/<int:prediction_id>/review/", views.prediction_review, name="prediction-review"),
    path(
        "predictions/<int:prediction_id>/similar/<int:rank>.jpg",
        similar_views.similar_case_thumbnail_file,
        name="prediction-similar-thumbnail",
    ),
]
