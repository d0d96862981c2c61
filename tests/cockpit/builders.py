"""Builders for the cockpit tests: catalog, customers, subscriptions, events and billing through the services."""

from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import count

from django.contrib.auth import get_user_model

from atlas.models import Membership
from billing.runs.engine import billing_run
from billing.subscriptions.services import subscription_create
from catalog.services import metric_create, plan_create, plan_publish
from customers.models import Customer
from customers.services import customer_create
from metering.services import events_ingest

PASSWORD = "correct-horse-battery"
_ids = count(1)


def at(year, month, day, hour=0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def login(client, tenant) -> None:
    assert client.login(username=tenant.user.username, password=PASSWORD)


def login_viewer(client, tenant) -> None:
    viewer = get_user_model().objects.create_user(username=f"viewer{next(_ids)}@acme.test", password="viewer-pass-123")
    Membership.objects.create(user=viewer, merchant=tenant.merchant, role=Membership.Role.VIEWER)
    assert client.login(username=viewer.username, password="viewer-pass-123")


def plan(merchant, code, *, base_fee="0", interval="month", interval_count=1, currency="USD", trial_days=0,
         charges=(), timing="in_advance"):  # fmt: skip
    """A published plan (plan_create + plan_publish); ``charges`` as plan_create takes them."""
    created = plan_create(
        merchant=merchant, code=code, name=code.replace("-", " ").title(),
        content={"currency": currency, "interval": interval, "interval_count": interval_count,
                 "base_fee": Decimal(base_fee), "base_fee_timing": timing, "trial_days": trial_days,
                 "charges": list(charges)},
    )  # fmt: skip
    plan_publish(plan=created, at=at(2024, 1, 1))
    return created


def metric(merchant, code, **fields):
    return metric_create(merchant=merchant, code=code, name=code.replace("_", " ").title(), event_codes=[code],
                         **fields)  # fmt: skip


def customer(merchant, external_id, *, name=None, since=date(2024, 1, 1), **fields) -> Customer:
    created = customer_create(merchant=merchant, external_id=external_id, name=name or f"{external_id.title()} Inc.",
                              **fields)  # fmt: skip
    # Historical scenarios subscribe customers in the past: date the record back.
    Customer.objects.filter(pk=created.pk).update(created_at=datetime.combine(since, datetime.min.time(), UTC))
    created.refresh_from_db()
    return created


def subscribe(merchant, cust, plan_code, start, *, anchor="calendar", trial_days=None, external_id=None):
    return subscription_create(
        merchant=merchant, external_id=external_id or f"sub-{next(_ids)}", customer=cust.external_id,
        plan=plan_code, start_date=start, billing_anchor=anchor, trial_days=trial_days,
    )  # fmt: skip


def ingest(merchant, cust, code, timestamps, **properties) -> None:
    payloads = [
        {"transaction_id": f"tx-{next(_ids)}", "customer": cust.external_id, "code": code,
         "timestamp": instant.isoformat(), "properties": properties}
        for instant in timestamps
    ]  # fmt: skip
    result = events_ingest(merchant=merchant, payloads=payloads)
    assert result.accepted == len(payloads), result.results


def run(merchant, as_of):
    return billing_run(as_of=as_of, merchant=merchant)
