from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Clinical records and predictions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from .services import sign_in  # noqa: F401  (connects the audit of failed sign-ins)

        post_migrate.connect(_audit_triggers_ensure, sender=self, dispatch_uid="predictions.audit_triggers")


def _audit_triggers_ensure(sender, using, **kwargs) -> None:
    from django.db import connections

    from .models.audit import AUDIT_TABLE, audit_triggers_ensure

    connection = connections[using]
    if AUDIT_TABLE in connection.introspection.table_names():
        audit_triggers_ensure(connection)
