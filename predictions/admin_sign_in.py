"""Sign-in lockouts in the admin site: operators see the failure counts and unlock (through sign_in_unlock,
which audits it); nothing here edits or deletes a count directly."""

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages

from . import permissions
from .services.sign_in import sign_in_unlock


@admin.register(AccessAttempt)
class SignInLockoutAdmin(admin.ModelAdmin):
    # One tuple serves as columns, fields and read-only fields: immutable, so sharing it is safe.
    list_display = fields = readonly_fields = (
        "username",
        "ip_address",
        "failures_since_start",
        "locked",
        "attempt_time",
        "path_info",
    )
    search_fields = ["username", "ip_address"]
    actions = ["unlock"]

    @admin.display(boolean=True, description="Locked")
    def locked(self, obj) -> bool:
        # This row's count (one account from one address): the account's limit is the lower of the two.
        return obj.failures_since_start >= settings.SKINCLINIC_LOGIN_FAILURE_LIMIT

    @admin.action(description="Unlock the chosen accounts and addresses")
    def unlock(self, request, queryset):
        pairs = set(queryset.values_list("username", "ip_address"))
        for username, ip_address in sorted(pairs, key=str):
            sign_in_unlock(actor=request.user, username=username, ip_address=ip_address)
        messages.success(request, f"Unlocked {len(pairs)} account/address pair(s); each unlock is audited.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # deleting a count unlocks without an audit record: use the action

    def get_actions(self, request):
        # Admin actions need some permission; the action itself is for superusers (operators) only.
        return super().get_actions(request) if permissions.can(request.user, "sign_in.unlock") else {}
