from __future__ import annotations

from django.db import transaction

from .. import permissions
from ..models import Clinic, Membership
from ..models.audit import AuditAction
from .audit import audit_record


@transaction.atomic
def clinic_create(*, name: str, slug: str, actor=None) -> Clinic:
    """Create a clinic. Operators (the admin site, `seed_demo`) create clinics; there is no clinic role for it."""
    clinic = Clinic(name=name, slug=slug)
    clinic.full_clean()
    clinic.save()
    audit_record(
        actor=actor, clinic=clinic, action=AuditAction.CLINIC_CREATE, target=clinic, data={"name": name, "slug": slug}
    )
    return clinic


@transaction.atomic
def membership_create(*, clinic: Clinic, user, role: str, actor=None) -> Membership:
    """Give a user a role in a clinic. `actor` None is the system; otherwise it must be the clinic's admin."""
    if actor is not None:
        permissions.require(actor, "clinic.administer", clinic)
    membership = Membership(clinic=clinic, user=user, role=role)
    membership.full_clean()
    membership.save()
    audit_record(
        actor=actor,
        clinic=clinic,
        action=AuditAction.MEMBERSHIP_CREATE,
        target=membership,
        data={"user_id": user.pk, "role": role},
    )
    return membership
