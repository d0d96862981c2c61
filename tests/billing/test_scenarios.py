"""Time-walking scenarios: a plan, a subscription, events across days, billing runs at dates, every line asserted
to the cent (SPEC §3, §5, §6, §7)."""

from decimal import Decimal

import pytest

from billing.credits.services import credit_grant_create
from billing.models import CreditLedgerEntry, Invoice
from billing.runs.engine import billing_run
from billing.subscriptions.services import subscription_cancel, subscription_change_plan
from tests.billing.test_invoices_helpers import D, at, customer, event, lines_of, metric, plan, subscribe

pytestmark = pytest.mark.django_db


def frac(a, b) -> Decimal:
    """A proration factor as stored: 10 decimals."""
    return (Decimal(a) / Decimal(b)).quantize(Decimal("1e-10")).normalize()


def only_invoice(sub, instant) -> Invoice:
    return Invoice.objects.get(subscription=sub, issued_at=instant)


def test_a_month_of_usage_on_every_pricing_model(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    seats = metric(m, "seats", "max", field="n")
    gb = metric(m, "gb", "sum", field="gb")
    rows = metric(m, "rows", "sum", field="n")
    users = metric(m, "users", "unique_count", field="user")
    bands = metric(m, "bands", "sum", field="n")
    region = metric(m, "region_calls", group_by=["region"])
    payments = metric(m, "payments", "sum", field="amount")
    tiers = [{"up_to": "100", "unit_amount": "0.10", "flat_amount": "1"},
             {"up_to": None, "unit_amount": "0.05", "flat_amount": "2"}]  # fmt: skip
    version = plan(m, "everything", base_fee="0", charges=[
        {"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.0125"}, "included_units": "10"},
        {"metric": seats, "model": "flat", "params": {"amount": "99.99"}},
        {"metric": gb, "model": "tiered", "params": {"tiers": tiers}},
        {"metric": rows, "model": "volume", "params": {"tiers": tiers}},
        {"metric": users, "model": "package", "params": {"package_size": "2", "amount": "7.50"}},
        {"metric": bands, "model": "stairstep",
         "params": {"steps": [{"up_to": "10", "amount": "5"}, {"up_to": None, "amount": "20"}]}},
        {"metric": region, "model": "matrix",
         "params": {"dimensions": ["region"], "rows": [{"match": {"region": "eu"}, "unit_amount": "0.02"}],
                    "default_unit_amount": "0.05"}},
        {"metric": payments, "model": "percentage", "params": {"rate": "0.029", "fixed_amount": "0.30"}},
    ])  # fmt: skip
    cust = customer(m)
    sub = subscribe(m, cust, version, at(2026, 1, 1))
    for day in range(1, 32):
        event(cust, "calls", at(2026, 1, day, 12))  # 31 calls, 10 included
    event(cust, "seats", at(2026, 1, 3), n=4)
    event(cust, "gb", at(2026, 1, 5), gb="150")
    event(cust, "rows", at(2026, 1, 5), n="150")
    for user in ("ann", "bob", "cy", "ann"):
        event(cust, "users", at(2026, 1, 7), user=user)
    event(cust, "bands", at(2026, 1, 8), n="11")
    for _ in range(3):
        event(cust, "region_calls", at(2026, 1, 9), region="eu")
    event(cust, "region_calls", at(2026, 1, 9), region="us")
    event(cust, "payments", at(2026, 1, 10), amount="100.00")
    event(cust, "payments", at(2026, 1, 11), amount="33.33")
    event(cust, "calls", at(2026, 2, 1))  # next period: not on January's invoice

    billing_run(as_of=at(2026, 2, 1))

    invoice = only_invoice(sub, at(2026, 2, 1))
    assert lines_of(invoice) == [
        ("usage", "Calls", D(21), D("0.26")),  # 21 × 0.0125 = 0.2625
        ("usage", "Seats", D(4), D("99.99")),
        ("usage", "Gb", D(150), D("15.50")),  # 100 × 0.10 + 1 + 50 × 0.05 + 2
        ("usage", "Rows", D(150), D("9.50")),  # 150 × 0.05 + 2
        ("usage", "Users", D(3), D("15.00")),  # ceil(3 / 2) × 7.50
        ("usage", "Bands", D(11), D("25.00")),
        ("usage", "Region Calls (region: eu)", D(3), D("0.06")),
        ("usage", "Region Calls (region: us)", D(1), D("0.05")),
        ("usage", "Payments", D("133.33"), D("4.47")),  # 0.029 × 133.33 + 2 × 0.30 = 4.46657
    ]
    assert invoice.status == Invoice.Status.FINALIZED
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.amount_due) == (
        D("169.83"), D("0"), D("169.83"), D("169.83")
    )
    assert invoice.number == f"INV-2026-{1:06d}"
    line = invoice.lines.get(description="Calls")
    assert (line.events_count, line.window_start, line.window_end) == (31, at(2026, 1, 1), at(2026, 2, 1))
    assert line.price["params"] == {"unit_amount": "0.0125"}


def test_a_calendar_subscription_starting_on_the_10th_pays_22_31_of_the_fee_up_front(tenant):
    m = tenant.merchant
    version = plan(m, "basic", base_fee="50.00", one_time_fees=[("Onboarding", "500.00")])
    cust = customer(m)
    sub = subscribe(m, cust, version, at(2026, 8, 10))

    billing_run(as_of=at(2026, 8, 10))
    first = only_invoice(sub, at(2026, 8, 10))
    assert lines_of(first) == [
        ("base_fee", "Basic base fee (prorated Aug 10, 2026 – Aug 31, 2026)", frac(22, 31), D("35.48")),
        ("one_time", "Onboarding", D(1), D("500.00")),
    ]
    assert first.total == D("535.48")

    billing_run(as_of=at(2026, 9, 1))
    second = only_invoice(sub, at(2026, 9, 1))
    assert lines_of(second) == [("base_fee", "Basic base fee", D(1), D("50.00"))]
    assert (second.period_start, second.period_end) == (at(2026, 9, 1), at(2026, 10, 1))


def test_tax_is_the_customer_rate_rounded_once_on_what_credits_leave(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "taxed", base_fee="10.00", timing="in_arrears",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.333"}}])  # fmt: skip
    cust = customer(m, tax_rate=D("0.2"))
    sub = subscribe(m, cust, version, at(2026, 3, 1))
    for _ in range(5):
        event(cust, "calls", at(2026, 3, 2))
    credit_grant_create(merchant=m, customer=cust, amount=D("1.00"), currency="USD", granted_at=at(2026, 3, 1))
    billing_run(as_of=at(2026, 4, 1))
    invoice = only_invoice(sub, at(2026, 4, 1))
    assert lines_of(invoice) == [
        ("base_fee", "Taxed base fee", D(1), D("10.00")),
        ("usage", "Calls", D(5), D("1.67")),
    ]
    assert (invoice.subtotal, invoice.credits_applied, invoice.tax_rate, invoice.tax, invoice.total) == (
        D("11.67"), D("1.00"), D("0.2"), D("2.13"), D("12.80")
    )  # tax = round(0.2 × 10.67) = 2.134 → 2.13


def test_a_plan_change_mid_period_bills_the_old_plan_so_far_and_starts_the_new_one(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    usage = [{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.10"}}]
    starter = plan(m, "starter", base_fee="30.00", charges=usage)
    plan(m, "pro", base_fee="90.00", charges=usage)
    cust = customer(m)
    old = subscribe(m, cust, starter, at(2026, 4, 1), external_id="s1")
    billing_run(as_of=at(2026, 4, 1))
    for day in (2, 5, 10):
        event(cust, "calls", at(2026, 4, day))
    new = subscription_change_plan(subscription=old, plan="pro", effective="immediately", at=at(2026, 4, 11))
    event(cust, "calls", at(2026, 4, 20), subscription=new.external_id)
    event(cust, "calls", at(2026, 4, 21), subscription=new.external_id)

    billing_run(as_of=at(2026, 5, 1))

    assert lines_of(only_invoice(old, at(2026, 4, 1))) == [("base_fee", "Starter base fee", D(1), D("30.00"))]
    final = only_invoice(old, at(2026, 4, 11))
    assert final.is_final
    assert lines_of(final) == [
        ("usage", "Calls", D(3), D("0.30")),
        ("base_fee", "Unused Starter base fee (Apr 11, 2026 – Apr 30, 2026)", -frac(20, 30), D("-20.00")),
    ]
    assert final.total == D("-19.70")
    opening = only_invoice(new, at(2026, 4, 11))
    assert lines_of(opening) == [("base_fee", "Pro base fee (prorated Apr 11, 2026 – Apr 30, 2026)",
                                  frac(20, 30), D("60.00"))]  # fmt: skip
    may = only_invoice(new, at(2026, 5, 1))
    assert lines_of(may) == [("base_fee", "Pro base fee", D(1), D("90.00")), ("usage", "Calls", D(2), D("0.20"))]


def test_an_immediate_cancel_bills_usage_so_far_and_credits_the_unused_fee(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "monthly", base_fee="31.00",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])  # fmt: skip
    cust = customer(m)
    sub = subscribe(m, cust, version, at(2026, 1, 1))
    billing_run(as_of=at(2026, 1, 1))
    event(cust, "calls", at(2026, 1, 3))
    event(cust, "calls", at(2026, 1, 4))
    subscription_cancel(subscription=sub, effective="immediately", at=at(2026, 1, 11, 15))
    event(cust, "calls", at(2026, 1, 12))  # after the end: not billed

    billing_run(as_of=at(2026, 2, 1))

    assert Invoice.objects.filter(subscription=sub).count() == 2
    final = only_invoice(sub, at(2026, 1, 11, 15))
    assert lines_of(final) == [
        ("usage", "Monthly".replace("Monthly", "Calls"), D(2), D("2.00")),
        ("base_fee", "Unused Monthly base fee (Jan 11, 2026 – Jan 31, 2026)", -frac(21, 31), D("-21.00")),
    ]
    assert final.total == D("-19.00")


def test_nothing_is_charged_during_a_trial(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "trial", base_fee="30.00", trial_days=14,
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])  # fmt: skip
    cust = customer(m)
    sub = subscribe(m, cust, version, at(2026, 6, 1))
    event(cust, "calls", at(2026, 6, 5))  # in the trial
    event(cust, "calls", at(2026, 6, 20))

    billing_run(as_of=at(2026, 6, 10))
    assert not Invoice.objects.filter(subscription=sub).exists()
    billing_run(as_of=at(2026, 7, 1))
    trial_end = only_invoice(sub, at(2026, 6, 15))
    assert lines_of(trial_end) == [
        ("base_fee", "Trial base fee (prorated Jun 15, 2026 – Jun 30, 2026)", frac(16, 30), D("16.00"))
    ]
    july = only_invoice(sub, at(2026, 7, 1))
    assert lines_of(july) == [("base_fee", "Trial base fee", D(1), D("30.00")), ("usage", "Calls", D(1), D("1.00"))]
    assert july.lines.get(type="usage").window_start == at(2026, 6, 15)


def test_seats_provisioned_mid_month_are_billed_by_the_time_they_were_active(tenant):
    m = tenant.merchant
    seats = metric(m, "seats", "weighted_sum", field="delta", event_codes=["seat"])
    version = plan(m, "seats", charges=[{"metric": seats, "model": "per_unit", "params": {"unit_amount": "10"}}])
    cust = customer(m)
    sub = subscribe(m, cust, version, at(2026, 4, 1))
    event(cust, "seat", at(2026, 4, 1), delta=1)
    event(cust, "seat", at(2026, 4, 1), delta=1)
    event(cust, "seat", at(2026, 4, 16), delta=1)  # half of April
    event(cust, "seat", at(2026, 4, 21), delta=-1)  # one of the first two leaves for the last 10 days

    billing_run(as_of=at(2026, 5, 1))

    # 2 seats × 20 days + 1 seat (from the 16th) × 15 days… = (2×30 + 15 − 10) / 30 = 2.1666666667 seats
    assert lines_of(only_invoice(sub, at(2026, 5, 1))) == [("usage", "Seats", D("2.1666666667"), D("21.67"))]


def test_credits_pay_usage_by_priority_and_only_the_unused_rest_expires(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "metered", base_fee="5.00",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])  # fmt: skip
    cust = customer(m)
    sub = subscribe(m, cust, version, at(2026, 1, 1))
    promo = credit_grant_create(merchant=m, customer=cust, amount=D("100.00"), currency="USD", priority=1,
                                expires_at=at(2026, 2, 15), granted_at=at(2026, 1, 1), reason="promo")  # fmt: skip
    prepaid = credit_grant_create(merchant=m, customer=cust, amount=D("50.00"), currency="USD", priority=5,
                                  granted_at=at(2026, 1, 1), reason="prepaid")  # fmt: skip
    for _ in range(80):
        event(cust, "calls", at(2026, 1, 20))
    for _ in range(70):
        event(cust, "calls", at(2026, 2, 20))

    billing_run(as_of=at(2026, 3, 1))

    feb = only_invoice(sub, at(2026, 2, 1))
    assert lines_of(feb) == [("base_fee", "Metered base fee", D(1), D("5.00")), ("usage", "Calls", D(80), D("80.00"))]
    assert (feb.credits_applied, feb.total) == (D("80.00"), D("5.00"))  # base fee is not paid by credits
    mar = only_invoice(sub, at(2026, 3, 1))
    assert (mar.subtotal, mar.credits_applied, mar.total) == (D("75.00"), D("50.00"), D("25.00"))
    entries = CreditLedgerEntry.objects.filter(customer=cust).order_by("at", "pk")
    ledger = [(e.grant_id, e.kind, e.amount) for e in entries]
    assert ledger == [
        (promo.pk, "grant", D("100.00")),
        (prepaid.pk, "grant", D("50.00")),
        (promo.pk, "consumption", D("-80.00")),
        (promo.pk, "expiry", D("-20.00")),
        (prepaid.pk, "consumption", D("-50.00")),
    ]
    assert sum(e[2] for e in ledger) == 0


def test_a_late_event_after_finalization_is_billed_as_an_adjustment_on_the_next_invoice(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "metered", charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.50"}}])
    cust = customer(m)
    sub = subscribe(m, cust, version, at(2026, 1, 1))
    event(cust, "calls", at(2026, 1, 5))
    billing_run(as_of=at(2026, 2, 1))
    jan = only_invoice(sub, at(2026, 2, 1))
    assert jan.status == Invoice.Status.FINALIZED
    late = [event(cust, "calls", at(2026, 1, 30)), event(cust, "calls", at(2026, 1, 31))]
    event(cust, "calls", at(2026, 2, 3))

    billing_run(as_of=at(2026, 3, 1))

    jan.refresh_from_db()
    assert lines_of(jan) == [("usage", "Calls", D(1), D("0.50"))]  # finalized: unchanged
    feb = only_invoice(sub, at(2026, 3, 1))
    assert lines_of(feb) == [
        ("usage", "Calls", D(1), D("0.50")),
        ("adjustment", f"Calls: late usage for Jan 1, 2026 – Jan 31, 2026 ({jan.number})", D(3), D("1.00")),
    ]
    adjustment = feb.lines.get(type="adjustment")
    assert adjustment.events_count == 2 and adjustment.adjusted_invoice == jan
    response = tenant.api.get(f"/api/v1/invoices/{feb.pk}/lines/{adjustment.pk}/events")
    assert sorted(row["id"] for row in response.json()["results"]) == sorted(e.pk for e in late)


def test_running_billing_twice_for_the_same_date_changes_nothing(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "metered", base_fee="10",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])  # fmt: skip
    customers = [customer(m, f"c{n}") for n in range(3)]
    subs = [subscribe(m, cust, version, at(2026, 1, 1)) for cust in customers]
    for cust in customers:
        event(cust, "calls", at(2026, 1, 5))
    billing_run(as_of=at(2026, 2, 1))
    before = list(Invoice.objects.order_by("pk").values_list("pk", "number", "status", "total", "subtotal"))
    lines_before = sorted(Invoice.objects.values_list("lines__pk", flat=True))
    second = billing_run(as_of=at(2026, 2, 1))
    assert list(Invoice.objects.order_by("pk").values_list("pk", "number", "status", "total", "subtotal")) == before
    assert sorted(Invoice.objects.values_list("lines__pk", flat=True)) == lines_before
    assert second.stats.get("invoices_issued", 0) == 0
    assert len(before) == 6 and {s.invoices.count() for s in subs} == {2}
    numbers = sorted(n for _, n, *_ in before)
    assert numbers == [f"INV-2026-{i:06d}" for i in range(1, 7)]


def test_a_run_interrupted_after_half_the_invoices_completes_the_rest_without_billing_twice(tenant):
    from billing.invoices.issuing import invoice_issue
    from billing.invoices.services import invoice_finalize

    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "metered", timing="in_arrears", base_fee="10",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])  # fmt: skip
    customers = [customer(m, f"c{n}") for n in range(6)]
    subs = [subscribe(m, cust, version, at(2026, 1, 1)) for cust in customers]
    for cust in customers:
        event(cust, "calls", at(2026, 1, 5))
    # The first half of a run: three invoices issued, two of them finalized, then the process died.
    for sub in subs[:3]:
        invoice_issue(subscription=sub, instant=at(2026, 2, 1))
    for invoice in Invoice.objects.order_by("pk")[:2]:
        invoice_finalize(invoice=invoice, at=at(2026, 2, 1))

    billing_run(as_of=at(2026, 2, 1))

    assert [s.invoices.count() for s in subs] == [1] * 6
    invoices = Invoice.objects.order_by("number")
    assert [i.number for i in invoices] == [f"INV-2026-{n:06d}" for n in range(1, 7)]
    assert {i.total for i in invoices} == {D("11.00")}
    assert sum((i.total for i in invoices), Decimal(0)) == D("66.00")
