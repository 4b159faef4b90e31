from django.urls import path

from . import views

app_name = "governance"

urlpatterns = [
    path("", views.index, name="index"),
    path("models/", views.model_versions, name="models"),
    path("clinics/<int:clinic_id>/queue/", views.queue, name="queue"),
    path("clinics/<int:clinic_id>/audit/", views.audit_trail, name="audit"),
    path("clinics/<int:clinic_id>/performance/", views.performance, name="performance"),
    path("clinics/<int:clinic_id>/performance.json", views.performance_json, name="performance-json"),
    path("cases/<int:case_id>/assign/", views.case_assign, name="case-assign"),
    path("cases/<int:case_id>/close/", views.case_close, name="case-close"),
]
