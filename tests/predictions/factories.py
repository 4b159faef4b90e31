import hashlib

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from predictions.models import Clinic, Lesion, LesionImage, Membership, Patient, Prediction, Role

from .fakes import ColourClassifier
from .images import jpeg_bytes


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery")


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    slug = factory.Sequence(lambda n: f"clinic-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = Role.CLINICIAN


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN-{n:05d}")
    full_name = factory.Sequence(lambda n: f"Patient {n}")
    created_by = factory.SubFactory(UserFactory)


class LesionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lesion

    patient = factory.SubFactory(PatientFactory)
    site = "back"
    label = factory.Sequence(lambda n: f"lesion {n}")
    created_by = factory.LazyAttribute(lambda o: o.patient.created_by)


class LesionImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LesionImage
        exclude = ["content"]

    content = factory.Sequence(lambda n: jpeg_bytes(seed=n))
    lesion = factory.SubFactory(LesionFactory)
    file = factory.LazyAttribute(lambda o: ContentFile(o.content, name="upload.jpg"))
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.content).hexdigest())
    width = 120
    height = 90
    format = "JPEG"
    size_bytes = factory.LazyAttribute(lambda o: len(o.content))
    uploaded_by = factory.LazyAttribute(lambda o: o.lesion.created_by)
    age = 50
    sex = "female"
    site = "back"


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prediction

    image = factory.SubFactory(LesionImageFactory)
    model_version = ColourClassifier.version
    queued_at = factory.LazyFunction(timezone.now)
