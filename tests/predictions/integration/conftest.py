"""The clinical app's integration tests run the real model: no fake classifier behind the seam (the real
services' fixtures are in tests/integration.py)."""

import pytest


@pytest.fixture(autouse=True)
def fake_classifier():
    """Integration tests use the real model: this replaces the unit tests' fake behind the seam."""
    return None
