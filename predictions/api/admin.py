"""Admin pages for API tokens (made here, the key shown once) and the clinics' webhooks (read-only logs)."""

from django.contrib import admin, messages
from django.utils import timezone

from ..models import ApiToken, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ..services.api_tokens import api_token_create, api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    autocomplete_fields = ["user"]
    fields = ["user", "name", "expires_at", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # A token's owner and name are fixed once it exists; revoke it and make another instead.
        return self.readonly_fields + (["user", "name", "expires_at"] if obj else [])

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, key = api_token_create(user=obj.user, name=obj.name, actor=request.user, expires_at=obj.expires_at)
        obj.pk = token.pk
        messages.warning(
            request, f"The key of “{token.name}” is {key} — copy it now: it is not stored and cannot be shown again."
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the audit trail refers to tokens

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, actor=request.user)
        self.message_user(request, f"Revoked at {timezone.now():%Y-%m-%d %H:%M}.")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "started_at", "duration_ms", "response_status", "outcome", "error"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "clinic", "events", "is_active", "created_at"]
    list_filter = ["is_active", "clinic"]
    list_select_related = ["clinic"]
    exclude = ["secret"]
    readonly_fields = ["clinic", "url", "events", "created_by", "created_at"]

    def has_add_permission(self, request):
        return False  # clinic administrators register endpoints through the API (which audits it)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "endpoint", "status", "attempts", "created_at", "finished_at"]
    list_filter = ["status", "event"]
    list_select_related = ["endpoint__clinic"]
    readonly_fields = [
        "endpoint",
        "event",
        "event_id",
        "body",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "finished_at",
    ]
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
