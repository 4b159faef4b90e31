"""Write a checkpoint of the audit chain's head to AUDIT_CHECKPOINT_PATH (beat does so every few minutes)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from predictions.models.audit import AuditCheckpointError
from predictions.services.audit_checkpoints import audit_checkpoint_write


class Command(BaseCommand):
    help = "Verify the audit records added since the last checkpoint and append a checkpoint of the chain's head."

    def handle(self, *args, **options):
        try:
            checkpoint = audit_checkpoint_write()
        except AuditCheckpointError as exc:
            raise CommandError(f"Checkpoint {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint written to {settings.SKINCLINIC_AUDIT_CHECKPOINT_PATH}: {checkpoint.count} records, "
                f"head {checkpoint.head} (record {checkpoint.last_id})."
            )
        )
