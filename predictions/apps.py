from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Clinical records and predictions"
    default_auto_field = "django.db.models.BigAutoField"
