"""Query-string filters of the governance lists (django-filter, as the API's): each page's search form is its
FilterSet's form, and the view filters the selector's clinic-scoped list with it."""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.db.models import QuerySet

from ..models import AuditEvent, ReviewCase, ReviewCaseState, ReviewReason


class IntegerFilter(filters.NumberFilter):
    field_class = forms.IntegerField


class CheckboxFilter(filters.BooleanFilter):
    """Ticked or not (never "unknown"): a plain checkbox."""

    field_class = forms.BooleanField


class PageFilterSet(filters.FilterSet):
    """A page's filters. A query string with an error filters by none of its fields (the form shows the error)."""

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        return super().filter_queryset(queryset) if self.is_valid() else queryset

    @property
    def applied(self) -> dict:
        """The filters in force, by name, as the page's audit record notes them."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.form.cleaned_data.items() if value}


class ReviewCaseFilter(PageFilterSet):
    """The review queue: no state chosen lists the open cases (new or in review), "all" every state; "mine" the
    cases assigned to the user of the request."""

    state = filters.ChoiceFilter(
        choices=[*ReviewCaseState.choices, ("all", "All")],
        method="filter_state",
        empty_label="Open (new or in review)",
        label="State",
    )
    reason = filters.ChoiceFilter(
        field_name="reasons__code", choices=ReviewReason.choices, empty_label="Any reason", label="Reason"
    )
    mine = CheckboxFilter(method="filter_mine", label="Assigned to me")

    class Meta:
        model = ReviewCase
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        cases = super().filter_queryset(queryset)
        return cases if self.applied.get("state") else cases.exclude(state=ReviewCaseState.DONE)

    def filter_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset if value == "all" else queryset.filter(state=value)

    def filter_mine(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(assignee=self.request.user) if value else queryset


class AuditEventFilter(PageFilterSet):
    """The audit trail: actions by prefix ("patient." is every patient action), days inclusive."""

    action = filters.CharFilter(
        lookup_expr="startswith", max_length=64, label="Action", help_text="e.g. patient., image.download"
    )
    actor = IntegerFilter(field_name="actor_id", min_value=1, label="Actor (user id)")
    target_type = filters.CharFilter(max_length=64, label="Object type")
    target_id = filters.CharFilter(max_length=64, label="Object id")
    since = filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Since", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="Until", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
