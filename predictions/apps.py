from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Clinical records and predictions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .services import sign_in  # noqa: F401  (connects the audit of failed sign-ins)
