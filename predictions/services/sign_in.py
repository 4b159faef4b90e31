"""Sign-in failures on the audit trail, and unlocking a locked-out account or address.

django-axes counts failures and locks out an account or an address (settings: LOGIN_FAILURE_LIMIT,
LOGIN_ADDRESS_FAILURE_LIMIT, LOGIN_LOCKOUT_MINUTES); this module sets the limit of each try, puts each failure
on the audit trail and is the one way to lift a lockout early, so that every unlock is on the trail too.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.db.models import Sum
from django.dispatch import receiver
from django.utils import timezone

from .. import permissions
from ..models import AuditEvent
from ..models.audit import AuditAction, audit_chain_keys
from .audit import audit_record

USERNAME_MAX = 150  # Django's username length: anything longer is not a username, and is cut


def sign_in_failure_limit(request, credentials) -> int:
    """django-axes' limit for this try (AXES_FAILURE_LIMIT), which it compares with the larger of the account's
    and the address's failure counts: the account's limit once the account has reached it, else the
    address's. So an account locks after LOGIN_FAILURE_LIMIT failures and an address only after
    LOGIN_ADDRESS_FAILURE_LIMIT: one person's typos lock their own account, not everyone behind the same NAT."""
    account_limit = settings.SKINCLINIC_LOGIN_FAILURE_LIMIT
    username = get_client_username(request, credentials)
    if username:
        since = timezone.now() - (get_cool_off(request) or datetime.timedelta(days=36500))
        failures = (
            AccessAttempt.objects.filter(username=username, attempt_time__gte=since).aggregate(
                total=Sum("failures_since_start")
            )["total"]
            or 0
        )
        if failures >= account_limit:
            return account_limit
    return settings.SKINCLINIC_LOGIN_ADDRESS_FAILURE_LIMIT


def sign_in_failure_record(*, username: str, locked_out: bool) -> AuditEvent:
    """Record one failed sign-in (a wrong password, an unknown user, or any try while locked out).

    The address comes from the request's audit context. The account, when it exists, is the target and its
    username is recorded, so an account's trail shows the guesses against it; no clinic (a sign-in belongs to
    no clinic). A name that is no account is often a password typed in the wrong box, and the trail can never
    be cleaned: it is recorded only as a keyed digest, which still shows the same name tried again.
    """
    username = (username or "")[:USERNAME_MAX]
    user = get_user_model().objects.filter(username=username).only("pk").first() if username else None
    data: dict[str, str | None]
    if user is not None:
        data = {"username": username}
    else:
        digest = hmac.new(audit_chain_keys()[0], b"sign-in:" + username.encode(), hashlib.sha256).hexdigest()
        data = {"username": None, "unknown_username_digest": digest[:16]}
    return audit_record(
        actor=None,
        clinic=None,
        action=AuditAction.LOGIN_FAILED,
        target=user,
        target_type=None if user else "auth.user",
        target_id=None if user else "",
        data={**data, "locked_out": locked_out},
    )


@receiver(user_login_failed, dispatch_uid="predictions.sign_in.failure_record")
def _sign_in_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    # Connected after django-axes's own receiver ("axes" precedes "predictions" in INSTALLED_APPS), so that
    # this attempt's lockout is already decided. Django's authenticate() sends it for every failed sign-in.
    sign_in_failure_record(
        username=str(credentials.get("username", "")), locked_out=bool(getattr(request, "axes_locked_out", False))
    )


@transaction.atomic
def sign_in_unlock(*, actor, username: str | None = None, ip_address: str | None = None) -> int:
    """Lift the lockout of an account and/or an address before its cool-off ends; returns the failure
    records cleared (0: nothing was locked). Operators only (the command and the admin site)."""
    permissions.require(actor, "sign_in.unlock")
    if not username and not ip_address:
        raise ValueError("Name an account, an address or both.")
    cleared = 0
    if username:
        cleared += axes_reset(username=username)
    if ip_address:
        cleared += axes_reset(ip=ip_address)
    user = get_user_model().objects.filter(username=username).only("pk").first() if username else None
    audit_record(
        actor=actor,
        clinic=None,
        action=AuditAction.LOGIN_UNLOCK,
        target=user,
        target_type=None if user else "auth.user",
        target_id=None if user else "",
        data={"username": username or None, "ip_address": ip_address or None, "cleared": cleared},
    )
    return cleared
