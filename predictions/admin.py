"""The admin site is for operators (superusers). Clinical records are read-only here: changing them
belongs to the services, which check clinic roles and write the audit trail."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from .admin_governance import (
    AuditedViewsMixin,
    FileViewsMixin,
    images_rerun,
    predictions_rerun_action,
    probabilities_html,
)
from .interpretation import Recommendation, recommendation_of
from .models import AuditEvent, Clinic, Lesion, LesionImage, Membership, Patient, Prediction, PredictionStatus, Review

ADVICE = {
    Recommendation.REFER: "Refer",
    Recommendation.ROUTINE: "Routine",
    Recommendation.CANNOT_ASSESS: "Cannot assess",
    Recommendation.NONE: "No threshold",
}


# The lists of records (predictions, audit events) need the page's width: with Django's navigation sidebar beside
# the filters, a 1280 px screen left them about 620 px and cut their columns. The index and breadcrumbs remain.
admin.site.enable_nav_sidebar = False


class ReadOnlyAdmin(AuditedViewsMixin, admin.ModelAdmin):
    """Clinical records: viewed only, and every list and record viewed is audited."""

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
    list_filter = ["clinic", "sex"]
    list_select_related = ["clinic"]
    search_fields = ["full_name", "mrn"]


@admin.register(Lesion)
class LesionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "site", "created_at"]
    list_filter = ["site", "patient__clinic"]
    list_select_related = ["patient"]
    search_fields = ["label", "patient__mrn", "patient__full_name"]


@admin.register(LesionImage)
class LesionImageAdmin(FileViewsMixin, ReadOnlyAdmin):
    list_display = ["id", "lesion", "width", "height", "format", "site", "sex", "age", "uploaded_by", "uploaded_at"]
    list_filter = ["format", "site", "sex", "lesion__patient__clinic"]
    list_select_related = ["lesion__patient", "uploaded_by"]
    exclude = ["file"]  # the storage URL is never exposed; the link below goes through the clinic check
    readonly_fields = ["view_file", "preview"]
    search_fields = ["sha256", "lesion__patient__mrn", "lesion__patient__full_name", "=id"]
    actions = [images_rerun]
    file_views = {
        "file": (
            "file",
            lambda image: {"JPEG": "image/jpeg", "PNG": "image/png"}.get(image.format, "application/octet-stream"),
        )
    }

    @admin.display(description="File")
    def view_file(self, obj):
        return format_html('<a href="{}">open</a>', reverse("predictions:lesion-image-file", args=[obj.pk]))

    @admin.display(description="Preview")
    def preview(self, obj):
        return format_html(
            '<img src="{}" alt="The stored photograph" style="max-width:320px">', self.file_url(obj, "file")
        )


@admin.register(Prediction)
class PredictionAdmin(FileViewsMixin, ReadOnlyAdmin):
    # Short columns an operator scans (whose, what state, what verdict), so the list fits a laptop's width;
    # the full record (probabilities, timings, claim, error) is one click away.
    list_display = ["id", "clinic", "patient_mrn", "status", "advice", "risk", "top", "version", "finished"]
    list_display_links = ["id"]
    list_filter = ["status", "model_version", "top_class", "image__lesion__patient__clinic"]
    list_select_related = ["image__lesion__patient__clinic"]
    exclude = ["heatmap", "probabilities"]
    readonly_fields = ["probability_table", "heatmap_preview"]
    search_fields = ["image__lesion__patient__mrn", "image__lesion__patient__full_name", "model_version", "=image__id"]
    actions = [predictions_rerun_action]
    file_views = {"heatmap": ("heatmap", "image/png")}

    @admin.display(description="Clinic", ordering="image__lesion__patient__clinic__name")
    def clinic(self, obj):
        return obj.image.lesion.patient.clinic.name

    @admin.display(description="MRN", ordering="image__lesion__patient__mrn")
    def patient_mrn(self, obj):
        return obj.image.lesion.patient.mrn

    @admin.display(description="Advice")
    def advice(self, obj):
        if obj.status != PredictionStatus.SUCCEEDED:
            return "—"
        return ADVICE[
            recommendation_of(
                risk=obj.malignancy_risk, refer=obj.refer, threshold=obj.referral_threshold, assessable=obj.assessable
            )
        ]

    @admin.display(description="Top class", ordering="top_class")
    def top(self, obj):
        # The HAM10000 code (mel, nv...) keeps the column narrow; the class's name shows on hover.
        return (
            format_html('<span title="{}">{}</span>', obj.get_top_class_display(), obj.top_class)
            if obj.top_class
            else "—"
        )

    @admin.display(description="Risk", ordering="malignancy_risk")
    def risk(self, obj):
        return "—" if obj.malignancy_risk is None else f"{obj.malignancy_risk:.0%}"

    @admin.display(description="Version", ordering="model_version")
    def version(self, obj):
        # "name:version" is long and the same for every row of a site; the version tells them apart.
        name, _, version = obj.model_version.rpartition(":")
        return format_html('<span title="{}">{}</span>', obj.model_version, version or obj.model_version)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, obj):
        if not obj.finished_at:
            return "—"
        finished = timezone.localtime(obj.finished_at)
        return format_html('<span title="{}">{}</span>', f"{finished:%Y-%m-%d %H:%M:%S %Z}", f"{finished:%d %b %H:%M}")

    @admin.display(description="Probabilities")
    def probability_table(self, obj):
        return probabilities_html(obj)

    @admin.display(description="Heatmap (Grad-CAM) and image")
    def heatmap_preview(self, obj):
        if not obj.heatmap:
            return "—"
        return format_html(
            '<img src="{}" alt="Heatmap" style="max-width:240px"> '
            '<img src="{}" alt="The stored photograph" style="max-width:240px">',
            self.file_url(obj, "heatmap"),
            reverse("admin:predictions_lesionimage_file", args=[obj.image_id]),
        )


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "verdict", "diagnosis", "histopathology_confirmed", "reviewer", "created_at"]
    list_filter = ["verdict", "diagnosis", "histopathology_confirmed", "image__lesion__patient__clinic"]
    list_select_related = ["image", "reviewer"]
    search_fields = ["image__lesion__patient__mrn", "image__lesion__patient__full_name", "reviewer__username"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "action",
        "clinic",
        "actor",
        "target_type",
        "target_id",
        "ip_address",
        "short_hash",
    ]
    list_filter = ["action", "clinic", "target_type"]
    list_select_related = ["clinic", "actor"]
    search_fields = ["target_id", "action", "actor__username", "ip_address", "hash"]
    date_hierarchy = "created_at"

    @admin.display(description="Hash")
    def short_hash(self, obj):
        return f"{obj.hash[:12]}…"


from . import admin_sign_in  # noqa: E402,F401  (sign-in lockouts and their unlock)
from .api import admin as api_admin  # noqa: E402,F401  (registers API tokens and webhooks)
