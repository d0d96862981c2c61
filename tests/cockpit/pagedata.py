"""Data for the customers, plans and events page tests: real services only."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from atlas.models import Membership
from billing.subscriptions.services import subscription_create
from catalog import services as catalog
from customers.models import Customer
from customers.services import customer_create
from metering.services import events_ingest

PASSWORD = "correct-horse-battery"


def login(client, tenant) -> None:
    assert client.login(username=tenant.user.username, password=PASSWORD)


def login_viewer(client, tenant) -> None:
    viewer = get_user_model().objects.create_user(username=f"viewer-{tenant.merchant.pk}", password="viewer-password")
    Membership.objects.create(user=viewer, merchant=tenant.merchant, role=Membership.Role.VIEWER)
    assert client.login(username=viewer.username, password="viewer-password")


def api_catalog(merchant) -> dict:
    """A count metric with a limit feature, a sum metric, a metric grouped by region, and a boolean feature."""
    api_calls = catalog.metric_create(merchant=merchant, code="api_calls", name="API calls", event_codes=["api_call"])
    payments = catalog.metric_create(
        merchant=merchant, code="payments", name="Payments", event_codes=["payment"], aggregation="sum", field="amount"
    )
    requests = catalog.metric_create(
        merchant=merchant, code="requests", name="Requests", event_codes=["request"], group_by=["region"]
    )
    limit = catalog.feature_create(
        merchant=merchant, key="api_calls_limit", name="API calls", kind="limit", metric=api_calls
    )
    sso = catalog.feature_create(merchant=merchant, key="sso", name="SSO", kind="boolean")
    return {"api_calls": api_calls, "payments": payments, "requests": requests, "limit": limit, "sso": sso}


def pro_plan(merchant, items: dict, *, code: str = "pro", publish: bool = True, limit: int = 1000, **content):
    """A monthly plan: $49 base fee, API calls at $0.01 each, a limit on API calls, SSO, a $500 onboarding fee."""
    content = {
        "currency": "USD",
        "base_fee": Decimal("49.00"),
        "charges": [{"metric": items["api_calls"], "model": "per_unit", "params": {"unit_amount": "0.01"}}],
        "features": [{"feature": items["limit"], "limit": limit}, {"feature": items["sso"], "enabled": True}],
        "one_time_fees": [{"name": "Onboarding", "amount": Decimal("500.00")}],
        **content,
    }
    plan = catalog.plan_create(merchant=merchant, code=code, name=code.title(), content=content)
    if publish:
        catalog.plan_publish(plan=plan)
    return plan


def make_customer(merchant, external_id: str, *, created_days_ago: int = 0, **fields) -> Customer:
    fields.setdefault("name", external_id.replace("_", " ").title())
    customer = customer_create(merchant=merchant, external_id=external_id, **fields)
    if created_days_ago:
        Customer.objects.filter(pk=customer.pk).update(created_at=timezone.now() - timedelta(days=created_days_ago))
        customer.refresh_from_db()
    return customer


def subscribe(merchant, customer: Customer, plan: str = "pro", *, start=None, **options):
    return subscription_create(
        merchant=merchant,
        external_id=f"sub_{customer.external_id}_{plan}",
        customer=customer.external_id,
        plan=plan,
        start_date=start or timezone.now().date(),
        **options,
    )


def send_events(merchant, customer_external_id: str, code: str, count: int, *, at=None, tag: str = "", **props):
    """``count`` events of ``code`` at ``at`` (default now), all accepted."""
    at = at or timezone.now()
    payloads = [
        {
            "transaction_id": f"{tag or code}-{customer_external_id}-{number}",
            "customer": customer_external_id,
            "code": code,
            "timestamp": at.isoformat(),
            "properties": dict(props),
        }
        for number in range(count)
    ]
    for start in range(0, len(payloads), 1000):
        result = events_ingest(merchant=merchant, payloads=payloads[start : start + 1000])
        assert result.rejected == 0, [item.errors for item in result.results if item.errors]
