from django import forms


class AssignForm(forms.Form):
    """`assignee` empty gives the case back to the queue; the view checks the user belongs to the clinic."""

    assignee = forms.IntegerField(required=False, min_value=1)


class CloseForm(forms.Form):
    resolution = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class PerformanceFilterForm(forms.Form):
    version = forms.CharField(required=False, max_length=100, label="Model version")
    histopathology = forms.BooleanField(required=False, label="Histopathology-confirmed diagnoses only")
