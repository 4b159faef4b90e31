"""Who may do what: every right a clinic role (or an operator) holds is written down here, once.

Services, selectors, the portal, the governance pages, the API and the admin all ask this module
(`can`, `require`, `rights`, `clinics_where`) instead of spelling role sets themselves. To give a role a new
right, or add a right, edit `RULES`; nothing else names roles.

Whether the user may see the object at all (another clinic's record is a 404) is `selectors.object_get_for_user`;
this module answers the next question, what a member of the object's clinic may do with it (a 403).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from .models import Clinic, Membership, Role


@dataclass(frozen=True)
class Rule:
    roles: tuple[str, ...] = ()
    operator: bool = False  # a superuser holds it in every clinic (the admin site acts as one)
    system: bool = False  # actor None (management commands, the worker) holds it
    denied: str = ""  # the PermissionDenied message; default: "Only a <roles> of <clinic> may do this."


_EVERY_ROLE = tuple(Role.values)
_WRITERS = (Role.CLINICIAN, Role.ADMIN)
_REVIEWERS = (Role.REVIEWER, Role.ADMIN)

RULES: dict[str, Rule] = {
    # Read a clinic's records (every member; another clinic's records are already a 404).
    "record.view": Rule(_EVERY_ROLE),
    # Register and change patients and lesions, upload images, ask for and retry predictions.
    "record.write": Rule(_WRITERS),
    # Record a diagnosis of an image.
    "review.create": Rule(_REVIEWERS),
    # See the clinic's review queue, audit trail and real-world performance.
    "governance.view": Rule(_REVIEWERS, denied="Only a reviewer or administrator of {clinic} may see this."),
    # Assign and close review cases, queue re-runs of the clinic's images (operators too, from the admin).
    "review_case.work": Rule(
        _REVIEWERS, operator=True, denied="Only a reviewer or administrator of {clinic} may work its review queue."
    ),
    # Be given a review case.
    "review_case.assignee": Rule(_REVIEWERS),
    # Give users roles in the clinic, manage its webhooks.
    "clinic.administer": Rule((Role.ADMIN,)),
    # See the model registry (system-wide: a reviewer or administrator of any clinic).
    "model_registry.view": Rule(
        _REVIEWERS, operator=True, denied="Only reviewers, clinic administrators and operators see the model registry."
    ),
    # Register and activate model versions (system-wide: no clinic role holds it).
    "model_registry.change": Rule(
        operator=True, system=True, denied="Only an operator (superuser) may change the model registry."
    ),
    # Re-run every stored image on a model version.
    "images.rerun": Rule(operator=True, system=True, denied="Only an operator (superuser) may re-run stored images."),
    # Lift a sign-in lockout before its cool-off ends.
    "sign_in.unlock": Rule(operator=True, system=True, denied="Only an operator (superuser) may unlock a sign-in."),
}


def _rule(permission: str) -> Rule:
    try:
        return RULES[permission]
    except KeyError:  # a misspelled right must fail loudly, never silently deny or allow
        raise KeyError(f"Unknown permission {permission!r}; the rights are in predictions.permissions.RULES.") from None


def role_of(user, clinic: Clinic) -> str | None:
    """The user's role in the clinic, or None (anonymous, not a member)."""
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, clinic=clinic).values_list("role", flat=True).first()


def _is_operator(user) -> bool:
    return user is not None and user.is_authenticated and user.is_superuser


def role_allows(role: str | None, permission: str) -> bool:
    """Whether a clinic role, by itself, holds the right (no query)."""
    return role is not None and role in _rule(permission).roles


def can(user, permission: str, clinic: Clinic | None = None) -> bool:
    """Whether `user` (None: the system) holds `permission` in `clinic`; with no clinic, in any of theirs."""
    rule = _rule(permission)
    if user is None:
        return rule.system
    if rule.operator and _is_operator(user):
        return True
    if not rule.roles:
        return False
    if clinic is None:
        return clinics_where(user, permission).exists()
    return role_of(user, clinic) in rule.roles


def require(user, permission: str, clinic: Clinic | None = None) -> None:
    """`can`, or PermissionDenied saying who may."""
    if can(user, permission, clinic):
        return
    rule = _rule(permission)
    if rule.denied:
        raise PermissionDenied(rule.denied.format(clinic=clinic))
    allowed = " or ".join(Role(r).label.lower() for r in rule.roles)
    raise PermissionDenied(f"Only a {allowed}{f' of {clinic}' if clinic else ''} may do this.")


def rights(user, clinic: Clinic) -> frozenset[str]:
    """Every right the user holds in the clinic, from one query: for a page that shows several actions."""
    role = role_of(user, clinic)
    operator = _is_operator(user)
    return frozenset(name for name, rule in RULES.items() if role in rule.roles or (operator and rule.operator))


def clinics_where(user, permission: str) -> QuerySet[Clinic]:
    """The clinics where the user's role holds `permission` (membership only: an operator's reach is the admin's)."""
    rule = _rule(permission)
    if user is None or not user.is_authenticated or not rule.roles:
        return Clinic.objects.none()
    return Clinic.objects.filter(memberships__user=user, memberships__role__in=rule.roles).distinct()


def members_with(permission: str, clinic: Clinic) -> QuerySet[Membership]:
    """The clinic's memberships whose role holds `permission`."""
    return Membership.objects.filter(clinic=clinic, role__in=_rule(permission).roles)
