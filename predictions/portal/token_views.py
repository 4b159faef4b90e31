"""The portal's API token pages: a clinic administrator makes tokens (the key shown once, in the answer to the
form itself) and revokes them (at once). Same rules as views.py: the clinic through `object_get_for_user`
(404 for another clinic's), the right from `permissions` (403 for other roles), every write through a service
that checks both again and writes the audit record."""

from __future__ import annotations

import datetime
import secrets

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors
from ..models import Clinic
from ..selectors import api_token_list_for_clinic, api_token_owner_list
from ..services.api_tokens import api_token_create_for_clinic, api_token_revoke_for_clinic
from .forms import form_add_service_errors
from .token_forms import ApiTokenForm
from .views import portal_view

# The session holds one-time values of the forms it was shown (never a key): a form sent again, by a reload or a
# second click, finds its value used and makes no second token. A few, for forms open in several tabs.
FORM_ONCE = "portal_api_token_form_once"
FORM_ONCE_KEPT = 5


def _form_once_issue(request: HttpRequest) -> str:
    value = secrets.token_urlsafe(16)
    request.session[FORM_ONCE] = [*request.session.get(FORM_ONCE, []), value][-FORM_ONCE_KEPT:]
    return value


def _form_once_consume(request: HttpRequest) -> bool:
    """True once for each value a form was given: the first time the form is sent."""
    issued = request.session.get(FORM_ONCE, [])
    value = request.POST.get("once", "")
    if value not in issued:
        return False
    request.session[FORM_ONCE] = [v for v in issued if v != value]
    return True


def _clinic_get(request: HttpRequest, clinic_id: int) -> Clinic:
    clinic = selectors.object_get_for_user(Clinic, user=request.user, pk=clinic_id)
    permissions.require(request.user, "clinic.administer", clinic)
    return clinic


@portal_view
def api_token_clinics(request: HttpRequest) -> HttpResponse:
    """The clinics whose tokens the user manages: straight to the one, or a choice between several."""
    clinics = list(permissions.clinics_where(request.user, "clinic.administer").order_by("name"))
    if not clinics:
        raise PermissionDenied("Only a clinic administrator manages API tokens.")
    if len(clinics) == 1:
        return redirect("portal:api-token-list", clinic_id=clinics[0].pk)
    return render(request, "portal/api_tokens/clinics.html", {"clinics": clinics})


@portal_view
@require_http_methods(["GET", "POST"])
def api_token_list(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _clinic_get(request, clinic_id)
    owners = api_token_owner_list(actor=request.user, clinic=clinic)
    form = ApiTokenForm(request.POST or None, owners=owners, actor=request.user)
    created = None
    if request.method == "POST" and form.is_valid():
        if not _form_once_consume(request):
            messages.info(
                request, "That form was already sent: its token was made once, and its key is not shown again."
            )
            form = ApiTokenForm(owners=owners, actor=request.user)
        else:
            data = form.cleaned_data
            days = data["expires_in_days"]
            try:
                token, key = api_token_create_for_clinic(
                    actor=request.user,
                    clinic=clinic,
                    user=data["user"],
                    name=data["name"],
                    expires_at=timezone.now() + datetime.timedelta(days=days) if days else None,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                # The key goes out in this answer only (never cached, like every portal page), and is kept
                # nowhere: not in the session, whose rows are signed but not encrypted.
                created = {"token": token, "key": key}
                form = ApiTokenForm(owners=owners, actor=request.user)
    tokens = list(api_token_list_for_clinic(actor=request.user, clinic=clinic))
    return render(
        request,
        "portal/api_tokens/list.html",
        {
            "clinic": clinic,
            "form": form,
            "form_once": _form_once_issue(request),
            "created": created,
            "now": timezone.now(),
            "tokens": tokens,
        },
    )


@portal_view
@require_POST
def api_token_revoke(request: HttpRequest, clinic_id: int, token_id: int) -> HttpResponse:
    clinic = _clinic_get(request, clinic_id)
    token = api_token_revoke_for_clinic(actor=request.user, clinic=clinic, token_id=token_id)
    messages.success(request, f"The token “{token.name}” ({token.prefix}…) is revoked: it no longer works.")
    return redirect("portal:api-token-list", clinic_id=clinic.pk)
