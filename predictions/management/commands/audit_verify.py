"""Verify the audit trail's hash chain; exits non-zero when any record was changed, removed or inserted."""
from django.core.management.base import BaseCommand, CommandError

from predictions.selectors_governance import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chain and report every record that breaks it."

    def add_arguments(self, parser):
        parser.add_argument("--expect-head", metavar="SHA256",
                            help="also fail unless the newest record's hash is this one (catches a cut-off tail)")

    def handle(self, *args, expect_head=None, **options):
        report = audit_chain_verify()
        for problem in report.breaks:
            self.stderr.write(f"audit record {problem.event_id}: {problem.problem}")
        if not report.intact:
            raise CommandError(f"The audit chain is broken: {len(report.breaks)} problem(s) in {report.checked} records.")
        if expect_head and expect_head != report.last_hash:
            raise CommandError(f"The chain is intact but ends at {report.last_hash}, not {expect_head}: "
                               f"records were cut off the end or the head given is not this trail's.")
        self.stdout.write(self.style.SUCCESS(f"The audit chain is intact: {report.checked} records."))
        self.stdout.write(f"head {report.last_hash}")
