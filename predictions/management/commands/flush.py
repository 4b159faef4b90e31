"""Django's flush, able to empty the audit table on SQLite too.

Emptying the whole database (test teardown, an operator resetting a development database) is no tampering
with records. PostgreSQL does it with TRUNCATE, which the row triggers guarding the audit table do not see;
SQLite deletes rows, so its triggers step aside for this command only (models.audit.audit_guard_suspended).
"""

from django.core.management.commands.flush import Command as FlushCommand

from predictions.models.audit import audit_guard_suspended


class Command(FlushCommand):
    def handle(self, **options):
        with audit_guard_suspended():
            return super().handle(**options)
