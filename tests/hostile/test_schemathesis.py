"""Every operation of the OpenAPI schema, fuzzed by schemathesis against the WSGI application.

The schema is the one the app serves at ``/api/v1/schema/``; requests go through
``atlas.wsgi.application`` (the production handler, ingestion fast path included) in
this process, with a real API key of a merchant that has a record behind every path
parameter (``tests/hostile/seed.py``). Each operation is one test, run in two modes:

- positive: requests that fit the schema;
- negative: requests that violate it (wrong types, missing fields, out-of-range values).

Checks on every response: no server error (5xx); the status code is one the operation
documents; the content type is the documented one; the body matches the documented
schema (for errors, the ``Error`` component of ``atlas/api/schema.py``).

Each request runs in a savepoint that is rolled back, so every request meets the same
seeded records (a DELETE or a void does not starve the requests after it) and a
failing request cannot poison the next one's transaction.

Bounded and deterministic: ``derandomize`` and a fixed number of examples per operation
and mode (hypothesis stops sooner when an operation has fewer distinct inputs, as for a
PDF whose only parameter is the seeded record).

Limited, not skipped:
- ``POST /billing/runs``: a generated ``as_of`` centuries away makes the jobs engine bill
  every period up to it (one invoice per month for thousands of years), which is minutes
  of work per request, not a finding per request. The SPEC'd answer is a 400 for a run
  later than now or before 2000; ``test_billing_run_bounds`` asserts exactly that, and
  here an ``as_of`` outside those bounds is moved inside them so the run stays short
  (every other part of the body is sent as generated).
"""

import json
from datetime import UTC, datetime
from functools import cache

import pytest
import schemathesis
import werkzeug.test
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from atlas.wsgi import application
from tests.hostile.seed import path_values, seeded_tenant

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/v1/schema/?format=json"
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 12}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
METHODS = {"get", "post", "put", "patch", "delete"}
EARLIEST_RUN = datetime(2000, 1, 1, tzinfo=UTC)


def _operations() -> list[str]:
    """``METHOD /path`` of every operation, read from the schema generator at collection (no database)."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [f"{method.upper()} {path}" for path, item in paths.items() for method in item if method in METHODS]


def _runs() -> list:
    """(operation, mode) pairs. The negative mode needs something it can negate: a body or query parameters
    (the path parameters then name the seeded records), or else numeric path identifiers (then generated:
    non-numeric ones). Free-form path identifiers cannot be negated (any string is one), so an operation with
    nothing else (``GET /customers/{external_id}``, ``GET /merchant``) runs in the positive mode only."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    runs = []
    for operation in _operations():
        method, path = operation.split(" ", 1)
        spec = paths[path][method.lower()]
        runs.append(pytest.param(operation, GenerationMode.POSITIVE, id=f"{operation}-positive"))
        if _negates_input(spec) or any(_numeric(p) for p in spec.get("parameters", []) if p["in"] == "path"):
            runs.append(pytest.param(operation, GenerationMode.NEGATIVE, id=f"{operation}-negative"))
    return runs


def _negates_input(definition: dict) -> bool:
    return "requestBody" in definition or any(p["in"] == "query" for p in definition.get("parameters", []))


def _numeric(parameter: dict) -> bool:
    return parameter.get("schema", {}).get("pattern", "").startswith("^[0-9]")


@cache
def served_schema() -> dict:
    """The schema exactly as the app serves it (one request for the whole module), fetched through the WSGI
    application like every case: Django's test ``Client`` would reconnect ``close_old_connections`` to
    ``request_started`` after its request, and on PostgreSQL that receiver then closes the test's connection
    mid-transaction at the next case (``server_errors`` disconnects it for the test)."""
    response = werkzeug.test.Client(application).get(SCHEMA_URL)
    assert response.status_code == 200, response.get_data()[:500]
    return json.loads(response.get_data())


def _clamp_billing_run(case) -> None:
    """Keep a generated ``as_of`` within [2000, now] (see the module docstring)."""
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("as_of"), str):
        try:
            instant = parse_datetime(body["as_of"])
        except ValueError:
            instant = None
        if instant is not None:
            if timezone.is_naive(instant):
                instant = timezone.make_aware(instant, UTC)
            if not EARLIEST_RUN <= instant <= timezone.now():
                body["as_of"] = timezone.now().isoformat()


@pytest.mark.parametrize(("operation", "mode"), _runs())
def test_operation_answers_as_documented(operation, mode, server_errors):
    tenant, ctx = seeded_tenant()
    method, path = operation.split(" ", 1)
    schema = schemathesis.openapi.from_dict(served_schema())
    api_operation = schema[path][method]
    seeded = mode == GenerationMode.POSITIVE or _negates_input(api_operation.definition.raw)
    strategy = api_operation.as_strategy(
        generation_mode=mode,
        path_parameters=path_values(ctx).get(path) if seeded else None,
        headers={"Authorization": f"Bearer {tenant.key}"},
    )

    failures: dict[str, str] = {}  # every distinct failure (check and status), with its first request

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not raised: nothing to shrink
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        if api_operation.label == "POST /api/v1/billing/runs":
            _clamp_billing_run(case)
        server_errors.clear()
        with transaction.atomic():
            response = case.call(app=application)
            transaction.set_rollback(True)
        try:
            case.validate_response(response, checks=CHECKS)
        except (FailureGroup, Failure) as found:
            for failure in found.exceptions if isinstance(found, FailureGroup) else [found]:
                kind = f"{failure.code} {failure.title} ({response.status_code})"
                if kind not in failures:
                    failures[kind] = _reproduction(case, response, failure, server_errors)

    run()
    assert not failures, "\n\n".join(f"{kind}\n{shown}" for kind, shown in failures.items())


def _reproduction(case, response, failure, server_errors) -> str:
    body = response.content[:500].decode("utf-8", "replace")
    lines = [failure.message, f"[{response.status_code}] {body}", case.as_curl_command()]
    if server_errors:
        lines.append("Server traceback:\n" + server_errors[-1])
    return "\n".join(lines)


def test_every_operation_is_fuzzed():
    """The parametrization reads the same schema the app serves: no operation is left out."""
    served = {
        f"{method.upper()} {path}"
        for path, item in SchemaGenerator().get_schema(request=None, public=True)["paths"].items()
        for method in item
        if method in METHODS
    }
    assert set(_operations()) == served
    assert len(served) >= 60
