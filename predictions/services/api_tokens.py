"""API tokens: made for a user (the admin site or `manage.py api_token`), shown once, stored as a digest."""
from __future__ import annotations

import datetime
import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from ..models import ApiToken
from .audit import audit_record

KEY_PREFIX = "sc_"


def api_token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str, actor=None, expires_at: datetime.datetime | None = None
                     ) -> tuple[ApiToken, str]:
    """Make a token for `user`; returns (token, key). The key is not kept and cannot be shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name.strip(), prefix=key[:10], key_hash=api_token_digest(key),
                     created_by=actor if actor is not None and actor.is_authenticated else None,
                     expires_at=expires_at)
    token.full_clean()
    token.save()
    audit_record(actor=actor, clinic=None, action="api_token.create", target=token,
                 data={"user_id": user.pk, "name": token.name, "prefix": token.prefix})
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor=None) -> ApiToken:
    """Stop a token from working, at once and for good."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, clinic=None, action="api_token.revoke", target=token,
                     data={"user_id": token.user_id, "prefix": token.prefix})
    return token
