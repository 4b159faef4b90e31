"""The portal's forms: they check what a person typed; the services decide what may be stored."""

from __future__ import annotations

import datetime

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone

from ..models import Clinic, DiagnosisClass, Lesion, PredictionStatus, Sex, Site, Verdict
from ..validators import NOTES_MAX_LENGTH, capture_date_validate, date_of_birth_validate

ACCEPTED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")
ACCEPT_ATTRIBUTE = ",".join(ACCEPTED_EXTENSIONS + ("image/jpeg", "image/png", "image/tiff", "image/webp"))
NEW_LESION = "new"


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def form_add_service_errors(
    form: forms.Form, error: ValidationError, field_aliases: dict[str, str] | None = None
) -> None:
    """Show a service's ValidationError on the form: on the field it names when the form has it, else on top.

    A duplicate medical record number (the clinic's unique constraint) is shown on the MRN field.
    """
    aliases = field_aliases or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        for item in errors:
            unique_check = (item.params or {}).get("unique_check", ()) if item.code == "unique_together" else ()
            if name == NON_FIELD_ERRORS and "mrn" in unique_check and "mrn" in form.fields:
                form.add_error("mrn", "A patient with this medical record number already exists in this clinic.")
                continue
            target = aliases.get(name, name)
            form.add_error(target if target in form.fields else None, item)


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search by name or MRN",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or MRN", "autocomplete": "off"}),
    )


class PatientForm(forms.Form):
    clinic: forms.ModelChoiceField[Clinic] = forms.ModelChoiceField(queryset=None, empty_label=None, required=True)
    mrn = forms.CharField(
        label="Medical record number (MRN)",
        max_length=64,
        error_messages={"required": "Enter the medical record number."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    full_name = forms.CharField(
        label="Full name",
        max_length=200,
        error_messages={"required": "Enter the patient's name."},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    date_of_birth = forms.DateField(
        label="Date of birth",
        required=False,
        widget=DateInput(),
        help_text="Used to work out the patient's age when an image is captured.",
    )
    sex = forms.ChoiceField(choices=Sex.choices, initial=Sex.UNKNOWN)

    def __init__(self, *args, clinics=None, **kwargs):
        super().__init__(*args, **kwargs)
        if clinics is None:
            del self.fields["clinic"]  # editing: a patient stays in their clinic
        else:
            self.fields["clinic"].queryset = clinics
            only = list(clinics[:2])
            if len(only) == 1:  # the usual case: nothing to choose
                self.fields["clinic"].initial = only[0].pk
                self.fields["clinic"].widget = forms.HiddenInput()

    def clean_mrn(self) -> str:
        mrn = self.cleaned_data["mrn"].strip()
        if not mrn:
            raise ValidationError("Enter the medical record number.")
        return mrn

    def clean_full_name(self) -> str:
        name = self.cleaned_data["full_name"].strip()
        if not name:
            raise ValidationError("Enter the patient's name.")
        return name

    def clean_date_of_birth(self) -> datetime.date | None:
        value = self.cleaned_data["date_of_birth"]
        date_of_birth_validate(value)  # the records' own rule, checked here to show it on the field
        return value


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class ImageUploadForm(forms.Form):
    lesion = forms.ChoiceField(
        label="Lesion",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the lesion, or start following a new one."},
    )
    new_lesion_site = forms.ChoiceField(
        label="Anatomic site of the new lesion", choices=Site.choices, initial=Site.UNKNOWN, required=False
    )
    new_lesion_label = forms.CharField(
        label="Label of the new lesion",
        max_length=200,
        required=False,
        help_text="How you will tell it apart, e.g. “left scapula, 2 cm below mole”.",
    )
    # The form metaclass moves declared fields into base_fields, so this does not shadow BaseForm.files at
    # runtime; the stubs cannot see that, and the field keeps its posted name.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Image files",
        required=True,
        widget=MultipleFileInput(attrs={"accept": ACCEPT_ATTRIBUTE}),
        help_text=f"JPEG, PNG, TIFF or WebP, up to {settings.SKINCLINIC_MAX_UPLOAD_BYTES // (1024 * 1024)} MB each. "
        "You can choose several photographs of the same lesion.",
        error_messages={"required": "Choose at least one image file."},
    )
    captured_at = forms.DateField(
        label="Date captured",
        widget=DateInput(),
        error_messages={"required": "Enter the date the photographs were taken."},
    )
    age = forms.IntegerField(
        label="Age at capture (years)",
        required=False,
        min_value=0,
        max_value=130,
        help_text="Leave empty to work it out from the date of birth.",
    )
    site = forms.ChoiceField(
        label="Anatomic site for these images",
        required=False,
        choices=[("", "Same as the lesion")] + list(Site.choices),
    )
    confirm_duplicates = forms.BooleanField(
        label="Store them anyway: these files belong with the lesion chosen above",
        required=False,
        help_text="Only after checking the patient and lesion: the same file is already stored in this clinic.",
    )

    def __init__(self, *args, lesions: list[Lesion], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(lesion.pk), lesion_choice_label(lesion)) for lesion in lesions]
        lesion_field = self.fields["lesion"]
        assert isinstance(lesion_field, forms.ChoiceField)  # declared above
        lesion_field.choices = choices + [(NEW_LESION, "Start following a new lesion")]
        if not self.is_bound:
            if len(choices) <= 1:  # the only lesion, or a new one when there is none yet
                self.initial.setdefault("lesion", choices[0][0] if choices else NEW_LESION)
            self.initial.setdefault("captured_at", timezone.localdate())
        self.lesions = {str(lesion.pk): lesion for lesion in lesions}

    def clean_captured_at(self) -> datetime.date:
        value = self.cleaned_data["captured_at"]
        capture_date_validate(value)
        return value

    def clean(self):
        data = super().clean()
        if data.get("lesion") == NEW_LESION and not data.get("new_lesion_site"):
            self.add_error("new_lesion_site", "Choose the site of the new lesion (or “unknown”).")
        return data

    @property
    def chosen_lesion(self) -> Lesion | None:
        chosen = self.cleaned_data.get("lesion")
        return self.lesions.get(chosen) if chosen is not None else None


def lesion_choice_label(lesion: Lesion) -> str:
    return f"{lesion.label or 'Lesion ' + str(lesion.pk)} — {lesion.get_site_display()}"


class ReviewForm(forms.Form):
    verdict = forms.ChoiceField(
        label="Your assessment",
        widget=forms.RadioSelect,
        error_messages={"required": "Confirm the model's class or override it."},
    )
    diagnosis = forms.ChoiceField(
        label="Diagnosis",
        required=False,
        choices=[("", "Choose a diagnosis")]
        + [(value, f"{label} ({value})") for value, label in DiagnosisClass.choices],
    )
    histopathology_confirmed = forms.BooleanField(label="Confirmed by histopathology", required=False)
    notes = forms.CharField(
        label="Notes", required=False, max_length=NOTES_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, prediction, **kwargs):
        super().__init__(*args, **kwargs)
        self.prediction = prediction
        choices = [(Verdict.OVERRIDE, "Override: I diagnose another class")]
        if prediction.status == PredictionStatus.SUCCEEDED:
            top = DiagnosisClass(prediction.top_class).label
            choices.insert(0, (Verdict.AGREE, f"Confirm the model's class: {top}"))
        self.fields["verdict"].choices = choices
        if len(choices) == 1:
            self.initial.setdefault("verdict", Verdict.OVERRIDE)

    def clean(self):
        data = super().clean()
        if data.get("verdict") == Verdict.OVERRIDE and not data.get("diagnosis"):
            self.add_error("diagnosis", "Choose the diagnosis you are overriding with.")
        if data.get("verdict") == Verdict.AGREE:
            data["diagnosis"] = None  # agreeing takes the model's class
        return data
