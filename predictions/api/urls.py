from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from . import governance, similar, views

app_name = "api"

urlpatterns = [
    path("v1/clinics", views.ClinicListView.as_view(), name="clinic-list"),
    path("v1/clinics/<int:pk>/performance", governance.ClinicPerformanceView.as_view(), name="clinic-performance"),
    path("v1/patients", views.PatientListView.as_view(), name="patient-list"),
    path("v1/patients/<int:pk>", views.PatientDetailView.as_view(), name="patient-detail"),
    path("v1/patients/<int:pk>/lesions", views.PatientLesionListView.as_view(), name="patient-lesions"),
    path("v1/lesions/<int:pk>", views.LesionDetailView.as_view(), name="lesion-detail"),
    path("v1/lesions/<int:pk>/images", views.LesionImageListView.as_view(), name="lesion-images"),
    path("v1/images/<int:pk>", views.ImageDetailView.as_view(), name="image-detail"),
    path("v1/images/<int:pk>/file", views.ImageFileView.as_view(), name="image-file"),
    path("v1/images/<int:pk>/fhir", views.ImageFhirView.as_view(), name="image-fhir"),
    path("v1/images/<int:pk>/predictions", views.ImagePredictionRequestView.as_view(), name="image-predictions"),
    path("v1/predictions", views.PredictionListView.as_view(), name="prediction-list"),
    path("v1/predictions/<int:pk>", views.PredictionDetailView.as_view(), name="prediction-detail"),
    path("v1/predictions/<int:pk>/heatmap", views.PredictionHeatmapView.as_view(), name="prediction-heatmap"),
    path("v1/predictions/<int:pk>/heatmaps", views.PredictionHeatmapsView.as_view(), name="prediction-heatmaps"),
    path(
        "v1/predictions/<int:pk>/heatmaps/<str:class_code>",
        views.PredictionClassHeatmapView.as_view(),
        name="prediction-class-heatmap",
    ),
    path(
        "v1/predictions/<int:pk>/similar-cases",
        similar.PredictionSimilarCasesView.as_view(),
        name="prediction-similar-cases",
    ),
    path(
        "v1/predictions/<int:pk>/similar-cases/<int:rank>/thumbnail",
        similar.PredictionSimilarCaseThumbnailView.as_view(),
        name="prediction-similar-case-thumbnail",
    ),
    path("v1/reviews", views.ReviewListView.as_view(), name="review-list"),
    path("v1/reviews/<int:pk>", views.ReviewDetailView.as_view(), name="review-detail"),
    path("v1/webhooks", views.WebhookListView.as_view(), name="webhook-list"),
    path("v1/webhooks/<int:pk>", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("v1/webhooks/<int:pk>/deliveries", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    # The schema and its docs page are public: they describe the API, not any clinic's data. (Swagger UI
    # only: drf-spectacular's Redoc page loads Google Fonts, and nothing here may come from a CDN.)
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    # The split view serves Swagger UI's start-up code as a script file: the CSP allows no inline script.
    path(
        "docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", permission_classes=[AllowAny]), name="docs"
    ),
]
