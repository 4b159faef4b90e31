from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from predictions.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Pages without the base template's icon link (the admin, the API docs, error pages) still get an icon.
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True)),
    path("api/", include("predictions.api.urls")),
    path("", include("predictions.urls")),
    path("governance/", include("predictions.governance.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("predictions.portal.urls")),
]
