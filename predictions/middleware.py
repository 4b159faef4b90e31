"""Request middleware of the clinical app."""
from __future__ import annotations

import ipaddress

from django.conf import settings

from .services.audit import audit_context


def client_ip(request) -> str | None:
    """The client's address as the audit trail records it, or None when it is not a valid IP."""
    candidate = request.META.get("REMOTE_ADDR", "")
    if settings.SKINCLINIC_AUDIT_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            candidate = forwarded.split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class AuditContextMiddleware:
    """Every audit record written while handling a request carries the client's address and user agent."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with audit_context(ip_address=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")):
            return self.get_response(request)
