"""With the default settings a statement may carry more parameters than a server-bound one could (65,535)."""

import pytest
from django.db import connection

from predictions.models import Prediction

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the 65,535-parameter limit is PostgreSQL's")
@pytest.mark.skipif(
    bool(connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")),
    reason="DB_PREPARED_STATEMENTS is on: parameters are bound on the server",
)
def test_a_lookup_over_70000_ids_runs_with_the_default_settings():
    # A re-run of every image, or a cascade delete of a large clinic, builds lists this long.
    assert Prediction.objects.filter(id__in=range(70_000)).count() == 0
