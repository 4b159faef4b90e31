"""Request middleware of the clinical app."""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

from .api.exceptions import error_body
from .faults import fault_classify
from .services.audit import audit_context

logger = logging.getLogger(__name__)


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


class FaultResponseMiddleware:
    """A fault of a backing service or an unreadable request answers plainly, never with a traceback.

    Under /api/ every error is the API's JSON error shape (even a 404 for an unknown path, or an error
    that escaped DRF's handler); in the portal a database outage, a full or read-only disk is a short
    page that says what happened and what to do (with Retry-After where a retry will work).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if _is_api(request) and response.status_code >= 400 and not _is_json(response):
            return _api_error_response(
                response.status_code,
                _PLAIN_DETAIL.get(response.status_code, response.reason_phrase or "Error."),
                retry_after=response.get("Retry-After"),
            )
        return response

    def process_exception(self, request, exception):
        fault = fault_classify(exception)
        if fault is None:
            return None  # a bug: Django's 500 handling logs it (and, under /api/, __call__ shapes the body)
        logger.warning("%s %s: %s (%r)", request.method, request.path, fault.code, exception)
        if _is_api(request):
            return _api_error_response(fault.status, fault.detail, retry_after=fault.retry_after)
        # A page of its own (no base template, no context processors): the database may be what is down.
        response = HttpResponse(render_to_string("fault.html", {"fault": fault}), status=fault.status)
        if fault.retry_after is not None:
            response["Retry-After"] = str(fault.retry_after)
        return response


_PLAIN_DETAIL = {
    400: "The request cannot be read.",
    404: "Not found.",
    500: "An internal error occurred; it is logged. Try again later.",
}


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _is_json(response) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().endswith("json")


def _api_error_response(status: int, detail: str, *, retry_after=None) -> JsonResponse:
    response = JsonResponse(error_body(detail), status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
