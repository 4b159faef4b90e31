"""The model registry page says which model answers now (issue 16: on a fresh install it was empty although the
shipped model answered): its version, its card's val figures and its referral operating point."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from mlcore.modeldir import SHIPPED_MODEL_DIR
from predictions.models import ModelVersion
from predictions.portal.templatetags import percent


def _shipped() -> tuple[dict, dict]:
    return (
        json.loads((SHIPPED_MODEL_DIR / "config.json").read_text()),
        json.loads((SHIPPED_MODEL_DIR / "metrics.json").read_text()),
    )


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_a_fresh_install_shows_the_shipped_model_the_workers_load(client, staff, role):
    assert not ModelVersion.objects.exists()
    config, metrics = _shipped()
    client.force_login(staff.role(role))
    response = client.get(reverse("governance:models"))
    assert response.status_code == 200
    body = response.content.decode()
    served = response.context["served"]
    assert served.identifier == f"{config['name']}:{config['version']}" and served.registered is None
    assert f"data-served-identifier>{served.identifier}</span>" in body
    assert "The model shipped with SkinClinic" in body
    assert f"{metrics['balanced_accuracy']:.3f}" in body and f"{metrics['melanoma_auc']:.3f}" in body
    assert f"data-served-threshold>{percent(config['operating_point']['threshold'])}</td>" in body
    assert config["weights_sha256"][:16] in body
    found = round(config["operating_point"]["malignant_sensitivity"] * 100)
    assert f"At this threshold the model found {found} in 100 malignant lesions" in body
    assert "No version is registered yet" in body


def test_with_a_registry_the_active_version_is_the_one_shown(client, staff, operator):
    ModelVersion.objects.create(
        name="clinic-model",
        version="3.1.0",
        checksum="ab" * 32,
        model_dir="/models/3.1.0",
        metrics={"balanced_accuracy": 0.812, "melanoma_auc": 0.931, "n_images": 1074},
        config={
            "name": "clinic-model",
            "version": "3.1.0",
            "operating_point": {"threshold": 0.2, "malignant_sensitivity": 0.96},
        },
        is_active=True,
        activated_at=timezone.now(),
        activated_by=operator,
    )
    client.force_login(staff.reviewer)
    body = client.get(reverse("governance:models")).content.decode()
    assert "data-served-identifier>clinic-model:3.1.0</span>" in body
    assert "The registry's active version" in body and "by operator" in body
    assert "0.812" in body and "0.931" in body and "(1074 images)" in body
    assert "data-served-threshold>20.0%</td>" in body
    assert "shipped with SkinClinic" not in body


def test_a_model_dir_that_cannot_be_read_is_said_plainly(client, staff, settings, tmp_path):
    settings.SKINCLINIC_MODEL_DIR = str(tmp_path / "missing-model")
    client.force_login(staff.admin)
    response = client.get(reverse("governance:models"))
    assert response.status_code == 200
    assert "The configured model cannot be read" in response.content.decode()


def test_a_clinician_does_not_see_the_registry(client, staff):
    client.force_login(staff.clinician)
    assert client.get(reverse("governance:models")).status_code == 403
