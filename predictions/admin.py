"""The admin site is for operators (superusers). Clinical records are read-only here: changing them
belongs to the services, which check clinic roles and write the audit trail."""
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import AuditEvent, Clinic, Lesion, LesionImage, Membership, Patient, Prediction, Review


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "clinic", "role", "created_at"]
    list_filter = ["role", "clinic"]
    list_select_related = ["user", "clinic"]
    search_fields = ["user__username", "clinic__name"]
    autocomplete_fields = ["user", "clinic"]


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = ["full_name", "mrn", "clinic", "date_of_birth", "sex", "created_at"]
    list_filter = ["clinic"]
    list_select_related = ["clinic"]
    search_fields = ["full_name", "mrn"]


@admin.register(Lesion)
class LesionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "site", "created_at"]
    list_filter = ["site"]
    list_select_related = ["patient"]
    search_fields = ["label", "patient__mrn"]


@admin.register(LesionImage)
class LesionImageAdmin(ReadOnlyAdmin):
    list_display = ["id", "lesion", "width", "height", "format", "uploaded_by", "uploaded_at"]
    list_select_related = ["lesion__patient", "uploaded_by"]
    exclude = ["file"]  # the storage URL is never exposed; the link below goes through the clinic check
    readonly_fields = ["view_file"]
    search_fields = ["sha256"]

    @admin.display(description="File")
    def view_file(self, obj):
        return format_html('<a href="{}">open</a>', reverse("predictions:lesion-image-file", args=[obj.pk]))


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "model_version", "status", "top_class", "malignancy_risk", "attempts",
                    "queued_at", "finished_at"]
    list_filter = ["status", "model_version", "top_class"]
    list_select_related = ["image"]
    exclude = ["heatmap"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "verdict", "diagnosis", "histopathology_confirmed", "reviewer", "created_at"]
    list_filter = ["verdict", "diagnosis", "histopathology_confirmed"]
    list_select_related = ["image", "reviewer"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "clinic", "actor", "target_type", "target_id"]
    list_filter = ["action", "clinic"]
    list_select_related = ["clinic", "actor"]
    search_fields = ["target_id", "action"]

from .api import admin as api_admin  # noqa: E402,F401  (registers API tokens and webhooks)
