"""The Celery app. Configuration comes from Django settings (CELERY_* names); tasks live in the apps."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "skinclinic.settings")

app = Celery("skinclinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="webhook_tasks")
app.autodiscover_tasks(related_name="audit_tasks")
