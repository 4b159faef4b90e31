"""Links to the API's resources, built in one place for every caller: API responses (absolute to the request's
host, api/serializers.py) and webhook bodies (absolute to PUBLIC_URL, services/webhooks.py)."""

from __future__ import annotations

from django.conf import settings
from django.urls import get_script_prefix, reverse

_SENTINEL = 987654321
_path_templates: dict[tuple[str, str], str] = {}


def api_path(name: str, pk) -> str:
    """The path of an API resource by id. A page of 50 predictions links 200 times: `reverse` runs once
    per view (and script prefix), the rest is string formatting."""
    key = (name, get_script_prefix())
    template = _path_templates.get(key)
    if template is None:
        template = _path_templates[key] = reverse(f"api:{name}", args=[_SENTINEL]).replace(str(_SENTINEL), "{}")
    return template.format(pk)


def api_public_url(name: str, pk) -> str:
    """The URL of an API resource as seen from outside (PUBLIC_URL), for messages sent without a request."""
    return settings.SKINCLINIC_PUBLIC_URL.rstrip("/") + api_path(name, pk)
