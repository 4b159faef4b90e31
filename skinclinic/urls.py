from django.contrib import admin
from django.urls import include, path

from predictions.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/", include("predictions.api.urls")),
    path("", include("predictions.urls")),
    path("governance/", include("predictions.governance.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("predictions.portal.urls")),
]
