"""MRR, its movements, net revenue retention and deferred revenue: exact Decimals, then the page."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Invoice
from billing.reports import analytics
from billing.reports.analytics import AdvanceLine, RecurringTerms
from billing.subscriptions.services import subscription_cancel, subscription_change_plan
from tests.cockpit.builders import at, customer, login, login_viewer, plan, run, subscribe

pytestmark = pytest.mark.django_db
D = Decimal


def months(year, month, count, tz="UTC"):
    return analytics.months_ending(year=year, month=month, count=count, timezone=tz)


# --- pure functions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fee", "interval", "count", "monthly"),
    [("49.00", "month", 1, "49.00"), ("100.00", "year", 1, "8.33"), ("300.00", "quarter", 1, "100.00"),
     ("10.00", "week", 1, "43.33"), ("90.00", "month", 2, "45.00"), ("1000.00", "year", 2, "41.67")],
)  # fmt: skip
def test_a_base_fee_is_normalised_to_a_month_and_rounded_once(fee, interval, count, monthly):
    assert analytics.monthly_amount(base_fee=D(fee), interval=interval, interval_count=count, currency="USD") == D(
        monthly
    )


def test_mrr_counts_paying_subscriptions_only():
    now = at(2026, 3, 15)
    terms = [
        RecurringTerms(1, "USD", D("49.00"), "month", 1, at(2026, 1, 1)),
        RecurringTerms(1, "USD", D("100.00"), "year", 1, at(2026, 2, 1)),
        RecurringTerms(2, "USD", D("300.00"), "quarter", 1, at(2025, 12, 1)),
        RecurringTerms(3, "USD", D("10.00"), "week", 1, at(2026, 3, 1)),
        RecurringTerms(4, "USD", D("500.00"), "month", 1, at(2026, 3, 1), trial_ends_at=at(2026, 3, 31)),  # trial
        RecurringTerms(5, "USD", D("70.00"), "month", 1, at(2026, 1, 1), ends_at=at(2026, 3, 15)),  # ended at now
        RecurringTerms(6, "USD", D("70.00"), "month", 1, at(2026, 3, 16)),  # not started
        RecurringTerms(7, "USD", D("0.00"), "month", 1, at(2026, 1, 1)),  # free
    ]
    assert analytics.mrr_by_customer(terms, now) == {1: D("57.33"), 2: D("100.00"), 3: D("43.33")}


def test_movements_classify_each_customer_and_add_up():
    previous = {1: D("50.00"), 2: D("30.00"), 3: D("20.00"), 4: D("10.00")}
    current = {1: D("80.00"), 3: D("15.00"), 4: D("10.00"), 5: D("25.00")}
    moves = analytics.mrr_movements(previous, current)
    assert (moves.new, moves.expansion, moves.contraction, moves.churn) == (
        D("25.00"),
        D("30.00"),
        D("-5.00"),
        D("-30.00"),
    )
    assert (moves.new_customers, moves.churned_customers) == (1, 1)
    assert sum(previous.values()) + moves.net == sum(current.values())


def test_net_revenue_retention_follows_the_starting_customers_only():
    start = {1: D("100.00"), 2: D("50.00")}
    end = {1: D("120.00"), 3: D("999.00")}  # 2 churned, 3 is new and does not count
    assert analytics.net_revenue_retention(start, end) == D("0.8000")
    assert analytics.net_revenue_retention({}, end) is None
    assert analytics.net_revenue_retention({1: D("30.00")}, {1: D("40.00")}) == D("1.3333")


def test_a_100_annual_fee_from_mid_january_is_recognised_by_day():
    line = AdvanceLine(D("100.00"), "USD", at(2026, 1, 16), at(2026, 1, 16), at(2027, 1, 16))
    schedule = analytics.recognition_schedule([line], months=months(2027, 1, 13), timezone="UTC")
    rows = [(row.month.label, row.billed, row.recognised, row.deferred) for row in schedule]
    assert rows[:3] == [
        ("2026-01", D("100.00"), D("4.38"), D("95.62")),  # 16 of 365 days
        ("2026-02", D("0"), D("7.67"), D("87.95")),  # 44 days: 12.05 cumulative
        ("2026-03", D("0"), D("8.50"), D("79.45")),  # 75 days: 20.55 cumulative
    ]
    assert rows[-1] == ("2027-01", D("0"), D("4.11"), D("0.00"))  # 15 days: 95.89 recognised before
    assert sum(row.recognised for row in schedule) == D("100.00")


def test_nothing_is_recognised_before_the_line_is_billed():
    # Issued on Feb 10 for a service that started Feb 1: February recognises the days up to its end at once.
    line = AdvanceLine(D("28.00"), "USD", at(2026, 2, 10), at(2026, 2, 1), at(2026, 3, 1))
    schedule = analytics.recognition_schedule([line], months=months(2026, 2, 2), timezone="UTC")
    assert [(r.recognised, r.deferred) for r in schedule] == [(D("0"), D("0")), (D("28.00"), D("0.00"))]


def test_the_month_in_progress_stops_at_now():
    line = AdvanceLine(D("31.00"), "USD", at(2026, 1, 1), at(2026, 1, 1), at(2026, 2, 1))
    (month,) = analytics.recognition_schedule([line], months=months(2026, 1, 1), timezone="UTC", now=at(2026, 1, 11))
    assert (month.billed, month.recognised, month.deferred) == (D("31.00"), D("10.00"), D("21.00"))


def test_months_follow_the_merchants_time_zone():
    (month,) = months(2026, 3, 1, tz="Europe/Paris")
    assert (month.start, month.end) == (at(2026, 2, 28, 23), at(2026, 3, 31, 22))


# --- selectors over real subscriptions and invoices -------------------------------------------------------------


@pytest.fixture
def book(tenant):
    """Jan: A 50 + B 30 new. Feb: A upgrades to 80 (immediately, Feb 10), C 20 new. Mar: B cancelled (ends Mar 1),
    A downgrades to 60 (immediately, Mar 5)."""
    m = tenant.merchant
    for code, fee in (("p50", "50.00"), ("p30", "30.00"), ("p80", "80.00"), ("p20", "20.00"), ("p60", "60.00")):
        plan(m, code, base_fee=fee)
    a, b, c = (customer(m, code) for code in ("a", "b", "c"))
    sub_a = subscribe(m, a, "p50", at(2026, 1, 1))
    sub_b = subscribe(m, b, "p30", at(2026, 1, 1))
    sub_a2 = subscription_change_plan(subscription=sub_a, plan="p80", effective="immediately", at=at(2026, 2, 10))
    subscribe(m, c, "p20", at(2026, 2, 3))
    subscription_cancel(subscription=sub_b, effective="period_end", at=at(2026, 2, 20))
    subscription_change_plan(subscription=sub_a2, plan="p60", effective="immediately", at=at(2026, 3, 5))
    test_customer = customer(m, "qa", is_test=True)
    subscribe(m, test_customer, "p80", at(2026, 1, 1))
    return m


def test_mrr_movements_per_month(book):
    report = analytics.mrr_report(merchant=book, currency="USD", months=months(2026, 3, 3), now=at(2026, 11, 1))
    rows = [
        (r.month.label, r.starting, r.movements.new, r.movements.expansion, r.movements.contraction,
         r.movements.churn, r.mrr, r.customers)
        for r in report.months
    ]  # fmt: skip
    assert rows == [
        ("2026-01", D("0"), D("80.00"), D("0"), D("0"), D("0"), D("80.00"), 2),
        ("2026-02", D("80.00"), D("20.00"), D("30.00"), D("0"), D("0"), D("130.00"), 3),
        ("2026-03", D("130.00"), D("0"), D("0"), D("-20.00"), D("-30.00"), D("80.00"), 2),
    ]
    assert [r.nrr for r in report.months] == [None, D("1.3750"), D("0.6154")]  # 110/80; 80/130
    # Nobody paid at the end of December: the base is the end of January, {a 50, b 30} → {a 60} at March's end.
    assert (report.nrr_base.label, report.nrr) == ("2026-01", D("0.7500"))


def test_net_revenue_retention_over_a_span(book):
    report = analytics.mrr_report(merchant=book, currency="USD", months=months(2026, 3, 2), now=at(2026, 11, 1))
    assert report.nrr == D("0.7500")  # {a 50, b 30} at the end of January → {a 60} at the end of March


def test_deferred_revenue_of_a_real_annual_invoice(tenant):
    m = tenant.merchant
    plan(m, "annual", base_fee="100.00", interval="year")
    subscribe(m, customer(m, "yearly"), "annual", at(2026, 1, 16), anchor="anniversary")
    run(m, at(2026, 1, 16))
    invoice = Invoice.objects.get(merchant=m)
    assert (invoice.status, invoice.total) == ("finalized", D("100.00"))
    schedule = analytics.deferred_revenue_report(merchant=m, currency="USD", months=months(2026, 3, 3))
    assert [(r.billed, r.recognised, r.deferred) for r in schedule] == [
        (D("100.00"), D("4.38"), D("95.62")), (D("0"), D("7.67"), D("87.95")), (D("0"), D("8.50"), D("79.45"))
    ]  # fmt: skip


def test_a_termination_credit_stops_the_recognition(tenant):
    m = tenant.merchant
    plan(m, "monthly", base_fee="31.00")
    sub = subscribe(m, customer(m, "leaver"), "monthly", at(2026, 1, 1))
    run(m, at(2026, 1, 1))
    subscription_cancel(subscription=sub, effective="immediately", at=at(2026, 1, 11))
    run(m, at(2026, 1, 11))
    schedule = analytics.deferred_revenue_report(merchant=m, currency="USD", months=months(2026, 2, 2))
    # 31.00 billed Jan 1, 21.00 credited back Jan 11 for Jan 11–31: 10 days earned, nothing left deferred.
    assert [(r.billed, r.recognised, r.deferred) for r in schedule] == [
        (D("10.00"), D("10.00"), D("0.00")), (D("0"), D("0"), D("0")),
    ]  # fmt: skip


# --- the page ---------------------------------------------------------------------------------------------------


def test_the_analytics_page_shows_movements_and_retention(client, tenant, book):
    login(client, tenant)
    response = client.get("/analytics/", {"end": "2026-03", "months": "3"})
    assert response.status_code == 200
    rows = response.context["mrr_rows"]
    assert [(r["label"], r["new"], r["expansion"], r["contraction"], r["churn"], r["mrr"]) for r in rows] == [
        ("2026-01", "80.00", "0.00", "0.00", "0.00", "80.00"),
        ("2026-02", "20.00", "30.00", "0.00", "0.00", "130.00"),
        ("2026-03", "0.00", "0.00", "-20.00", "-30.00", "80.00"),
    ]
    assert response.context["nrr"] == "75.00%"
    assert response.context["nrr_span"] == "Feb 1, 2026 – Apr 1, 2026"
    assert b"vendor/chartjs/chart.umd.min.js" in response.content
    assert b'id="analytics-data"' in response.content


def test_another_merchants_subscriptions_never_count(client, tenant, other_tenant, book):
    m = other_tenant.merchant
    plan(m, "big", base_fee="999.00")
    subscribe(m, customer(m, "a"), "big", at(2026, 1, 1))
    login(client, tenant)
    response = client.get("/analytics/", {"end": "2026-01", "months": "2"})
    assert response.context["mrr_rows"][-1]["mrr"] == "80.00"
    assert b"999" not in response.content


@pytest.mark.parametrize(
    "params",
    [{"months": "abc"}, {"months": "99"}, {"months": "1"}, {"end": "2026-13"}, {"end": "March"}, {"end": "1899-01"},
     {"currency": "XXX"}],
)  # fmt: skip
def test_bad_parameters_are_a_400_naming_the_field(client, tenant, params):
    login(client, tenant)
    response = client.get("/analytics/", params)
    assert response.status_code == 400
    field = next(iter(params))
    assert field in response.context["form"].errors
    assert b'data-testid="form-errors"' in response.content


def test_anonymous_visitors_go_to_the_login_page(client, tenant):
    response = client.get("/analytics/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_viewer_reads_but_cannot_post(client, tenant):
    login_viewer(client, tenant)
    assert client.get("/analytics/").status_code == 200
    assert client.post("/analytics/").status_code == 403


def _page_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_for_3_or_30_subscriptions(client, tenant, django_assert_max_num_queries):
    m = tenant.merchant
    plan(m, "basic", base_fee="10.00")
    login(client, tenant)
    url = "/analytics/?end=2026-06&months=6"
    counts = []
    for n in (3, 30):
        for i in range(n - (3 if n == 30 else 0)):
            subscribe(m, customer(m, f"c{n}-{i}"), "basic", at(2026, 1, 1))
        counts.append(_page_queries(client, url))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(10):  # 8 + the usage lines and the credit notes on them
        client.get(url)


def test_a_credit_note_on_an_advance_fee_takes_back_what_it_had_earned_then_spreads_the_rest(tenant):
    """120.00 a year from Jan 1 2026; half credited on Jul 1 (cumulative catch-up, IFRS 15)."""
    from billing.credit_notes.services import credit_note_issue

    m = tenant.merchant
    plan(m, "annual", base_fee="120.00", interval="year")
    subscribe(m, customer(m, "yearly"), "annual", at(2026, 1, 1))
    run(m, at(2026, 1, 1))
    invoice = Invoice.objects.get(merchant=m)
    credit_note_issue(invoice=invoice, lines=[(invoice.lines.get().pk, D("60.00"))], reason="order_change",
                      at=at(2026, 7, 1), actor="test")  # fmt: skip
    schedule = analytics.deferred_revenue_report(merchant=m, currency="USD", months=months(2026, 12, 12))
    rows = {r.month.label: (r.billed, r.recognised, r.deferred) for r in schedule}
    # Through Jul 1 the fee earned 120 × 181/365 = 59.51. In July it earns 69.70 − 59.51 = 10.19 and the credit
    # takes back 60 × 212/365 = 34.85 at once (181 days already served + July's 31): −24.66.
    assert rows["2026-06"] == (D("0"), D("9.87"), D("60.49"))  # 59.51 − 120 × 151/365 (49.64)
    assert rows["2026-07"] == (D("-60.00"), D("-24.66"), D("25.15"))
    assert sum(r.recognised for r in schedule) == D("60.00")
    assert rows["2026-12"][2] == D("0.00")
