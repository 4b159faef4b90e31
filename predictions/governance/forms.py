from django import forms

from ..models import ReviewCaseState, ReviewReason


class QueueFilterForm(forms.Form):
    state = forms.ChoiceField(choices=[("", "Open (new or in review)"), *ReviewCaseState.choices, ("all", "All")],
                              required=False)
    reason = forms.ChoiceField(choices=[("", "Any reason"), *ReviewReason.choices], required=False)
    mine = forms.BooleanField(required=False, label="Assigned to me")


class AssignForm(forms.Form):
    """`assignee` empty gives the case back to the queue; the view checks the user belongs to the clinic."""

    assignee = forms.IntegerField(required=False, min_value=1)


class CloseForm(forms.Form):
    resolution = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64, help_text="e.g. patient., image.download")
    actor = forms.IntegerField(required=False, min_value=1, label="Actor (user id)")
    target_type = forms.CharField(required=False, max_length=64, label="Object type")
    target_id = forms.CharField(required=False, max_length=64, label="Object id")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class PerformanceFilterForm(forms.Form):
    version = forms.CharField(required=False, max_length=100, label="Model version")
    histopathology = forms.BooleanField(required=False, label="Histopathology-confirmed diagnoses only")
