"""End to end over the API on real services: POST an image, poll until a real worker has classified it,
fetch the FHIR report, and receive the signed webhook the worker sent."""

import hashlib
import hmac
import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from fhir.resources.R4B.bundle import Bundle

from tests.integration import sample_images

from ..conftest import token_client
from ..receiver import start_receiver

pytestmark = pytest.mark.integration


def poll(client, url, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.25)
    pytest.fail(f"{url} did not finish in {timeout} s: {body}")


def test_upload_poll_fhir_and_webhook_on_postgres_redis_and_a_real_worker(staff, start_worker, settings):
    settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE = True
    receiver, server = start_receiver()
    try:
        worker = start_worker(WEBHOOK_ALLOW_INSECURE="1")
        admin, clinician = token_client(staff.admin), token_client(staff.clinician)
        hook = admin.post("/api/v1/webhooks", {"target_url": receiver.url, "events": ["prediction.succeeded"]})
        assert hook.status_code == 201

        response = clinician.post(
            f"/api/v1/lesions/{staff.lesion.pk}/images",
            {"file": SimpleUploadedFile("lesion.jpg", sample_images(1)[0]), "age": 61},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="e2e-upload-1",
        )
        assert response.status_code == 202, response.content
        worker.wait_until_model_loaded()
        prediction = poll(clinician, response["Location"])

        assert prediction["status"] == "succeeded", prediction["error"]
        assert abs(sum(p["probability"] for p in prediction["probabilities"]) - 1) < 1e-4
        deadline = time.monotonic() + 120  # the heatmap follows the result, in a task of its own
        while not prediction["heatmap_url"] and time.monotonic() < deadline:
            time.sleep(0.25)
            prediction = clinician.get(response["Location"]).json()
        assert clinician.get(prediction["heatmap_url"]).status_code == 200

        report = clinician.get(prediction["fhir_url"])
        assert report.status_code == 200 and report["Content-Type"] == "application/fhir+json"
        bundle = Bundle.model_validate_json(report.content)
        [observation] = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "Observation"]
        assert observation.valueCodeableConcept.coding[0].code == prediction["top_class"]
        assert observation.status == "preliminary"

        deadline = time.monotonic() + 60
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        [delivered] = receiver.received
        secret = hook.json()["secret"].encode()
        assert delivered.headers["X-SkinClinic-Signature"] == (
            "sha256=" + hmac.new(secret, delivered.body, hashlib.sha256).hexdigest()
        )
        assert json.loads(delivered.body)["data"]["prediction"]["id"] == prediction["id"]
    finally:
        server.shutdown()
        server.server_close()
