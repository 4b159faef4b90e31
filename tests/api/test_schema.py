"""The OpenAPI 3 document: valid, generated without warnings, covering every API endpoint; docs served offline."""

import io
import re

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def api_routes():
    """(path, methods) of every view under /api/v1/, read from the URL configuration itself."""
    routes = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                path = prefix + str(pattern.pattern)
                if path.startswith("api/v1/"):
                    view = pattern.callback.view_class
                    methods = {m for m in ("get", "post", "patch", "put", "delete") if hasattr(view, m)}
                    # drf-spectacular names a `pk` path parameter `id`, as the resources do.
                    path = re.sub(r"<(?:int|str):(\w+)>", lambda m: "{id}" if m[1] == "pk" else f"{{{m[1]}}}", path)
                    routes.append(("/" + path, methods))

    walk(get_resolver().url_patterns, "")
    return routes


def test_the_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # drf-spectacular's copy of the OpenAPI 3 JSON schema


def test_the_schema_generates_without_a_single_warning(tmp_path):
    # --fail-on-warn turns anything drf-spectacular could not describe precisely into an error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"), stderr=io.StringIO()
    )
    document = yaml.safe_load((tmp_path / "schema.yml").read_text())
    assert document["info"]["title"] == "SkinClinic API"


def test_every_endpoint_and_method_is_in_the_schema(schema):
    routes = api_routes()
    assert len(routes) >= 18
    for path, methods in routes:
        assert path in schema["paths"], path
        assert set(schema["paths"][path]) - {"parameters"} == methods, path
    assert len(schema["paths"]) == len(routes)


def test_every_operation_documents_its_errors_and_the_token_scheme(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"tokenAuth": []} in operation["security"], (method, path)
            assert "401" in operation["responses"], (method, path)
            if method == "post":
                assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"]), path


def test_filters_and_the_upload_are_described(schema):
    parameters = {p["name"] for p in schema["paths"]["/api/v1/predictions"]["get"]["parameters"]}
    assert {
        "status",
        "top_class",
        "risk_above",
        "reviewed",
        "mrn",
        "queued_after",
        "queued_before",
        "ordering",
        "page",
        "page_size",
    } <= parameters
    upload = schema["paths"]["/api/v1/lesions/{id}/images"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"202", "200", "413", "415"} <= set(upload["responses"])


def test_the_docs_page_loads_its_assets_from_this_server(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert not re.search(r"https?://(?!testserver)", re.sub(r"https?://(www\.)?w3\.org[^\"']*", "", html)), html


def test_the_schema_says_which_prediction_an_agreement_without_one_takes(schema):
    field = schema["components"]["schemas"]["ReviewCreateRequest"]["properties"]["prediction"]
    assert "newest finished prediction" in field["description"]
