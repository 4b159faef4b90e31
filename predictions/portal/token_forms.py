"""The form a clinic administrator makes an API token with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms

from ..models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser

MAX_DAYS = 3650


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="What the token is for",
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="E.g. “EHR integration”: it names the token in this list and in the audit trail.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    user: forms.ModelChoiceField[AbstractUser] = forms.ModelChoiceField(
        label="Acts as",
        queryset=None,
        empty_label=None,
        help_text="The token can do what this person can, in their clinics. A member who also works at another "
        "clinic gets tokens from an operator.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=MAX_DAYS,
        help_text="Leave empty for a token that works until revoked.",
    )

    def __init__(self, *args, owners, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = owners
        self.fields["user"].label_from_instance = lambda user: (
            f"{user.get_full_name() or user.get_username()} ({user.get_username()})"
            + (" — you" if user.pk == actor.pk else "")
        )
        self.fields["user"].initial = actor.pk
