"""The dashboard: MRR now, revenue billed by month, events per day, credits outstanding, top customers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.credits.services import credit_grant_create
from billing.reports import analytics
from tests.cockpit.builders import at, customer, ingest, login, login_viewer, plan, run, subscribe

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def recurring(tenant):
    """49.00 a month + 100.00 a year (8.33) for one customer, 300.00 a quarter, 10.00 a week (43.33): 200.66.
    A trial, a test customer and a subscription starting next week do not count."""
    m = tenant.merchant
    plan(m, "monthly", base_fee="49.00")
    plan(m, "yearly", base_fee="100.00", interval="year")
    plan(m, "quarterly", base_fee="300.00", interval="quarter")
    plan(m, "weekly", base_fee="10.00", interval="week")
    plan(m, "trial", base_fee="500.00", trial_days=60)
    today = timezone.now().date()
    start = today - timedelta(days=20)
    one, two, three = customer(m, "one"), customer(m, "two"), customer(m, "three")
    subscribe(m, one, "monthly", start)
    subscribe(m, one, "yearly", start)
    subscribe(m, two, "quarterly", start)
    subscribe(m, three, "weekly", start)
    subscribe(m, three, "trial", start)
    subscribe(m, customer(m, "qa", is_test=True), "monthly", start)
    subscribe(m, customer(m, "later"), "monthly", today + timedelta(days=7))
    return m


def test_the_dashboard_shows_mrr_to_the_cent(client, tenant, recurring):
    login(client, tenant)
    response = client.get("/")
    assert response.status_code == 200
    assert response.context["mrr"] == "200.66"
    assert response.context["paying_customers"] == 3
    assert b'data-testid="mrr">200.66' in response.content
    assert b"vendor/chartjs/chart.umd.min.js" in response.content
    assert b'id="dashboard-data"' in response.content


def test_events_are_counted_per_local_day_over_30_days(client, tenant, other_tenant):
    m = tenant.merchant
    cust = customer(m, "busy")
    now = timezone.now()
    ingest(m, cust, "calls", [now - timedelta(days=2)] * 3 + [now - timedelta(days=1), now - timedelta(days=40)])
    ingest(other_tenant.merchant, customer(other_tenant.merchant, "busy"), "calls", [now - timedelta(days=1)] * 5)
    login(client, tenant)
    response = client.get("/")
    events = response.context["charts"]["events"]
    assert response.context["events_30d"] == "4"
    assert len(events["values"]) == 30
    today = now.date()
    by_day = dict(zip(events["labels"], events["values"], strict=True))
    assert by_day[(today - timedelta(days=2)).isoformat()] == 3
    assert by_day[(today - timedelta(days=1)).isoformat()] == 1
    assert events["labels"][-1] == today.isoformat()


def test_credits_outstanding_are_the_ledger_balance_per_currency(client, tenant, other_tenant):
    m = tenant.merchant
    credit_grant_create(merchant=m, customer=customer(m, "pre"), amount=D("50.00"), currency="USD")
    credit_grant_create(merchant=m, customer=customer(m, "eu", currency="EUR"), amount=D("20.50"), currency="EUR")
    o = other_tenant.merchant
    credit_grant_create(merchant=o, customer=customer(o, "x"), amount=D("999.00"), currency="USD")
    login(client, tenant)
    response = client.get("/")
    assert response.context["credits"] == [("USD", "50.00"), ("EUR", "20.50")]  # the reporting currency first
    assert b"999" not in response.content


@pytest.fixture
def billed(tenant):
    """Invoices finalized in January to March 2026: big pays 100 a month, small 10 a month from February."""
    m = tenant.merchant
    plan(m, "big", base_fee="100.00")
    plan(m, "small", base_fee="10.00")
    subscribe(m, customer(m, "big", name="Big Corp"), "big", at(2026, 1, 1))
    subscribe(m, customer(m, "small", name="Small Shop"), "small", at(2026, 2, 1))
    run(m, at(2026, 3, 1))
    return m


def test_revenue_is_billed_by_issue_month(billed):
    months = analytics.months_ending(year=2026, month=4, count=4, timezone="UTC")
    revenue = analytics.revenue_by_month(merchant=billed, currency="USD", months=months)
    assert [(month.label, amount) for month, amount in revenue] == [
        ("2026-01", D("100.00")), ("2026-02", D("110.00")), ("2026-03", D("110.00")), ("2026-04", D("0")),
    ]  # fmt: skip


def test_top_customers_are_ranked_by_revenue(billed, other_tenant):
    top = analytics.top_customers(merchant=billed, currency="USD", since=at(2026, 1, 1))
    assert [(row["customer__external_id"], row["revenue"], row["invoices"]) for row in top] == [
        ("big", D("300.00"), 3), ("small", D("20.00"), 2),
    ]  # fmt: skip


def test_a_void_invoice_is_not_revenue(billed):
    from billing.invoices.services import invoice_void
    from billing.models import Invoice

    invoice_void(
        invoice=Invoice.objects.get(merchant=billed, customer__external_id="small", issued_at=at(2026, 3, 1))
    )
    months = analytics.months_ending(year=2026, month=3, count=1, timezone="UTC")
    assert analytics.revenue_by_month(merchant=billed, currency="USD", months=months)[0][1] == D("100.00")


def test_credit_notes_come_off_revenue_in_the_month_they_are_issued(billed):
    from billing.credit_notes.services import credit_note_issue
    from billing.models import Invoice

    january = Invoice.objects.get(merchant=billed, customer__external_id="big", issued_at=at(2026, 1, 1))
    credit_note_issue(invoice=january, lines=[(january.lines.get().pk, D("30.00"))], reason="billing_error",
                      at=at(2026, 3, 5), actor="test")  # fmt: skip
    small = Invoice.objects.get(merchant=billed, customer__external_id="small", issued_at=at(2026, 2, 1))
    credit_note_issue(invoice=small, lines=[(small.lines.get().pk, D("10.00"))], reason="duplicate",
                      at=at(2026, 2, 20), actor="test")  # fmt: skip
    months = analytics.months_ending(year=2026, month=3, count=3, timezone="UTC")
    revenue = analytics.revenue_by_month(merchant=billed, currency="USD", months=months)
    assert [(month.label, amount) for month, amount in revenue] == [
        ("2026-01", D("100.00")), ("2026-02", D("100.00")), ("2026-03", D("80.00")),
    ]  # fmt: skip
    top = analytics.top_customers(merchant=billed, currency="USD", since=at(2026, 1, 1))
    assert [(row["customer__external_id"], row["revenue"], row["invoices"]) for row in top] == [
        ("big", D("270.00"), 3), ("small", D("10.00"), 2),
    ]  # fmt: skip
    # since March: big's March invoice less the note of March 5 (it credits January); small's note of Feb 20 is
    # before the window
    assert [row["revenue"] for row in analytics.top_customers(merchant=billed, currency="USD",
                                                               since=at(2026, 3, 1))] == [D("70.00"), D("10.00")]


def test_an_unknown_currency_is_a_400_with_a_message(client, tenant, recurring):
    login(client, tenant)
    response = client.get("/", {"currency": "XYZ"})
    assert response.status_code == 400
    assert b"Currency: Select a valid choice" in response.content


def test_anonymous_visitors_go_to_the_login_page(client, tenant):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_viewer_sees_the_dashboard_but_cannot_post(client, tenant, recurring):
    login_viewer(client, tenant)
    response = client.get("/")
    assert response.status_code == 200
    assert response.context["mrr"] == "200.66"
    assert client.post("/").status_code == 403


def test_another_merchants_figures_never_show(client, tenant, other_tenant, recurring):
    o = other_tenant.merchant
    plan(o, "huge", base_fee="7777.00")
    subscribe(o, customer(o, "one", name="Foreign Customer"), "huge", timezone.now().date() - timedelta(days=3))
    run(o, timezone.now())
    login(client, tenant)
    response = client.get("/")
    assert response.context["mrr"] == "200.66"
    assert b"Foreign Customer" not in response.content
    assert b"7,777" not in response.content


def test_the_dashboard_costs_the_same_queries_for_3_or_30_invoices(client, tenant, django_assert_max_num_queries):
    m = tenant.merchant
    plan(m, "basic", base_fee="10.00")
    now = timezone.now()
    login(client, tenant)
    counts = []
    for n, offset in ((3, 0), (30, 3)):
        for i in range(offset, n):
            cust = customer(m, f"c{i}")
            subscribe(m, cust, "basic", now.date() - timedelta(days=10))
            ingest(m, cust, "calls", [now - timedelta(days=1)])
        run(m, now)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/")
        assert len(response.context["top_customers"]) == min(n, 10)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(13):  # revenue by month is two: invoices and credit notes; usage two more
        client.get("/")
