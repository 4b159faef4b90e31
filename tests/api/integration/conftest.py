"""The API's integration tests run the real model (the real services' fixtures are in tests/integration.py)."""

import pytest


@pytest.fixture
def fake_classifier():
    """No fake behind the model seam: the API's conftest asks for this, and gets nothing to install."""
    return None
