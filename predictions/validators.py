"""Limits on what a record may hold, in one place: every write runs them (the services call full_clean on
the models that carry them), so the API, the portal and the admin accept and refuse the same values."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils import timezone

# The oldest age the records hold (the lesion_image_age_plausible CHECK): a date of birth further back
# would make every later upload for the patient fail.
MAX_AGE_YEARS = 130
# Before photography of the skin was practice: an earlier capture date is a typing error.
EARLIEST_CAPTURE_DATE = datetime.date(1900, 1, 1)
# Free text a clinician types (lesion notes, review notes, a case's resolution).
NOTES_MAX_LENGTH = 4000
notes_max_length = MaxLengthValidator(NOTES_MAX_LENGTH)


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def date_of_birth_validate(value: datetime.date | None) -> None:
    """A date of birth must be in the past, and no more than MAX_AGE_YEARS ago."""
    if value is None:
        return
    today = timezone.localdate()
    if value > today:
        raise ValidationError("The date of birth cannot be in the future.", code="future")
    if value < _years_before(today, MAX_AGE_YEARS):
        raise ValidationError(
            f"Check the year: the date of birth is more than {MAX_AGE_YEARS} years ago.", code="too_old"
        )


def capture_date_validate(value: datetime.date | None) -> None:
    """A photograph's capture date must be today or earlier, and not before EARLIEST_CAPTURE_DATE."""
    if value is None:
        return
    if value > timezone.localdate():
        raise ValidationError("The capture date cannot be in the future.", code="future")
    if value < EARLIEST_CAPTURE_DATE:
        raise ValidationError(
            f"Check the year: the capture date is before {EARLIEST_CAPTURE_DATE.year}.", code="too_old"
        )
