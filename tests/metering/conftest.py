"""Builders for the metering tests: small functions, no fixtures files."""

from datetime import UTC, datetime

import pytest

from catalog.models import Metric
from customers.models import Customer
from metering.services import events_ingest


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_customer(merchant, external_id: str = "cus_1", **fields) -> Customer:
    name = fields.pop("name", external_id)
    return Customer.objects.create(merchant=merchant, external_id=external_id, name=name, **fields)


def make_metric(merchant, code: str = "api_call", **fields) -> Metric:
    fields.setdefault("name", code)
    fields.setdefault("event_codes", [code])
    return Metric.objects.create(merchant=merchant, code=code, **fields)


def ingest(merchant, *events, received_at=None):
    """Ingest events given as dicts; fills transaction ids and asserts every one was accepted."""
    payloads = []
    for number, event in enumerate(events):
        payload = dict(event)
        payload.setdefault("transaction_id", f"tx-{ingest.counter}-{number}")
        if isinstance(payload.get("timestamp"), datetime):
            payload["timestamp"] = payload["timestamp"].isoformat()
        payloads.append(payload)
    ingest.counter += 1
    result = events_ingest(merchant=merchant, payloads=payloads, received_at=received_at)
    assert result.rejected == 0, [r.errors for r in result.results if r.errors]
    return result


ingest.counter = 0


@pytest.fixture
def merchant(tenant):
    return tenant.merchant


@pytest.fixture
def customer(merchant):
    return make_customer(merchant)
