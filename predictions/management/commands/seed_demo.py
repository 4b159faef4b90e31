"""Create a demo clinic with a demo patient and an administrator login, and print the login."""
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


class Command(BaseCommand):
    help = "Create (or refresh) the demo clinic and its login; prints the username and a new password."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="use this password instead of a random one")

    @transaction.atomic
    def handle(self, *args, password=None, **options):
        User = get_user_model()
        clinic = Clinic.objects.filter(slug=DEMO_SLUG).first() or clinic_create(
            name="Demo Dermatology Clinic", slug=DEMO_SLUG)
        user, _ = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@example.org"})
        # The demo login is a clinic admin for the portal and an operator for the admin site.
        user.is_staff = user.is_superuser = True
        password = password or secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        if not clinic.memberships.filter(user=user).exists():
            membership_create(clinic=clinic, user=user, role=Role.ADMIN)
        if not Patient.objects.filter(clinic=clinic, mrn="DEMO-0001").exists():
            patient = patient_create(actor=user, clinic=clinic, mrn="DEMO-0001", full_name="Demo Patient",
                                     date_of_birth=datetime.date(1970, 1, 1), sex="female")
            lesion_create(actor=user, patient=patient, site=Site.BACK, label="Left scapular naevus")
        self.stdout.write(self.style.SUCCESS(f"Demo clinic: {clinic.name}"))
        self.stdout.write(f"Sign in at {reverse('login')} as  username: {DEMO_USERNAME}  password: {password}")
        self.stdout.write(f"The same login opens the admin site at {reverse('admin:index')} (it is an operator).")
