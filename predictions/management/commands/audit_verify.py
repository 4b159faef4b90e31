"""Verify the audit trail's keyed hash chain against the latest checkpoint; exits non-zero when any record was
changed, removed, inserted or cut off the end."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from predictions.models.audit import AuditCheckpointError
from predictions.services.audit_checkpoints import audit_chain_verify, audit_checkpoint_latest


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's keyed hash chain, check it against the latest checkpoint of its head "
        "(AUDIT_CHECKPOINT_PATH), and report every record that breaks it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            metavar="SHA256",
            help="also fail unless the newest record's hash is this one (a head kept elsewhere)",
        )
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="verify without a checkpoint (a cut-off tail then goes unseen); by default a "
            "missing checkpoint is a failure",
        )

    def handle(self, *args, expect_head=None, no_checkpoint=False, **options):
        checkpoint = None
        if not no_checkpoint:
            try:
                checkpoint = audit_checkpoint_latest()
            except AuditCheckpointError as exc:
                raise CommandError(f"The checkpoints cannot be trusted: {exc}") from None
            if checkpoint is None:
                raise CommandError(
                    f"No checkpoint at {settings.SKINCLINIC_AUDIT_CHECKPOINT_PATH}: without one a "
                    f"cut-off tail cannot be seen. Write one (manage.py audit_checkpoint), or pass "
                    f"--no-checkpoint."
                )
        report = audit_chain_verify(checkpoint=checkpoint)
        for problem in report.breaks:
            self.stderr.write(f"audit record {problem.event_id}: {problem.problem}")
        if not report.intact:
            raise CommandError(
                f"The audit chain is broken: {len(report.breaks)} problem(s) in {report.checked} records."
            )
        if expect_head and expect_head != report.last_hash:
            raise CommandError(
                f"The chain is intact but ends at {report.last_hash}, not {expect_head}: "
                f"records were cut off the end or the head given is not this trail's."
            )
        against = f" up to the checkpoint of {checkpoint.written_at}" if checkpoint else " (no checkpoint)"
        self.stdout.write(self.style.SUCCESS(f"The audit chain is intact: {report.checked} records{against}."))
        self.stdout.write(f"head {report.last_hash}")
