"""Recurring fees beside usage: MRR, ARR, usage of the last full month and of the last 30 days, their sum, and NRR
for a book younger than the window shown; on the analytics page and the dashboard, with their definitions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.credit_notes.services import credit_note_issue
from billing.models import Invoice, InvoiceLine
from billing.reports import analytics
from tests.cockpit.builders import at, customer, ingest, login, metric, plan, run, subscribe

pytestmark = pytest.mark.django_db
D = Decimal


def usage_book(merchant, start):
    """Acme: 50.00 a month in advance + 0.10 a call in arrears from ``start`` (a month's first day): 100 calls in the
    first month, 250 in the second, billed at each month's end."""
    calls = metric(merchant, "calls")
    plan(merchant, "metered", base_fee="50.00",
         charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.10"}}])  # fmt: skip
    acme = customer(merchant, "acme", name="Acme Corp")
    subscribe(merchant, acme, "metered", start)
    second = (start + timedelta(days=32)).replace(day=1)
    third = (second + timedelta(days=32)).replace(day=1)
    ingest(merchant, acme, "calls", [start + timedelta(days=4, minutes=n) for n in range(100)])
    ingest(merchant, acme, "calls", [second + timedelta(days=4, minutes=n) for n in range(250)])
    for boundary in (start, second, third):
        run(merchant, boundary)
    return acme, second, third


def usage_line(merchant, service_start) -> InvoiceLine:
    return InvoiceLine.objects.get(merchant=merchant, type="usage", service_start=service_start)


def test_usage_revenue_counts_the_last_full_months_periods_and_the_last_30_days_invoices(tenant):
    m = tenant.merchant
    _, feb, mar = usage_book(m, at(2026, 1, 1))
    assert usage_line(m, at(2026, 1, 1)).amount == D("10.00")
    assert usage_line(m, feb).amount == D("25.00")
    rate = analytics.revenue_run_rate(merchant=m, currency="USD", mrr=D("50.00"), now=at(2026, 3, 1, 12))
    assert rate.usage_month.label == "2026-02"
    assert rate.usage_last_month == D("25.00")  # the February period, billed March 1
    assert rate.usage_30_days == D("35.00")  # invoices of Feb 1 (10.00) and Mar 1 (25.00)
    assert (rate.mrr, rate.arr, rate.monthly_total) == (D("50.00"), D("600.00"), D("75.00"))


def test_credit_notes_on_usage_come_off_both_usage_figures(tenant):
    m = tenant.merchant
    usage_book(m, at(2026, 1, 1))
    feb_line = usage_line(m, at(2026, 2, 1))
    credit_note_issue(invoice=feb_line.invoice, lines=[(feb_line.pk, D("5.00"))], reason="billing_error",
                      at=at(2026, 3, 1, 6), actor="test")  # fmt: skip
    rate = analytics.revenue_run_rate(merchant=m, currency="USD", mrr=D("50.00"), now=at(2026, 3, 1, 12))
    assert (rate.usage_last_month, rate.usage_30_days) == (D("20.00"), D("30.00"))


def test_void_invoices_and_other_currencies_are_not_usage_revenue(tenant, other_tenant):
    m = tenant.merchant
    usage_book(m, at(2026, 1, 1))
    usage_book(other_tenant.merchant, at(2026, 1, 1))
    from billing.invoices.services import invoice_void

    invoice_void(invoice=usage_line(m, at(2026, 2, 1)).invoice)
    rate = analytics.revenue_run_rate(merchant=m, currency="USD", mrr=D("0"), now=at(2026, 3, 1, 12))
    assert (rate.usage_last_month, rate.usage_30_days) == (D("0"), D("10.00"))
    assert analytics.revenue_run_rate(merchant=m, currency="EUR", mrr=D("0"), now=at(2026, 3, 1, 12)).usage_30_days == 0


def test_nrr_of_a_book_younger_than_the_window_counts_from_its_first_paying_month(tenant):
    """12 months through March 2026 for a book that started in January: the base is the end of January."""
    m = tenant.merchant
    plan(m, "p50", base_fee="50.00")
    plan(m, "p30", base_fee="30.00")
    subscribe(m, customer(m, "a"), "p50", at(2026, 1, 1))
    b = subscribe(m, customer(m, "b"), "p30", at(2026, 1, 1))
    from billing.subscriptions.services import subscription_cancel

    subscription_cancel(subscription=b, effective="period_end", at=at(2026, 2, 20))  # ends March 1
    months = analytics.months_ending(year=2026, month=3, count=12, timezone="UTC")
    report = analytics.mrr_report(merchant=m, currency="USD", months=months, now=at(2026, 6, 1))
    assert report.nrr_base.label == "2026-01"
    assert report.nrr == D("0.6250")  # {a 50, b 30} at the end of January → {a 50} at the end of March
    assert (report.mrr, report.arr) == (D("50.00"), D("600.00"))


def test_nrr_needs_a_paying_month_before_the_last(tenant):
    m = tenant.merchant
    plan(m, "p50", base_fee="50.00")
    subscribe(m, customer(m, "a"), "p50", at(2026, 3, 1))
    months = analytics.months_ending(year=2026, month=3, count=12, timezone="UTC")
    assert analytics.mrr_report(merchant=m, currency="USD", months=months, now=at(2026, 6, 1)).nrr is None


# --- the pages --------------------------------------------------------------------------------------------------


def _months_ago(count):
    first = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def test_the_analytics_page_shows_mrr_arr_usage_their_sum_nrr_and_the_definitions(client, tenant):
    m = tenant.merchant
    usage_book(m, _months_ago(2))  # billed at the start of last month and of this month
    plan(m, "p30", base_fee="30.00")
    subscribe(m, customer(m, "b"), "p30", _months_ago(2))
    login(client, tenant)
    response = client.get("/analytics/")
    assert response.status_code == 200
    rate = response.context["run_rate"]
    assert (rate["mrr"], rate["arr"], rate["usage_last_month"], rate["monthly_total"]) == (
        "80.00", "960.00", "25.00", "105.00"
    )
    assert response.context["nrr"] == "100.00%"  # nobody left or changed since the end of their first month
    content = response.content.decode()
    assert 'data-testid="arr">960.00<' in content
    assert 'data-testid="definitions"' in content
    assert "Net revenue retention (NRR)</dt>" in content and "docs/analytics.md" not in content


def test_the_dashboard_shows_usage_beside_mrr_and_charts_only_months_with_revenue(client, tenant):
    m = tenant.merchant
    usage_book(m, _months_ago(2))
    login(client, tenant)
    response = client.get("/")
    assert response.status_code == 200
    assert response.context["run_rate"]["usage_last_month"] == "25.00"
    assert response.context["run_rate"]["monthly_total"] == "75.00"
    first, last = _months_ago(2), timezone.now()
    labels = response.context["charts"]["revenue"]["labels"]
    assert labels[0] == f"{first.year:04d}-{first.month:02d}"
    assert labels[-1] == f"{last.year:04d}-{last.month:02d}"
    assert len(labels) == 3
    assert D(response.context["charts"]["revenue"]["values"][0]) == D("50.00")


def test_top_customers_link_to_the_customer_page(client, tenant):
    m = tenant.merchant
    usage_book(m, _months_ago(2))
    login(client, tenant)
    content = client.get("/").content.decode()
    assert '<a href="/customers/acme/">Acme Corp</a>' in content


def test_the_dashboard_lists_the_selected_currencys_credits_first(client, tenant):
    from billing.credits.services import credit_grant_create

    m = tenant.merchant
    plan(m, "usd", base_fee="10.00")
    plan(m, "eur", base_fee="10.00", currency="EUR")
    subscribe(m, customer(m, "u"), "usd", _months_ago(1))
    subscribe(m, customer(m, "u2"), "usd", _months_ago(1))
    subscribe(m, customer(m, "e", currency="EUR"), "eur", _months_ago(1))
    credit_grant_create(merchant=m, customer=customer(m, "pre"), amount=D("50.00"), currency="USD")
    credit_grant_create(merchant=m, customer=customer(m, "eu", currency="EUR"), amount=D("20.50"), currency="EUR")
    login(client, tenant)
    assert client.get("/").context["credits"] == [("USD", "50.00"), ("EUR", "20.50")]
    assert client.get("/", {"currency": "EUR"}).context["credits"] == [("EUR", "20.50"), ("USD", "50.00")]
    assert Invoice.objects.filter(merchant=m).count() == 0  # nothing was billed along the way
