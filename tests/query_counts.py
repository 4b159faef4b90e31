"""Query counts that differ by database backend, for tests that assert a fixed number of queries."""

from django.db import connection


def audit_write_queries() -> int:
    """Queries one call writing audit records costs: on PostgreSQL one (migration 0013's function locks the chain,
    reads its head and inserts), on SQLite four (savepoint, chain head, insert, release)."""
    return 1 if connection.vendor == "postgresql" else 4
