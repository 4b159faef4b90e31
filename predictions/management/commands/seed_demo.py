"""Create a demo clinic with a demo patient and a clinic login, and print the login; optionally an operator."""

import datetime
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from predictions.models import Clinic, Patient, Role, Site
from predictions.services import clinic_create, lesion_create, membership_create, patient_create

DEMO_SLUG = "demo"
DEMO_USERNAME = "demo"
OPERATOR_USERNAME = "operator"


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo clinic and its login; prints the username and a new password. "
        "With --operator, also an operator login for the admin site (no clinic)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", help="use this password instead of a random one")
        parser.add_argument(
            "--operator",
            action="store_true",
            help="also create (or refresh) a separate operator account for the admin site",
        )

    @transaction.atomic
    def handle(self, *args, password=None, operator=False, **options):
        User = get_user_model()
        clinic = Clinic.objects.filter(slug=DEMO_SLUG).first() or clinic_create(
            name="Demo Dermatology Clinic", slug=DEMO_SLUG
        )
        user, _ = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@example.org"})
        # The demo login is a clinic admin in the portal and nothing more: an operator reads every clinic's
        # records in the admin site, and a demo password is shared. Earlier versions made it one: undo that.
        user.is_staff = user.is_superuser = False
        password = password or secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        if not clinic.memberships.filter(user=user).exists():
            membership_create(clinic=clinic, user=user, role=Role.ADMIN)
        if not Patient.objects.filter(clinic=clinic, mrn="DEMO-0001").exists():
            patient = patient_create(
                actor=user,
                clinic=clinic,
                mrn="DEMO-0001",
                full_name="Demo Patient",
                date_of_birth=datetime.date(1970, 1, 1),
                sex="female",
            )
            lesion_create(actor=user, patient=patient, site=Site.BACK, label="Left scapular naevus")
        self.stdout.write(self.style.SUCCESS(f"Demo clinic: {clinic.name}"))
        self.stdout.write(f"Sign in at {reverse('login')} as  username: {DEMO_USERNAME}  password: {password}")
        if operator:
            self._operator_refresh(User)
        else:
            self.stdout.write(
                f"The admin site at {reverse('admin:index')} takes an operator account: "
                f"`manage.py seed_demo --operator` or `manage.py createsuperuser`."
            )

    def _operator_refresh(self, User) -> None:
        operator, _ = User.objects.get_or_create(username=OPERATOR_USERNAME, defaults={"email": "operator@example.org"})
        operator.is_staff = operator.is_superuser = True
        operator_password = secrets.token_urlsafe(12)  # never the clinic login's
        operator.set_password(operator_password)
        operator.save()
        self.stdout.write(
            f"Operator for the admin site at {reverse('admin:index')} (not a clinic login):  "
            f"username: {OPERATOR_USERNAME}  password: {operator_password}"
        )
