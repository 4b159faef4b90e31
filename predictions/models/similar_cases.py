from django.db import models

from mlcore import CLASS_NAMES, MALIGNANT_CLASSES

from .predictions import DiagnosisClass, Prediction


class Confirmation(models.TextChoices):
    """How a reference case's diagnosis was established (HAM10000's `dx_type`)."""

    HISTOPATHOLOGY = "histo", "Histopathology"
    FOLLOW_UP = "follow_up", "Follow-up"
    CONSENSUS = "consensus", "Consensus"
    CONFOCAL = "confocal", "Confocal microscopy"
    UNKNOWN = "", "Not stated"


class SimilarCase(models.Model):
    """One of the reference images most similar to a prediction's image in its model's embedding, found by
    the worker with the result and kept with it (the reference set is public: HAM10000 by default, so a case
    carries only what was published with it: diagnosis, how it was confirmed, age, sex and site)."""

    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="similar_cases")
    rank = models.PositiveSmallIntegerField(help_text="1 for the most similar.")
    reference_id = models.CharField(max_length=64, help_text="The image's id in the reference set (ISIC_…).")
    dx = models.CharField(max_length=8, choices=DiagnosisClass.choices)
    dx_type = models.CharField(max_length=16, choices=Confirmation.choices, blank=True)
    age = models.FloatField(null=True, blank=True)
    sex = models.CharField(max_length=16, blank=True)
    site = models.CharField(max_length=32, blank=True)
    similarity = models.FloatField(help_text="Cosine similarity of the two images' embeddings, -1 to 1.")

    CLINIC_PATH = "prediction__image__lesion__patient__clinic"

    class Meta:
        ordering = ["prediction", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["prediction", "rank"], name="similar_case_one_per_rank"),
            models.CheckConstraint(condition=models.Q(rank__gte=1), name="similar_case_rank_from_one"),
            models.CheckConstraint(
                condition=models.Q(similarity__gte=-1.0) & models.Q(similarity__lte=1.0),
                name="similar_case_similarity_range",
            ),
            models.CheckConstraint(condition=models.Q(dx__in=DiagnosisClass.values), name="similar_case_dx_valid"),
            models.CheckConstraint(
                condition=models.Q(dx_type__in=Confirmation.values), name="similar_case_dx_type_valid"
            ),
        ]

    @property
    def diagnosis_name(self) -> str:
        return CLASS_NAMES.get(self.dx, self.dx)

    @property
    def is_malignant(self) -> bool:
        return self.dx in MALIGNANT_CLASSES

    @property
    def confirmed_by(self) -> str:
        """How the case's diagnosis was established, in words ("histopathology", "follow-up", ...)."""
        return self.get_dx_type_display().lower() if self.dx_type else "not stated"

    def __str__(self) -> str:
        return f"{self.reference_id} ({self.dx}) for prediction {self.prediction_id}, #{self.rank}"
