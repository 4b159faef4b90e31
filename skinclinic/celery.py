"""The Celery app. Configuration comes from Django settings (CELERY_* names); tasks live in the apps."""

import functools
import logging
import os

from celery import Celery
from celery.contrib.django.task import DjangoTask
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "skinclinic.settings")

logger = logging.getLogger(__name__)


class Task(DjangoTask):
    """Celery's Django task, whose `delay_on_commit` and `apply_async_on_commit` send once the transaction commits,
    except that a broker that cannot be reached then is logged, not raised into the code that committed: the rows
    are committed, and the periodic sweeps send their work again."""

    def delay_on_commit(self, *args, **kwargs) -> None:
        transaction.on_commit(self._logged(functools.partial(self.delay, *args, **kwargs)))

    def apply_async_on_commit(self, *args, **kwargs) -> None:
        transaction.on_commit(self._logged(functools.partial(self.apply_async, *args, **kwargs)))

    def _logged(self, send: functools.partial):
        def send_or_log() -> None:
            try:
                send()
            except Exception:
                logger.exception("could not enqueue %s with %r %r", self.name, send.args, send.keywords)

        return send_or_log


app = Celery("skinclinic", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="webhook_tasks")
app.autodiscover_tasks(related_name="audit_tasks")
