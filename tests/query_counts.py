"""Query counts that differ by database backend, for tests that assert a fixed number of queries."""

from django.db import connection


def audit_write_queries() -> int:
    """Queries one audit record costs: savepoint, chain head, insert, release, plus the chain lock on PostgreSQL."""
    return 5 if connection.vendor == "postgresql" else 4
