"""Governance in the admin site: every admin view of clinical records and every admin change is audited,
the review queue and the model registry have their own pages, and predictions show their probabilities
and heatmap. Writes go through the services, as everywhere else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from mlcore import CLASS_NAMES, MALIGNANT_CLASSES

from .models import Clinic, LesionImage, ModelVersion, Prediction, ReviewCase, ReviewCaseReason, ReviewCaseState
from .models.audit import AuditAction
from .services.audit import audit_record
from .services.registry import model_version_activate
from .services.reruns import predictions_rerun_enqueue
from .services.review_cases import review_case_assign
from .views import private_file_response

_LOG_ACTIONS = {
    ADDITION: AuditAction.ADMIN_ADDITION,
    CHANGE: AuditAction.ADMIN_CHANGE,
    DELETION: AuditAction.ADMIN_DELETION,
}


def clinic_of(obj) -> Clinic | None:
    """The clinic an object belongs to (by its model's CLINIC_PATH), or None for system-wide objects."""
    if obj is None:
        return None
    if isinstance(obj, Clinic):
        return obj
    path = getattr(type(obj), "CLINIC_PATH", None)
    if not path:
        return None
    value = obj
    for part in path.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


# --- Admin changes ----------------------------------------------------------------------------------------------
@receiver(post_save, sender=LogEntry, dispatch_uid="predictions.audit_admin_log_entry")
def _audit_admin_log_entry(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    # The admin writes its LogEntry in the transaction of the change (add, change, delete views), so the
    # audit record commits or rolls back with the change itself.
    if not created:
        return
    content_type = instance.content_type
    model = content_type.model_class() if content_type is not None else None
    # A deletion is logged just before the object goes, so it can still be found here.
    obj = model._default_manager.filter(pk=instance.object_id).first() if model is not None else None
    audit_record(
        actor=instance.user,
        clinic=clinic_of(obj),
        action=_LOG_ACTIONS.get(instance.action_flag, AuditAction.ADMIN_OTHER),
        target_type=model._meta.label_lower if model is not None else "unknown",
        target_id=instance.object_id or "",
        data={"object_repr": instance.object_repr, "change_message": instance.get_change_message()},
    )


@admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s")
def audited_delete_selected(modeladmin, request, queryset):
    """Django's delete_selected in one transaction with an audit record per deleted object.

    Deleting several objects logs them with bulk_create, which sends no post_save; one object is logged
    by LogEntry.save() and audited by the receiver above.
    """
    confirmed = bool(request.POST.get("post"))
    with transaction.atomic():
        before = [(obj.pk, str(obj)[:200], clinic_of(obj)) for obj in queryset] if confirmed else []
        response = delete_selected(modeladmin, request, queryset)
        if len(before) > 1:
            remaining = set(
                queryset.model._default_manager.filter(pk__in=[pk for pk, _, _ in before]).values_list("pk", flat=True)
            )
            for pk, text, clinic in before:
                if pk not in remaining:
                    audit_record(
                        actor=request.user,
                        clinic=clinic,
                        action=AuditAction.ADMIN_DELETION,
                        target_type=queryset.model._meta.label_lower,
                        target_id=str(pk),
                        data={"object_repr": text, "change_message": "Deleted (bulk)."},
                    )
    return response


admin.site.add_action(audited_delete_selected, "delete_selected")


# --- Admin views of records -------------------------------------------------------------------------------------
class AuditedViewsMixin:
    """Records who looked at which records in the admin: each list page and each object page."""

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            with transaction.atomic():
                audit_record(
                    actor=request.user,
                    clinic=None,
                    action=AuditAction.ADMIN_LIST,
                    target_type=self.model._meta.label_lower,
                    target_id="",
                    data={"query": request.GET.urlencode()[:500]},
                )
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            obj = self.get_object(request, unquote(object_id))
            if obj is not None and self.has_view_or_change_permission(request, obj):
                with transaction.atomic():
                    audit_record(actor=request.user, clinic=clinic_of(obj), action=AuditAction.ADMIN_VIEW, target=obj)
        return super().change_view(request, object_id, form_url, extra_context)


class FileViewsMixin:
    """An admin-only URL per object that streams one of its files, audited as a download. The clinic-scoped
    views of the portal would refuse an operator who is not a member of the clinic."""

    model: type[Model]  # from the ModelAdmin this is mixed into
    # url name -> (file field, content type, or a function of the object that gives it)
    file_views: dict[str, tuple[str, str | Callable[[Any], str]]] = {}

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        extra = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(self._file_view(name)),
                name=f"{info[0]}_{info[1]}_{name}",
            )
            for name in self.file_views
        ]
        return extra + super().get_urls()

    def _file_view(self, name):
        field_name, content_type = self.file_views[name]

        def view(request, object_id):
            obj = self.get_object(request, unquote(object_id))
            if obj is None or not self.has_view_or_change_permission(request, obj):
                raise Http404
            with transaction.atomic():
                audit_record(
                    actor=request.user,
                    clinic=clinic_of(obj),
                    action=AuditAction.ADMIN_DOWNLOAD,
                    target=obj,
                    data={"file": field_name},
                )
            return private_file_response(
                getattr(obj, field_name), content_type(obj) if callable(content_type) else content_type
            )

        return view

    def file_url(self, obj, name) -> str:
        info = self.model._meta.app_label, self.model._meta.model_name
        return reverse(f"admin:{info[0]}_{info[1]}_{name}", args=[obj.pk])


def probabilities_html(prediction: Prediction) -> str:
    if not prediction.probabilities:
        return "—"
    ranked = sorted(prediction.probabilities.items(), key=lambda item: -item[1])
    # format_html escapes its arguments into strings first, so numbers are formatted here.
    rows = format_html_join(
        "",
        '<tr><td>{}</td><td>{}</td><td style="text-align:right">{}%</td>'
        '<td><div style="background:{};height:0.7em;width:{}px"></div></td></tr>',
        (
            (
                code,
                CLASS_NAMES.get(code, code),
                f"{p * 100:.1f}",
                "#c53030" if code in MALIGNANT_CLASSES else "#2b6cb0",
                f"{p * 200:.0f}",
            )
            for code, p in ranked
        ),
    )
    return format_html('<table style="min-width:30em">{}</table>', rows)


# --- Re-running predictions -------------------------------------------------------------------------------------
def _report_rerun(modeladmin, request, images) -> None:
    try:
        outcome = predictions_rerun_enqueue(actor=request.user, images=images)
    except (PermissionDenied, ValidationError) as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return
    modeladmin.message_user(
        request,
        (
            f"Queued on {outcome.model_version}: {len(outcome.queued)} new prediction(s), "
            f"{len(outcome.retried)} failed one(s) retried, {outcome.skipped} image(s) already done or under way. "
            "Results that disagree with the previous version go to the review queue."
        ),
        messages.SUCCESS,
    )


@admin.action(description="Re-run on the active model version")
def images_rerun(modeladmin, request, queryset):
    _report_rerun(modeladmin, request, queryset.select_related("lesion__patient__clinic"))


@admin.action(description="Re-run their images on the active model version")
def predictions_rerun_action(modeladmin, request, queryset):
    images = LesionImage.objects.filter(id__in=queryset.values("image_id")).select_related("lesion__patient__clinic")
    _report_rerun(modeladmin, request, images)


# --- Review queue -----------------------------------------------------------------------------------------------
class AssignActionForm(ActionForm):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"), required=False, label="Reviewer"
    )


class ReviewCaseReasonInline(admin.TabularInline):
    model = ReviewCaseReason
    extra = 0
    can_delete = False
    fields = readonly_fields = ("code", "priority", "prediction", "detail", "created_at")  # a tuple: shared

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReviewCase)
class ReviewCaseAdmin(AuditedViewsMixin, admin.ModelAdmin):
    list_display = ["id", "priority", "state", "reason_list", "patient", "image", "assignee", "opened_at", "closed_at"]
    list_filter = ["state", "reasons__code", "image__lesion__patient__clinic", "assignee"]
    list_select_related = ["image__lesion__patient", "assignee"]
    search_fields = ["image__lesion__patient__mrn", "image__lesion__patient__full_name", "=image__id"]
    ordering = ["-priority", "opened_at", "id"]
    inlines = [ReviewCaseReasonInline]
    action_form = AssignActionForm
    actions = ["assign_to_reviewer", "give_back_to_queue"]
    readonly_fields = [
        "image",
        "prediction",
        "state",
        "priority",
        "assignee",
        "opened_at",
        "assigned_at",
        "closed_at",
        "closed_by",
        "review",
        "resolution",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("reasons")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Reasons")
    def reason_list(self, case):
        return ", ".join(reason.get_code_display() for reason in case.reasons.all())

    @admin.display(description="Patient", ordering="image__lesion__patient__full_name")
    def patient(self, case):
        return case.image.lesion.patient

    def _assign(self, request, queryset, assignee):
        done = failed = 0
        for case in queryset:
            try:
                review_case_assign(actor=request.user, case=case, assignee=assignee)
                done += 1
            except (PermissionDenied, ValidationError) as exc:
                failed += 1
                self.message_user(
                    request, f"Case {case.pk}: {' '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR
                )
        if done:
            where = f"assigned to {assignee}" if assignee else "back in the queue"
            self.message_user(request, f"{done} case(s) {where}.", messages.SUCCESS)

    @admin.action(description="Assign to the chosen reviewer")
    def assign_to_reviewer(self, request, queryset):
        assignee = AssignActionForm(request.POST).fields["assignee"].clean(request.POST.get("assignee") or None)
        if assignee is None:
            self.message_user(request, "Choose a reviewer to assign the cases to.", messages.ERROR)
            return
        self._assign(request, queryset, assignee)

    @admin.action(description="Give back to the queue (unassign)")
    def give_back_to_queue(self, request, queryset):
        self._assign(request, queryset.exclude(state=ReviewCaseState.DONE), None)


# --- Model registry ---------------------------------------------------------------------------------------------
@admin.register(ModelVersion)
class ModelVersionAdmin(AuditedViewsMixin, admin.ModelAdmin):
    list_display = [
        "identifier",
        "is_active",
        "balanced_accuracy",
        "melanoma_auc",
        "short_checksum",
        "registered_at",
        "activated_at",
        "activated_by",
    ]
    list_filter = ["is_active", "name"]
    search_fields = ["identifier", "checksum"]
    readonly_fields = [
        "name",
        "version",
        "identifier",
        "checksum",
        "model_dir",
        "metrics",
        "model_card",
        "config",
        "registered_at",
        "registered_by",
        "is_active",
        "activated_at",
        "activated_by",
    ]
    actions = ["activate", "rerun_stored_images"]

    def has_add_permission(self, request, obj=None):
        return False  # manage.py model_register: it reads the model directory on the server

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # predictions name their version; its record stays

    @admin.display(description="Val balanced accuracy")
    def balanced_accuracy(self, version):
        value = version.metric("balanced_accuracy")
        return f"{value:.3f}" if value is not None else "—"

    @admin.display(description="Val melanoma AUC")
    def melanoma_auc(self, version):
        value = version.metric("melanoma_auc")
        return f"{value:.3f}" if value is not None else "—"

    @admin.display(description="Weights SHA-256")
    def short_checksum(self, version):
        return f"{version.checksum[:16]}…"

    @admin.action(description="Activate (exactly one selected)")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = model_version_activate(actor=request.user, model_version=queryset.get())
        except (PermissionDenied, ValidationError) as exc:
            self.message_user(request, " ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR)
            return
        self.message_user(
            request,
            f"{version.identifier} is now active. Stored results are unchanged; re-run stored "
            f"images to add its results and queue the changed cases for review.",
            messages.SUCCESS,
        )

    @admin.action(description="Re-run all stored images on it (active version only)")
    def rerun_stored_images(self, request, queryset):
        if queryset.count() != 1 or not queryset.get().is_active:
            self.message_user(
                request, "Select the active version: the workers run only the active one.", messages.ERROR
            )
            return
        _report_rerun(self, request, LesionImage.objects.select_related("lesion__patient__clinic").order_by("id"))
