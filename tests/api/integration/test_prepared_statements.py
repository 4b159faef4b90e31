"""On PostgreSQL the API's reads run as prepared statements: planned once per connection, not per request."""

import pytest
from django.conf import settings
from django.db import connection

from tests.predictions.factories import LesionImageFactory, PredictionFactory

from ..conftest import succeeded, token_client

pytestmark = [
    pytest.mark.integration,
    # .ci/run runs this file again with the option on.
    pytest.mark.skipif(
        not settings.DATABASES["default"].get("OPTIONS", {}).get("server_side_binding"),
        reason="DB_PREPARED_STATEMENTS is off (the default)",
    ),
]


def test_a_repeated_read_is_planned_once_and_its_plan_used_again(real_services, staff):
    predictions = [succeeded(PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))) for _ in range(5)]
    client = token_client(staff.clinician)
    for prediction in predictions:
        assert client.get(f"/api/v1/predictions/{prediction.pk}").json()["id"] == prediction.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        executions = {statement: count for statement, count in cursor.fetchall()}
    reads = [
        count
        for statement, count in executions.items()
        if statement.startswith('SELECT "predictions_prediction"."id"') and "predictions_review" in statement
    ]
    # psycopg runs a statement `prepare_threshold` times as it is, then prepares it and uses it for the rest.
    assert reads == [len(predictions) - settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]]
