"""The served OpenAPI schema documents every operation's error answers, in the one ``Error`` shape."""

import jsonschema
import pytest
from django.test import Client

from atlas.api.schema import ERROR_SCHEMA

pytestmark = pytest.mark.django_db

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, path, operation


def error_ref(operation, status) -> dict | None:
    response = operation["responses"].get(status)
    return response and response["content"]["application/json"]["schema"]


def test_the_error_component_is_the_error_handlers_shape(schema):
    assert schema["components"]["schemas"]["Error"] == ERROR_SCHEMA
    assert ERROR_SCHEMA["required"] == ["error"]
    assert ERROR_SCHEMA["properties"]["error"]["required"] == ["type", "message", "fields"]


def test_every_operation_documents_401_and_404_where_a_path_names_a_record(schema):
    missing = []
    for method, path, operation in operations(schema):
        if error_ref(operation, "401") != ERROR_REF:
            missing.append(f"{method.upper()} {path}: 401")
        takes_path = any(p["in"] == "path" for p in operation.get("parameters", []))
        if takes_path != (error_ref(operation, "404") == ERROR_REF):
            missing.append(f"{method.upper()} {path}: 404 {'missing' if takes_path else 'without a path parameter'}")
    assert not missing, missing


def test_every_operation_taking_input_documents_400(schema):
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in operations(schema)
        if ("requestBody" in operation or operation.get("parameters")) and error_ref(operation, "400") != ERROR_REF
    ]
    assert not missing, missing
    assert "400" not in schema["paths"]["/api/v1/merchant"]["get"]["responses"]  # no input, no 400


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("post", "/api/v1/events/batch/", "413"),
        ("post", "/api/v1/events/", "413"),
        ("post", "/api/v1/customers/import/", "413"),
        ("post", "/api/v1/customers/import/", "409"),
        ("patch", "/api/v1/plans/{code}/", "409"),
        ("post", "/api/v1/plans/{code}/publish/", "409"),
        ("post", "/api/v1/invoices/{id}/void/", "409"),
        ("post", "/api/v1/subscriptions/{external_id}/cancel/", "409"),
        ("post", "/api/v1/customers/{customer_external_id}/users", "409"),
        ("post", "/api/v1/subscriptions/{external_id}/cancel/", "415"),
        ("post", "/api/v1/customers/", "415"),
    ],
)
def test_conflicts_and_size_limits_are_documented_where_they_apply(schema, method, path, status):
    assert error_ref(schema["paths"][path][method], status) == ERROR_REF


def test_reads_document_no_conflict(schema):
    assert "409" not in schema["paths"]["/api/v1/invoices/{id}/"]["get"]["responses"]
    assert "413" not in schema["paths"]["/api/v1/customers/"]["post"]["responses"]
    assert "415" not in schema["paths"]["/api/v1/invoices/{id}/"]["get"]["responses"]


def test_the_apps_errors_match_the_error_component(tenant):
    anonymous = Client()
    answers = {
        401: anonymous.get("/api/v1/customers"),
        404: tenant.api.get("/api/v1/customers/nobody"),
        400: tenant.api.post("/api/v1/customers", {"external_id": "cus_1"}, format="json"),
        413: tenant.api.post("/api/v1/events/batch", {"events": [{}] * 1001}, format="json"),
        415: tenant.api.post("/api/v1/customers", "<x/>", content_type="application/xml"),
    }
    for status, response in answers.items():
        assert response.status_code == status, response.content
        jsonschema.validate(response.json(), ERROR_SCHEMA)
    assert answers[400].json()["error"]["fields"] == {"name": answers[400].json()["error"]["fields"]["name"]}
