from django.conf import settings
from django.db import models


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    CLINIC_PATH = ""

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Clinic administrator"


class Membership(models.Model):
    """A user's role in one clinic; a user sees only the clinics they are a member of."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    CLINIC_PATH = "clinic"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="membership_unique_user_clinic"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.clinic}"
