"""Token authentication against ApiToken: the key is looked up by its SHA-256 digest, never stored."""

from __future__ import annotations

import datetime
import functools

from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from ..compiled import CompiledSelect
from ..models import ApiToken
from ..services.api_tokens import api_token_digest

# Recording every use would write on every request; once a minute is enough to tell live tokens from dead.
LAST_USED_RESOLUTION = datetime.timedelta(seconds=60)


_KEY_SLOT = "0" * 64  # stands for the digest while the lookup's SQL is compiled


@functools.cache
def _token_lookup(vendor: str) -> CompiledSelect[ApiToken]:
    """The lookup's statement (the token's columns, then its user's), compiled once."""
    return CompiledSelect(
        ApiToken.objects.select_related("user").filter(key_hash=_KEY_SLOT).order_by(), slots={"key_hash": _KEY_SLOT}
    )


def api_token_with_user(key_hash: str) -> ApiToken | None:
    """The token with this digest, its user loaded with it (one statement), or None.

    Read on every request, so from SQL the ORM compiled once per process (the same statement as
    `ApiToken.objects.select_related("user").filter(key_hash=...)`): compiling it was half the token
    check's CPU. Nothing is cached but the SQL: a revoked token is refused on its next request.
    """
    lookup = _token_lookup(connection.vendor)
    rows = lookup.rows(key_hash=key_hash)
    return lookup.instance(rows[0]) if rows else None


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`); request.auth is the ApiToken."""

    keywords = (b"token", b"bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Token <key>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        token = api_token_with_user(api_token_digest(key))
        now = timezone.now()
        if (
            token is None
            or token.revoked_at is not None
            or not token.user.is_active
            or (token.expires_at is not None and token.expires_at <= now)
        ):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes unauthenticated requests 401 (with this challenge) rather than 403.
        return 'Token realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes ApiTokenAuthentication in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: a key a clinic administrator makes in the portal (API tokens), an "
            "operator in the admin, or `./scripts/manage api_token create`.",
        }
