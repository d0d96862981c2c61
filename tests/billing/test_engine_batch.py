"""The batched billing run issues exactly what the one-invoice-at-a-time path issues, in a bounded number of queries.

The same month is set up for two merchants; one is billed by the batched engine, the other by the engine forced
down the per-invoice path (``invoice_issue`` / ``invoice_finalize`` for each subscription and draft), and every
invoice, line, credit entry and number must match.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from billing.credits.services import credit_grant_create
from billing.invoices.builder import InvoiceBuilder
from billing.invoices.issuing import invoices_issue
from billing.models import CreditLedgerEntry, Invoice, InvoiceEvent, Subscription
from billing.runs import engine
from billing.runs.engine import billing_run
from billing.subscriptions.services import subscription_cancel
from customers.models import BillingRule, CustomerUser
from customers.services import billing_rule_create
from metering.aggregation import aggregate, aggregate_subscriptions
from tests.billing.test_invoices_helpers import D, at, customer, event, lines_of, metric, plan, subscribe
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def one_at_a_time(monkeypatch) -> None:
    """Force the engine down the per-invoice path: the reference the batches must equal."""

    def issue_all(self, subscriptions, instant):
        for subscription in subscriptions:
            self.issue(subscription, instant)

    def finalize_batch(self, invoices):
        for invoice in invoices:
            self.stats["invoices_finalized"] += self._finalize(Invoice.objects.get(pk=invoice.pk))

    monkeypatch.setattr(engine._Pass, "issue_all", issue_all)
    monkeypatch.setattr(engine._Pass, "_finalize_batch", finalize_batch)


def mixed_month(merchant) -> dict:
    """Several plans, a grouped metric, an excluded user, credits, a trial, a termination, two subscriptions of
    one customer with tagged events, and a late event for January received after January was invoiced."""
    calls = metric(merchant, "calls")
    gb = metric(merchant, "gb", "sum", field="gb")
    region = metric(merchant, "region_calls", group_by=["region"])
    users = metric(merchant, "users", "unique_count", field="user")
    tiers = [{"up_to": "100", "unit_amount": "0.10", "flat_amount": "1"},
             {"up_to": None, "unit_amount": "0.05", "flat_amount": "0"}]  # fmt: skip
    basic = plan(merchant, "basic", base_fee="10", charges=[
        {"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.25"}, "included_units": "2"},
        {"metric": region, "model": "per_unit", "params": {"unit_amount": "0.5"}},
    ])  # fmt: skip
    pro = plan(merchant, "pro", base_fee="50", timing="in_arrears", charges=[
        {"metric": gb, "model": "tiered", "params": {"tiers": tiers}, "minimum_amount": "20"},
        {"metric": region, "model": "matrix",
         "params": {"dimensions": ["region"], "rows": [{"match": {"region": "eu"}, "unit_amount": "0.02"}],
                    "default_unit_amount": "0.05"}},
        {"metric": users, "model": "package", "params": {"package_size": "2", "amount": "7.50"}},
    ])  # fmt: skip
    trial = plan(merchant, "trial", base_fee="30", trial_days=14,
                 charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])  # fmt: skip

    twins = customer(merchant, "twins")
    twin_a = subscribe(merchant, twins, basic, at(2026, 1, 1), external_id="twin-a")
    twin_b = subscribe(merchant, twins, pro, at(2026, 1, 1), external_id="twin-b")
    for day in (2, 3, 4, 5):
        event(twins, "calls", at(2026, 1, day), subscription="twin-a")
    event(twins, "calls", at(2026, 1, 6))  # untagged: counts for both subscriptions' calls
    event(twins, "gb", at(2026, 1, 7), subscription="twin-b", gb="130")
    event(twins, "gb", at(2026, 1, 8), subscription="twin-a", gb="999")  # tagged to the other one
    for region_name in ("eu", "eu", "us"):
        event(twins, "region_calls", at(2026, 1, 9), subscription="twin-b", region=region_name)
    event(twins, "region_calls", at(2026, 1, 9), region="apac")
    for user in ("ann", "bob", "cy"):
        event(twins, "users", at(2026, 1, 10), subscription="twin-b", user=user)

    credited = customer(merchant, "credited")
    credited_sub = subscribe(merchant, credited, pro, at(2026, 1, 1), external_id="credited")
    credit_grant_create(merchant=merchant, customer=credited, amount=D("12.00"), currency="USD", priority=1,
                        granted_at=at(2026, 1, 1), expires_at=at(2026, 3, 15), reason="promo")  # fmt: skip
    credit_grant_create(merchant=merchant, customer=credited, amount=D("100.00"), currency="USD", priority=5,
                        granted_at=at(2026, 1, 1), reason="prepaid")  # fmt: skip
    event(credited, "gb", at(2026, 1, 12), gb="40.5")

    BillingRule.objects.create(merchant=merchant, name="bots", target="user", pattern="bot-*")
    with_bots = customer(merchant, "with-bots")
    CustomerUser.objects.create(
        merchant=merchant, customer=with_bots, external_id="bot-1", provisioned_at=at(2026, 1, 1)
    )
    CustomerUser.objects.create(merchant=merchant, customer=with_bots, external_id="eve", provisioned_at=at(2026, 1, 1))
    bots_sub = subscribe(merchant, with_bots, basic, at(2026, 1, 1), external_id="with-bots")
    for user in ("bot-1", "bot-1", "eve", "eve", "eve", "eve"):
        event(with_bots, "calls", at(2026, 1, 14), user=user)

    trialist = customer(merchant, "trialist")
    trial_sub = subscribe(merchant, trialist, trial, at(2026, 1, 1), external_id="trialist")
    event(trialist, "calls", at(2026, 1, 5))  # in the trial: free
    event(trialist, "calls", at(2026, 1, 20))

    leaver = customer(merchant, "leaver")
    leaver_sub = subscribe(merchant, leaver, basic, at(2026, 1, 1), external_id="leaver")
    event(leaver, "calls", at(2026, 1, 3))
    event(leaver, "calls", at(2026, 1, 4))
    event(leaver, "calls", at(2026, 1, 5))
    subs = [twin_a, twin_b, credited_sub, bots_sub, trial_sub, leaver_sub]
    return {"subs": subs, "twins": twins, "leaver_sub": leaver_sub}


def walk(merchant, setup) -> None:
    billing_run(as_of=at(2026, 1, 10), merchant=merchant)
    leaver_sub = Subscription.objects.get(pk=setup["leaver_sub"].pk)
    subscription_cancel(subscription=leaver_sub, effective="immediately", at=at(2026, 1, 16))
    billing_run(as_of=at(2026, 2, 1), merchant=merchant)
    event(setup["twins"], "calls", at(2026, 1, 30), subscription="twin-a")  # late for January
    event(setup["twins"], "calls", at(2026, 2, 3), subscription="twin-a")
    billing_run(as_of=at(2026, 3, 1), merchant=merchant)


def snapshot(merchant) -> list:
    invoices = Invoice.objects.filter(merchant=merchant).order_by("subscription__external_id", "issued_at")
    out = []
    for invoice in invoices:
        lines = [
            (line.type, line.description, line.metric_code, line.group, line.quantity, line.raw_quantity,
             line.amount, line.events_count, line.breakdown, line.service_start, line.service_end,
             line.window_start, line.window_end, {k: v for k, v in line.price.items() if k != "credits_line"})
            for line in invoice.lines.order_by("position")
        ]  # fmt: skip
        out.append((
            invoice.subscription.external_id, invoice.number, invoice.status, invoice.period_start,
            invoice.period_end, invoice.is_final, invoice.subtotal, invoice.credits_applied, invoice.tax,
            invoice.total, invoice.amount_due, invoice.customer_name, lines,
            [(e.from_state, e.to_state, e.at) for e in invoice.audit.order_by("at", "pk")],
        ))  # fmt: skip
    return out


def ledger(merchant) -> list:
    entries = CreditLedgerEntry.objects.filter(merchant=merchant).order_by("at", "kind", "amount")
    return [(e.grant.reason, e.kind, e.amount, e.at) for e in entries]


def test_the_batched_run_bills_exactly_what_one_invoice_at_a_time_bills(monkeypatch):
    batched = Tenant("Batched", "b@batched.test").merchant
    walk(batched, mixed_month(batched))

    single = Tenant("Single", "s@single.test").merchant
    setup = mixed_month(single)
    with monkeypatch.context() as patch:
        one_at_a_time(patch)
        walk(single, setup)

    assert snapshot(batched) == snapshot(single)
    assert ledger(batched) == ledger(single)
    assert len(snapshot(batched)) == 15

    def invoice(external_id, instant):
        return Invoice.objects.get(merchant=batched, subscription__external_id=external_id, issued_at=instant)

    # Tagged events bill only their subscription; untagged ones bill both.
    assert lines_of(invoice("twin-a", at(2026, 2, 1))) == [
        ("base_fee", "Basic base fee", D(1), D("10.00")),
        ("usage", "Calls", D(3), D("0.75")),
        ("usage", "Region Calls (region: apac)", D(1), D("0.50")),
    ]
    twin_b = invoice("twin-b", at(2026, 2, 1))
    assert lines_of(twin_b) == [
        ("base_fee", "Pro base fee", D(1), D("50.00")),
        ("usage", "Gb", D(130), D("12.50")),
        ("minimum", "Gb minimum commitment", D(1), D("7.50")),
        ("usage", "Region Calls (region: apac)", D(1), D("0.05")),
        ("usage", "Region Calls (region: eu)", D(2), D("0.04")),
        ("usage", "Region Calls (region: us)", D(1), D("0.05")),
        ("usage", "Users", D(3), D("15.00")),
    ]
    # The excluded user's calls are not billed: 4 of eve's, 2 included.
    assert lines_of(invoice("with-bots", at(2026, 2, 1)))[1] == ("usage", "Calls", D(2), D("0.50"))
    # Credits pay the usage and the minimum (5.05 + 14.95): the 12.00 promo first, then 8.00 of the prepaid.
    credited = invoice("credited", at(2026, 2, 1))
    assert (credited.subtotal, credited.credits_applied, credited.total) == (D("70.00"), D("20.00"), D("50.00"))
    # The trial: the base fee of Jan 15–31 up front, only the call after the trial.
    assert lines_of(invoice("trialist", at(2026, 1, 15)))[0][3] == D("16.45")
    assert lines_of(invoice("trialist", at(2026, 2, 1)))[1] == ("usage", "Calls", D(1), D("1.00"))
    # The termination: usage so far and the unused fee back.
    assert lines_of(invoice("leaver", at(2026, 1, 16))) == [
        ("usage", "Calls", D(1), D("0.25")),
        ("usage", "Region Calls", D(0), D("0.00")),
        ("base_fee", "Unused Basic base fee (Jan 16, 2026 – Jan 31, 2026)",
         -(Decimal(16) / Decimal(31)).quantize(Decimal("1e-10")).normalize(), D("-5.16")),
    ]  # fmt: skip
    # The late January call is adjusted on March's invoice.
    march = lines_of(invoice("twin-a", at(2026, 3, 1)))
    assert ("usage", "Calls", D(0), D("0.00")) in march
    assert [line for line in march if line[0] == "adjustment"] == [
        ("adjustment", "Calls: late usage for Jan 1, 2026 – Jan 31, 2026 "
         f"({invoice('twin-a', at(2026, 2, 1)).number})", D(6), D("0.25")),
    ]  # fmt: skip
    numbers = sorted(Invoice.objects.filter(merchant=batched).values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 16)]


def test_aggregate_subscriptions_answers_like_aggregate_per_subscription(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    gb = metric(m, "gb", "latest", field="gb", group_by=["zone"])
    seats = metric(m, "seats", "weighted_sum", field="delta")
    users = metric(m, "users", "unique_count", field="user")
    one, two = customer(m, "one"), customer(m, "two")
    for cust, tag in ((one, "a"), (one, "b"), (one, ""), (two, "c"), (two, "")):
        event(cust, "calls", at(2026, 1, 3), subscription=tag)
        event(cust, "gb", at(2026, 1, 4 + len(tag)), subscription=tag, gb=str(10 + len(tag)), zone="x")
        event(cust, "seats", at(2025, 12, 20 + len(tag)), subscription=tag, delta=2)
        event(cust, "seats", at(2026, 1, 10 + len(tag)), subscription=tag, delta=-1)
        event(cust, "users", at(2026, 1, 12), subscription=tag, user="ann" if tag else "bob")
    pairs = [(one.pk, "a"), (one.pk, "b"), (two.pk, "c"), (two.pk, "z")]
    for m_ in (calls, gb, seats, users):
        bulk = aggregate_subscriptions(metric=m_, subscriptions=pairs, start=at(2026, 1, 1), end=at(2026, 2, 1))
        for customer_id, tag in pairs:
            exact = aggregate(metric=m_, customer_id=customer_id, start=at(2026, 1, 1), end=at(2026, 2, 1),
                              subscription_external_id=tag, include_untagged=True)  # fmt: skip
            assert bulk[(customer_id, tag)] == exact, (m_.code, tag)
    assert bulk[(one.pk, "a")][()].events_count == 2


def many_subscriptions(merchant, *, customers: int, per_customer: int) -> None:
    """Each customer on ``per_customer`` plans (one subscription each), with tagged events on every one."""
    calls = metric(merchant, "calls")
    region = metric(merchant, "region_calls", group_by=["region"])
    versions = [
        plan(
            merchant,
            f"metered-{n}",
            base_fee="5",
            timing="in_arrears",
            charges=[
                {"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}},
                {"metric": region, "model": "per_unit", "params": {"unit_amount": "2"}},
            ],
        )  # fmt: skip
        for n in range(per_customer)
    ]
    for c in range(customers):
        cust = customer(merchant, f"c{c}")
        for n, version in enumerate(versions):
            subscribe(merchant, cust, version, at(2026, 1, 1), external_id=f"s{c}-{n}")
            event(cust, "calls", at(2026, 1, 5), subscription=f"s{c}-{n}")
            event(cust, "region_calls", at(2026, 1, 5), subscription=f"s{c}-{n}", region="eu")


BILLING_QUERIES = 60  # a whole run of one merchant at one instant, five customers


def billing_queries(
    merchant, django_assert_max_num_queries, *, subscriptions: int, budget: int = BILLING_QUERIES
) -> int:
    """The queries of one billing run, but the PDF tasks handed to django-q's broker (with the ORM broker one
    INSERT per invoice, none with Redis): those are the broker's, not the billing run's."""
    with django_assert_max_num_queries(budget + subscriptions) as captured:
        run = billing_run(as_of=at(2026, 2, 1), merchant=merchant)
    assert run.stats["invoices_issued"] == run.stats["invoices_finalized"] == run.stats["pdfs_queued"] == subscriptions
    return len([query for query in captured.captured_queries if "django_q_ormq" not in query["sql"]])


def test_queries_per_run_do_not_grow_with_the_number_of_subscriptions(django_assert_max_num_queries):
    small, large = Tenant("Small", "s@small.test").merchant, Tenant("Large", "l@large.test").merchant
    many_subscriptions(small, customers=5, per_customer=1)
    many_subscriptions(large, customers=5, per_customer=10)
    with_5 = billing_queries(small, django_assert_max_num_queries, subscriptions=5)
    with_50 = billing_queries(large, django_assert_max_num_queries, subscriptions=50)
    assert with_5 <= with_50 <= BILLING_QUERIES
    # SQLite takes at most 999 parameters a statement, so Django splits the bulk inserts of 50 invoices in two.
    assert with_50 - with_5 == (0 if connection.vendor == "postgresql" else 4)
    assert Invoice.objects.filter(merchant=large, status="finalized").count() == 50
    assert {i.total for i in Invoice.objects.filter(merchant=large)} == {D("8.00")}


def test_billing_rule_look_ups_are_per_batch_too(django_assert_max_num_queries):
    """The billing rules and the users they may exclude are read once per batch (``ExclusionIndex``), not once per
    customer and date (before: two queries per customer here, the issue date and the period start)."""
    few, more = Tenant("Few", "f@few.test").merchant, Tenant("More", "m@more.test").merchant
    for merchant in (few, more):
        billing_rule_create(merchant=merchant, name="Staff seats", target="user", pattern="*@staff.test")
    many_subscriptions(few, customers=5, per_customer=1)
    many_subscriptions(more, customers=25, per_customer=1)
    with_5 = billing_queries(few, django_assert_max_num_queries, subscriptions=5)
    with_25 = billing_queries(more, django_assert_max_num_queries, subscriptions=25)
    assert with_25 - with_5 == (0 if connection.vendor == "postgresql" else 1)


def test_a_batch_that_races_another_run_keeps_the_other_runs_invoice(tenant):
    m = tenant.merchant
    many_subscriptions(m, customers=3, per_customer=1)
    subs = list(
        Subscription.objects.filter(merchant=m)
        .select_related("customer__merchant", "merchant", "plan_version__plan")
        .prefetch_related("plan_version__charges__metric", "plan_version__one_time_fees")
        .order_by("pk")
    )
    first = invoices_issue(subscriptions=subs[:1], instant=at(2026, 2, 1))
    again = invoices_issue(subscriptions=subs, instant=at(2026, 2, 1), builder=InvoiceBuilder())
    assert (len(first.invoices), len(again.invoices), again.already_issued) == (1, 2, 1)
    assert Invoice.objects.filter(merchant=m).count() == 3
    assert {i.lines.count() for i in Invoice.objects.filter(merchant=m)} == {3}


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_issue_and_number_each_invoice_once(monkeypatch):
    monkeypatch.setattr(engine, "BATCH_SIZE", 4)  # many small batches, so the two runs interleave
    merchant = Tenant("Racer", "r@racer.test").merchant
    many_subscriptions(merchant, customers=10, per_customer=2)
    barrier, errors = threading.Barrier(2), []

    def run():
        try:
            barrier.wait()
            billing_run(as_of=at(2026, 2, 1), merchant=merchant)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    invoices = Invoice.objects.filter(merchant=merchant)
    assert sorted(invoices.values_list("number", flat=True)) == [f"INV-2026-{n:06d}" for n in range(1, 21)]
    assert {invoice.lines.count() for invoice in invoices} == {3}
    assert {invoice.total for invoice in invoices} == {D("8.00")}
    audit = [(e.invoice_id, e.to_state) for e in InvoiceEvent.objects.filter(invoice__merchant=merchant)]
    assert len(audit) == len(set(audit)) == 40  # issued once, finalized once
