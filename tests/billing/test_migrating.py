"""docs/migrating.md's worked example, step by step through the API: a book taken over from another system.

Dates are months before the test runs (``POST /billing/runs`` takes an ``as_of`` up to now only): M0 is the first
day of the month four months ago, M4 the first day of this month. Northwind Cloud billed its customers until M2 in a
spreadsheet; Atlas bills from M2 (the go-live). Every invoice the first run issues is asserted to the cent.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing.models import Invoice
from catalog.models import Charge, Metric, Plan, PlanVersion

pytestmark = pytest.mark.django_db


def month_start(months_ago: int) -> datetime:
    now = timezone.now().astimezone(UTC)
    year, month = now.year, now.month - months_ago
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def upload(api, path: str, text: str):
    file = SimpleUploadedFile("book.csv", text.encode(), content_type="text/csv")
    return api.post(path, {"file": file}, format="multipart")


@pytest.fixture
def catalog(tenant):
    """Starter: 30.00 a month in advance. Scale: 100.00 a month in advance and API calls at 0.002 in arrears."""
    m = tenant.merchant
    calls = Metric.objects.create(
        merchant=m, code="api_calls", name="API calls", aggregation="sum", field="count", event_codes=["api_calls"]
    )
    for code, fee in (("starter", "30.00"), ("scale", "100.00")):
        plan = Plan.objects.create(merchant=m, code=code, name=code.title())
        version = PlanVersion.objects.create(
            merchant=m, plan=plan, version=1, status="published", currency="USD", interval="month",
            base_fee=Decimal(fee), base_fee_timing="in_advance", published_at=timezone.now(),
        )  # fmt: skip
        if code == "scale":
            Charge.objects.create(plan_version=version, position=0, metric=calls, model="per_unit",
                                  properties={"unit_amount": "0.002"})  # fmt: skip
    return m


def test_the_worked_example_bills_from_the_go_live_in_order_and_a_second_run_bills_nothing(tenant, catalog):
    api = tenant.api
    m0, m1, m2, m3, m4, m5 = (month_start(n) for n in (4, 3, 2, 1, 0, -1))
    go_live = m2.date().isoformat()

    # 1. Customers, with the go-live: billed by the previous system until M2.
    customers = (
        "external_id,name,email,currency,billing_starts_on\n"
        f"acme,Acme Corp,ap@acme.test,USD,{go_live}\n"
        f"globex,Globex,billing@globex.test,USD,{go_live}\n"
        "initech,Initech,,USD,\n"
    )
    response = upload(api, "/api/v1/customers/import", customers)
    assert response.json() == {"dry_run": False, "rows": 3, "created": 3, "updated": 0, "unchanged": 0}

    # 2. Subscriptions, with the dates they really started (before the customers existed in Atlas).
    m2_15 = m2 + timedelta(days=14)
    subscriptions = (
        "external_id,customer,plan,start_date,billing_anchor\n"
        f"sub_acme,acme,scale,{m0.date()},calendar\n"
        f"sub_globex,globex,starter,{m1.date()},calendar\n"
        f"sub_initech,initech,starter,{m2_15.date()},anniversary\n"
    )
    response = upload(api, "/api/v1/subscriptions/import", subscriptions)
    assert response.json() == {"dry_run": False, "rows": 3, "created": 3, "unchanged": 0}

    # 3. Historical usage, with its own past timestamps. M1's calls were billed by the spreadsheet.
    events = [
        {"transaction_id": "hist-1", "customer": "acme", "code": "api_calls", "timestamp": iso(m1 + timedelta(days=3)),
         "properties": {"count": "9000"}},
        {"transaction_id": "hist-2", "customer": "acme", "code": "api_calls", "timestamp": iso(m2 + timedelta(days=4)),
         "properties": {"count": "2000"}},
        {"transaction_id": "hist-3", "customer": "acme", "code": "api_calls", "timestamp": iso(m2 + timedelta(days=20)),
         "properties": {"count": "3000"}},
        {"transaction_id": "hist-4", "customer": "acme", "code": "api_calls", "timestamp": iso(m3 + timedelta(days=9)),
         "properties": {"count": "7500"}},
    ]  # fmt: skip
    response = api.post("/api/v1/events/batch", {"events": events}, format="json")
    assert (response.status_code, response.json()["accepted"], response.json()["rejected"]) == (200, 4, 0)

    # 4. The opening credit balance the previous system owed Acme, as of the go-live.
    response = api.post("/api/v1/customers/acme/credit_grants", {
        "amount": "25.00", "currency": "USD", "granted_at": iso(m2), "reason": "Opening balance from the spreadsheet",
    }, format="json")  # fmt: skip
    assert response.status_code == 201, response.content

    # 5. The first billing run catches up every invoice due, in order.
    response = api.post("/api/v1/billing/runs", {"as_of": iso(m4)}, format="json")
    assert response.status_code == 200, response.content

    # What each invoice bills is in its lines' service windows (an invoice's own period_start/period_end follows
    # SPEC §11.1: the period that ended for one with in-arrears lines).
    issued = [
        (i.subscription.external_id, i.issued_at, i.subtotal, i.credits_applied, i.total, i.status,
         [(line.type, line.quantity, line.amount, line.service_start, line.service_end)
          for line in i.lines.order_by("position", "pk")])
        for i in Invoice.objects.select_related("subscription").order_by("issued_at", "subscription__external_id")
    ]  # fmt: skip
    D = Decimal
    m3_15, m4_15 = m3 + timedelta(days=14), m4 + timedelta(days=14)
    assert issued == [
        # M2, the go-live: Acme and Globex pay M2's fee in advance. Nothing of M0-M1: the spreadsheet billed those,
        # and Acme's 9,000 calls of M1 with them.
        ("sub_acme", m2, D("100.00"), D("0.00"), D("100.00"), "finalized", [("base_fee", 1, D("100.00"), m2, m3)]),
        ("sub_globex", m2, D("30.00"), D("0.00"), D("30.00"), "finalized", [("base_fee", 1, D("30.00"), m2, m3)]),
        # Initech has no go-live: billed from its own start, on anniversary periods from the 15th.
        ("sub_initech", m2_15, D("30.00"), D("0.00"), D("30.00"), "finalized",
         [("base_fee", 1, D("30.00"), m2_15, m3_15)]),
        # M3: Acme's M2 calls, 5,000 × 0.002 = 10.00, are paid by the opening credit; M3's fee in advance.
        ("sub_acme", m3, D("110.00"), D("10.00"), D("100.00"), "finalized",
         [("base_fee", 1, D("100.00"), m3, m4), ("usage", 5000, D("10.00"), m2, m3)]),
        ("sub_globex", m3, D("30.00"), D("0.00"), D("30.00"), "finalized", [("base_fee", 1, D("30.00"), m3, m4)]),
        ("sub_initech", m3_15, D("30.00"), D("0.00"), D("30.00"), "finalized",
         [("base_fee", 1, D("30.00"), m3_15, m4_15)]),
        # M4: M3's calls, 7,500 × 0.002 = 15.00, take the credit's last 15.00.
        ("sub_acme", m4, D("115.00"), D("15.00"), D("100.00"), "finalized",
         [("base_fee", 1, D("100.00"), m4, m5), ("usage", 7500, D("15.00"), m3, m4)]),
        ("sub_globex", m4, D("30.00"), D("0.00"), D("30.00"), "finalized", [("base_fee", 1, D("30.00"), m4, m5)]),
    ]  # fmt: skip
    # Caught up in order: numbers follow the issue instants.
    numbers = [i.number for i in Invoice.objects.order_by("issued_at", "subscription__external_id")]
    assert numbers == sorted(numbers) and len(set(numbers)) == 8
    credits = api.get("/api/v1/customers/acme/credits").json()
    assert credits["balance"] == "0.00"

    # 6. A second run for the same instant changes nothing.
    numbers = list(Invoice.objects.order_by("pk").values_list("pk", "number", "total"))
    response = api.post("/api/v1/billing/runs", {"as_of": iso(m4)}, format="json")
    assert response.json()["stats"].get("invoices_issued", 0) == 0
    assert list(Invoice.objects.order_by("pk").values_list("pk", "number", "total")) == numbers
