"""Forms of the lesion pages: a lesion's description and place (site, side, a point on the body map), and the
lesion another one is merged into."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from ..models import Lesion, Site
from ..models.records import BodyView, Laterality
from ..validators import NOTES_MAX_LENGTH


class LesionForm(forms.Form):
    label = forms.CharField(
        label="Label",
        max_length=200,
        required=False,
        help_text="How the clinic tells this lesion apart, e.g. “2 cm below the left scapula”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    site = forms.ChoiceField(
        label="Anatomic site",
        choices=Site.choices,
        initial=Site.UNKNOWN,
        help_text="One of the 15 sites the model knows; it is given to the model with each image.",
    )
    laterality = forms.ChoiceField(
        label="Side (the patient's)", required=False, choices=[("", "Not recorded"), *Laterality.choices]
    )
    body_view = forms.ChoiceField(
        label="Body map view", required=False, choices=[("", "No point on the map"), *BodyView.choices]
    )
    body_x = forms.FloatField(
        label="Across the outline (0 to 1, from the viewer's left)",
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.001"}),
    )
    body_y = forms.FloatField(
        label="Down the outline (0 at the top of the head, 1 at the feet)",
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.001"}),
    )
    notes = forms.CharField(
        label="Notes", required=False, max_length=NOTES_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )

    POINT_FIELDS = ("body_view", "body_x", "body_y")

    def clean(self):
        data = super().clean()
        given = [
            data.get("body_view") not in (None, ""),
            data.get("body_x") is not None,
            data.get("body_y") is not None,
        ]
        if any(given) and not all(given):
            raise ValidationError(
                "Place the lesion on the body map (or enter the view and both numbers), or leave all three empty."
            )
        if not any(given):
            data["body_view"], data["body_x"], data["body_y"] = "", None, None
        data["label"] = (data.get("label") or "").strip()
        return data


class LesionMergeForm(forms.Form):
    target: forms.ModelChoiceField[Lesion] = forms.ModelChoiceField(
        queryset=None,
        label="Merge into",
        empty_label=None,
        help_text="Its record stays; this lesion's images, results and reviews move to it, "
        "and this lesion is archived.",
    )

    def __init__(self, *args, lesions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = lesions
        self.fields["target"].label_from_instance = lambda lesion: (
            f"{lesion.label or 'Lesion'} · {lesion.get_site_display()} (#{lesion.pk})"
        )
