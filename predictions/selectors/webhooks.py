"""The webhook endpoints of the clinics the user administers, and their deliveries."""

from __future__ import annotations

from django.db.models import QuerySet

from .. import permissions
from ..models import WebhookDelivery, WebhookEndpoint
from .clinics import object_get_for_user


def webhook_endpoint_list(*, user) -> QuerySet[WebhookEndpoint]:
    """The endpoints of the clinics the user administers (webhooks are for administrators only)."""
    clinics = permissions.clinics_where(user, "clinic.administer")
    return WebhookEndpoint.objects.filter(clinic__in=clinics.values("id")).select_related("clinic")


def webhook_endpoint_get(*, user, pk) -> WebhookEndpoint:
    """An endpoint of the user's clinics (404 for another clinic's), for its administrators (403 otherwise)."""
    endpoint = object_get_for_user(WebhookEndpoint.objects.select_related("clinic"), user=user, pk=pk)
    permissions.require(user, "clinic.administer", endpoint.clinic)
    return endpoint


def webhook_delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.prefetch_related("attempt_log").order_by("-created_at", "-id")
