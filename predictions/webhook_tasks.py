"""Celery tasks of the webhooks: take ids, call a service, schedule the next attempt when one is due."""

from __future__ import annotations

from celery import shared_task

from .services import webhooks


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def webhook_deliver_task(self, delivery_id: int) -> str | None:
    """Make the next attempt at a delivery; a retry is a new message due after the backoff.

    Attempts are counted in the database (SKINCLINIC_WEBHOOK_MAX_ATTEMPTS), not by Celery.
    """
    result = webhooks.webhook_delivery_attempt(delivery_id=delivery_id)
    if result.retry_in is not None:
        webhook_deliver_task.apply_async(args=[delivery_id], countdown=result.retry_in)
    return result.outcome


@shared_task(ignore_result=True)
def webhook_deliveries_sweep_task() -> int:
    """Resend deliveries whose task message was lost (run by celery beat); returns how many."""
    return len(webhooks.webhook_deliveries_sweep())
