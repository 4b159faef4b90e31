"""The API's orjson renderer writes what DRF's JSONRenderer wrote, for every kind of value a response holds."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from predictions.api.renderers import JSONRenderer
from predictions.models import DiagnosisClass

VALUES = {
    "int": 3,
    "float": 0.1 + 0.2,
    "small": 1e-05,
    "none": None,
    "bool": True,
    "text": "naïve \u00e9 \U0001f600",
    "choice": DiagnosisClass.MEL,
    "utc": datetime.datetime(2026, 12, 3, 7, 0, 1, 123456, tzinfo=datetime.UTC),
    "offset": datetime.datetime(2026, 12, 3, 8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
    "date": datetime.date(2026, 12, 3),
    "duration": datetime.timedelta(seconds=90),
    "decimal": Decimal("1.50"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "lazy": gettext_lazy("A prediction was viewed"),
    "nested": {"list": [1, {"deep": [None]}], 7: "int key"},
}


def test_renders_what_drf_rendered():
    ours = JSONRenderer().render(VALUES)
    drf = DRFJSONRenderer().render(VALUES)
    assert json.loads(ours) == json.loads(drf)
    # DRF's spelling of datetimes is kept (orjson's own would write +00:00).
    assert json.loads(ours)["utc"] == "2026-12-03T07:00:01.123456Z"


def test_empty_body_and_unknown_types():
    assert JSONRenderer().render(None) == b""
    with pytest.raises(TypeError):
        JSONRenderer().render({"object": object()})


@pytest.mark.django_db
def test_api_answers_with_it(client):
    response = client.get("/api/v1/predictions", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
