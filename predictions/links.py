"""Links to the API's resources, built in one place for every caller: API responses (absolute to the request's
host, api/serializers.py) and webhook bodies (absolute to PUBLIC_URL, services/webhooks.py)."""

from __future__ import annotations

from django.conf import settings
from django.urls import get_script_prefix, reverse

_SENTINEL = 987654321
_path_templates: dict[tuple[str, str], str] = {}


def _path_template(name: str, script_prefix: str) -> str:
    """The view's path with "{}" for the id: `reverse` runs once per view and script prefix."""
    key = (name, script_prefix)
    template = _path_templates.get(key)
    if template is None:
        template = _path_templates[key] = reverse(f"api:{name}", args=[_SENTINEL]).replace(str(_SENTINEL), "{}")
    return template


def api_path(name: str, pk) -> str:
    """The path of an API resource by id."""
    return _path_template(name, get_script_prefix()).format(pk)


def api_public_url(name: str, pk) -> str:
    """The URL of an API resource as seen from outside (PUBLIC_URL), for messages sent without a request."""
    return settings.SKINCLINIC_PUBLIC_URL.rstrip("/") + api_path(name, pk)


class ApiLinks:
    """Links to API resources under one base (a request's scheme and host, or none for paths), made by
    string formatting alone: a page of 50 predictions links 350 times, and reading the script prefix (a
    context-local) on each was a tenth of the page's representation, so it is read once, when made."""

    def __init__(self, base: str = ""):
        self._base, self._script_prefix = base, get_script_prefix()
        self._templates: dict[str, str] = {}

    def url(self, name: str, pk) -> str:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self._base + _path_template(name, self._script_prefix)
        return template.format(pk)
