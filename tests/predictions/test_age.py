"""A patient's age in whole years, as the upload records it and the portal shows it (models.records.age_on)."""

import datetime

import pytest
from django.utils import timezone

from predictions.models.records import age_on
from predictions.portal.templatetags import age

BORN = datetime.date(1980, 6, 15)


@pytest.mark.parametrize(
    "on, years",
    [
        (datetime.date(2020, 6, 14), 39),  # the day before the birthday
        (datetime.date(2020, 6, 15), 40),  # the birthday
        (datetime.date(2020, 12, 31), 40),
    ],
)
def test_age_counts_whole_years_turning_on_the_birthday(on, years):
    assert age_on(BORN, on) == years


def test_someone_born_on_a_leap_day_turns_a_year_older_on_the_first_of_march():
    leap = datetime.date(2000, 2, 29)
    assert age_on(leap, datetime.date(2021, 2, 28)) == 20
    assert age_on(leap, datetime.date(2021, 3, 1)) == 21


def test_no_date_of_birth_means_no_age():
    assert age_on(None, datetime.date(2020, 1, 1)) is None
    assert age(None) == ""


def test_the_portal_shows_the_same_age_as_of_today():
    assert age(BORN) == age_on(BORN, timezone.localdate())
