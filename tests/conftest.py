"""Fixtures every test package shares: per-test media, a clinic with a member of each
role (and a user of another clinic), the fake classifier behind the model seam, and the storage and database
faults (tests/predictions/faults.py). A package's own conftest holds only what is particular to it.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

from predictions import inference
from predictions.models import Clinic, Lesion, Patient, Role
from tests.predictions.factories import ClinicFactory, LesionFactory, MembershipFactory, PatientFactory, UserFactory
from tests.predictions.fakes import ColourClassifier

# Fixture modules offered to every test by name (no imports of fixtures into test modules).
pytest_plugins = ["tests.predictions.faults", "tests.integration"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """Each test stores files in its own folder, and can look at what was stored."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def fake_classifier(monkeypatch) -> ColourClassifier:
    """Put the small test classifier behind the app's model seam (no TensorFlow). The clinical app's, the API's
    and the portal's unit tests use it always (their conftests ask for it); others ask for it by name."""
    classifier = ColourClassifier()
    monkeypatch.setattr(inference, "_classifier", classifier)
    monkeypatch.setattr(inference, "model_version", lambda: classifier.version)
    return classifier


@dataclass
class Staff:
    """A clinic with a member of each role and one patient's lesion, and a user of another clinic."""

    clinic: Clinic
    clinician: object
    reviewer: object
    admin: object
    patient: Patient
    lesion: Lesion
    other_clinic: Clinic
    outsider: object

    def role(self, name: str):
        return {"clinician": self.clinician, "reviewer": self.reviewer, "admin": self.admin, "outsider": self.outsider}[
            name
        ]


@pytest.fixture
def staff(db) -> Staff:
    clinic, other_clinic = ClinicFactory(), ClinicFactory()
    members = {role: MembershipFactory(clinic=clinic, role=role).user for role in Role.values}
    outsider = MembershipFactory(clinic=other_clinic, role=Role.ADMIN).user
    patient = PatientFactory(clinic=clinic, created_by=members[Role.CLINICIAN])
    lesion = LesionFactory(patient=patient)
    return Staff(
        clinic,
        members[Role.CLINICIAN],
        members[Role.REVIEWER],
        members[Role.ADMIN],
        patient,
        lesion,
        other_clinic,
        outsider,
    )


@pytest.fixture
def user_without_clinic(db):
    return UserFactory()
