"""API tokens: made for a user (by a clinic administrator in the portal, in the admin site or with
`manage.py api_token`), shown once, stored as a digest."""

from __future__ import annotations

import datetime
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from .. import permissions
from ..models import ApiToken, Clinic
from ..models.audit import AuditAction
from ..selectors import api_token_list_for_clinic, api_token_owner_list
from .audit import audit_record

KEY_PREFIX = "sc_"


def api_token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, user, name: str, actor=None, expires_at: datetime.datetime | None = None, clinic: Clinic | None = None
) -> tuple[ApiToken, str]:
    """Make a token for `user`; returns (token, key). The key is not kept and cannot be shown again.

    `clinic`: the clinic whose administrator made it, whose audit trail records it (None: an operator or the
    command line)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip(),
        prefix=key[:10],
        key_hash=api_token_digest(key),
        created_by=actor if actor is not None and actor.is_authenticated else None,
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.API_TOKEN_CREATE,
        target=token,
        data={"user_id": user.pk, "name": token.name, "prefix": token.prefix},
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor=None, clinic: Clinic | None = None) -> ApiToken:
    """Stop a token from working, at once and for good (`clinic` as for `api_token_create`)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            clinic=clinic,
            action=AuditAction.API_TOKEN_REVOKE,
            target=token,
            data={"user_id": token.user_id, "prefix": token.prefix},
        )
    return token


@transaction.atomic
def api_token_create_for_clinic(
    *, actor, clinic: Clinic, user, name: str, expires_at: datetime.datetime | None = None
) -> tuple[ApiToken, str]:
    """A clinic administrator makes a token for themselves or a member of the clinic.

    A token acts as its user in every clinic of theirs, so the user must reach no clinic the administrator does
    not administer (else a ValidationError on `user`): an administrator never hands out access to another clinic.
    """
    permissions.require(actor, "clinic.administer", clinic)
    if not api_token_owner_list(actor=actor, clinic=clinic).filter(pk=user.pk).exists():
        raise ValidationError(
            {
                "user": f"{user} is not a member of {clinic} whom you may make a token for (a member "
                f"of another clinic gets tokens from an operator)."
            }
        )
    return api_token_create(user=user, name=name, actor=actor, expires_at=expires_at, clinic=clinic)


@transaction.atomic
def api_token_revoke_for_clinic(*, actor, clinic: Clinic, token_id: int) -> ApiToken:
    """A clinic administrator revokes a token of a member they may make tokens for; 404 for any other token."""
    permissions.require(actor, "clinic.administer", clinic)
    token = api_token_list_for_clinic(actor=actor, clinic=clinic).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token among this clinic's.")
    return api_token_revoke(token=token, actor=actor, clinic=clinic)
