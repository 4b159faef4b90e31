"""The clinical app's unit tests run with the fake classifier behind the model seam (shared fixtures:
tests/conftest.py)."""

from pathlib import Path

import pytest

from tests.predictions.fakes import ColourClassifier


@pytest.fixture(autouse=True)
def model_behind_the_seam(fake_classifier) -> ColourClassifier:
    # The integration tests' conftest makes fake_classifier None: they run the real model.
    return fake_classifier


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
