from dataclasses import dataclass
from pathlib import Path

import pytest

from predictions import inference
from predictions.models import Clinic, Lesion, Patient, Role

from .factories import ClinicFactory, LesionFactory, MembershipFactory, PatientFactory, UserFactory
from .fakes import ColourClassifier


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """Each test stores files in its own folder, and can look at what was stored."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def fake_classifier(monkeypatch) -> ColourClassifier:
    """Put the small test classifier behind the app's model seam (no TensorFlow in these tests)."""
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
        return {"clinician": self.clinician, "reviewer": self.reviewer, "admin": self.admin,
                "outsider": self.outsider}[name]


@pytest.fixture
def staff(db) -> Staff:
    clinic, other_clinic = ClinicFactory(), ClinicFactory()
    members = {role: MembershipFactory(clinic=clinic, role=role).user for role in Role.values}
    outsider = MembershipFactory(clinic=other_clinic, role=Role.ADMIN).user
    patient = PatientFactory(clinic=clinic, created_by=members[Role.CLINICIAN])
    lesion = LesionFactory(patient=patient)
    return Staff(clinic, members[Role.CLINICIAN], members[Role.REVIEWER], members[Role.ADMIN], patient, lesion,
                 other_clinic, outsider)


@pytest.fixture
def user_without_clinic(db):
    return UserFactory()


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

