"""Every API error has one shape: {"detail": "<what went wrong>", "errors": {"<field>": ["<message>", ...]}}."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from ..faults import Fault, Refusal, fault_classify

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


class ApiError(exceptions.APIException):
    """An APIException that can carry field errors as well as its detail."""

    def __init__(self, detail=None, code=None, errors: dict | None = None):
        super().__init__(detail, code)
        self.errors = errors or {}


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "too_large"


class UnprocessableEntity(ApiError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class FaultError(ApiError):
    """A fault of a backing service or of the request body (predictions.faults), with its HTTP meaning."""

    def __init__(self, fault: Fault):
        self.status_code = fault.status
        super().__init__(fault.detail, fault.code)
        self.retry_after = fault.retry_after


def django_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A Django ValidationError as {field: [messages]}, with model-wide errors under non_field_errors."""
    if hasattr(exc, "error_dict"):
        return {
            NON_FIELD if field == NON_FIELD_ERRORS else field: messages for field, messages in exc.message_dict.items()
        }
    return {NON_FIELD: list(exc.messages)}


class RefusalError(ApiError):
    """A service's typed refusal (predictions.faults.Refusal) with its HTTP status."""

    def __init__(self, refusal: Refusal):
        errors = django_errors(refusal)
        detail = refusal.detail or next(
            iter(m for messages in errors.values() for m in messages), "The request was refused."
        )
        self.status_code = refusal.status
        super().__init__(
            detail, errors={refusal.field: [refusal.detail]} if refusal.field and refusal.detail else errors
        )


def _messages(errors) -> list[str]:
    if isinstance(errors, dict):
        return [m for value in errors.values() for m in _messages(value)]
    if isinstance(errors, list):
        return [m for value in errors for m in _messages(value)]
    return [str(errors)]


def error_body(detail, errors=None) -> dict:
    return {"detail": str(detail), "errors": errors or {}}


def exception_handler(exc, context):
    """DRF's handler (401/403/404/405/415/429 with their headers), then the one error shape.

    A backing service that is down, a full or read-only disk, or a body too large or too complex to read
    is a fault with its own status (503 with Retry-After, 507, 413, 400), never an HTML 500.
    """
    if isinstance(exc, Refusal) and exc.status != status.HTTP_400_BAD_REQUEST:  # typed by the service
        exc = RefusalError(exc)
    elif isinstance(exc, DjangoValidationError):  # raised by the services
        exc = exceptions.ValidationError(detail=django_errors(exc))
    fault = None if isinstance(exc, exceptions.APIException) else fault_classify(exc)
    if fault is not None:
        exc = FaultError(fault)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, FaultError) and exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    data = response.data
    if isinstance(exc, exceptions.ValidationError) or (isinstance(data, dict) and "detail" not in data):
        errors = data if isinstance(data, dict) else {NON_FIELD: data}
        messages = _messages(errors)
        response.data = error_body(messages[0] if len(messages) == 1 else "Invalid input.", errors)
    else:
        response.data = error_body(
            data.get("detail", "Error.") if isinstance(data, dict) else data, getattr(exc, "errors", None)
        )
    return response
