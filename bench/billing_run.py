"""Benchmark of the billing run on PostgreSQL (issue 6).

Target: 10,000 subscriptions across 1,000 customers with 10,000,000 events in the period, the whole run in under
60 s, and run time against subscription count (1k, 5k, 10k) growing linearly or better; then PDF invoices per
second. Each size is its own merchant (so ``billing_run(merchant=...)`` times exactly that many subscriptions):
10 subscriptions per customer, each with 1,000 events tagged to it, generated in SQL with
``INSERT ... SELECT generate_series``. The run time includes issuing, finalizing and queueing every PDF (with the
ORM broker, one django-q row per invoice); the queries printed leave those broker rows out.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_bench python bench/billing_run.py [--scale 0.1]

The database is migrated; every run creates fresh bench merchants (use a scratch database).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atlas.settings")
os.environ.setdefault("LOG_LEVEL", "ERROR")

import django  # noqa: E402

django.setup()

from datetime import UTC, datetime  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

SIZES = (1_000, 5_000, 10_000)
EVENTS_PER_SUBSCRIPTION = 1_000  # 10,000 subscriptions → 10,000,000 events
SUBSCRIPTIONS_PER_CUSTOMER = 10
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)


def build(size: int, events_per_sub: int):
    from atlas.models import Merchant
    from billing.models import Subscription
    from catalog.models import Charge, Metric, Plan, PlanVersion
    from customers.models import Customer

    slug = f"bench-{size}-{int(time.time())}"  # a fresh merchant per run: invoices and ledgers are PROTECTed
    merchant = Merchant.objects.create(name=f"Bench {size}", slug=slug)
    metric = Metric.objects.create(merchant=merchant, code="calls", name="API calls", event_codes=["call"])
    plan = Plan.objects.create(merchant=merchant, code="pro", name="Pro")
    version = PlanVersion.objects.create(
        merchant=merchant, plan=plan, version=1, status="published", currency="USD", base_fee=Decimal("49.00"),
        base_fee_timing="in_arrears", published_at=START,
    )  # fmt: skip
    tiers = [{"up_to": "500", "unit_amount": "0.01", "flat_amount": "0"},
             {"up_to": None, "unit_amount": "0.005", "flat_amount": "0"}]  # fmt: skip
    Charge.objects.create(plan_version=version, metric=metric, model="tiered", properties={"tiers": tiers},
                          included_units=Decimal("100"))  # fmt: skip
    customers = Customer.objects.bulk_create(
        Customer(merchant=merchant, external_id=f"c{n}", name=f"Customer {n}", created_at=START)
        for n in range(max(1, size // SUBSCRIPTIONS_PER_CUSTOMER))
    )
    subscriptions = Subscription.objects.bulk_create(
        Subscription(merchant=merchant, customer=customers[n % len(customers)], external_id=f"s{n}",
                     plan_version=version, started_at=START)  # fmt: skip
        for n in range(size)
    )
    # Each subscription's events are tagged with it: n-th event of subscription s at a spread-out second.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO metering_event
                (merchant_id, customer_id, transaction_id, code, timestamp, properties, subscription_external_id,
                 received_at)
            SELECT %s, s.customer_id, 't' || s.id || '-' || g, 'call',
                   %s::timestamptz + (g * 2678) * interval '1 second', '{}'::jsonb, s.external_id, %s::timestamptz
            FROM billing_subscription s, generate_series(1, %s) g
            WHERE s.merchant_id = %s
            """,
            [merchant.pk, START, END, events_per_sub, merchant.pk],
        )
        # What autovacuum does to a month of ingested events; without it the run's first read of 10M fresh rows
        # also pays for setting their hint bits.
        cursor.execute("VACUUM ANALYZE metering_event")
    return merchant, subscriptions


class QueryCounter:
    """Counts the statements run, but the PDF tasks django-q's ORM broker writes (one per invoice)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        if "django_q_ormq" not in sql:
            self.count += 1
        return execute(sql, params, many, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the target sizes (default 1)")
    parser.add_argument("--pdfs", type=int, default=50, help="invoices to render for the PDF rate")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/billing_run.py needs PostgreSQL: set DATABASE_URL")
    call_command("migrate", verbosity=0)

    from billing.invoices.tasks import invoice_render_pdf
    from billing.models import Invoice
    from billing.runs.engine import billing_run

    results = []
    for target in SIZES:
        size = max(10, int(target * args.scale))
        t0 = time.perf_counter()
        merchant, _ = build(size, EVENTS_PER_SUBSCRIPTION)
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            run = billing_run(as_of=END, merchant=merchant, trigger="bench")
        elapsed = time.perf_counter() - t0
        queries = counter.count
        issued = Invoice.objects.filter(merchant=merchant).count()
        t0 = time.perf_counter()
        billing_run(as_of=END, merchant=merchant, trigger="bench re-run")
        rerun = time.perf_counter() - t0
        results.append((size, elapsed))
        print(
            f"{size:>6} subscriptions, {size * EVENTS_PER_SUBSCRIPTION:>11,} events: run {elapsed:6.1f} s "
            f"({issued} invoices, {queries} queries, {run.stats}); idempotent re-run {rerun:5.1f} s; "
            f"data setup {setup:5.1f} s"
        )
    base_size, base_time = results[0]
    for size, elapsed in results[1:]:
        print(f"  {size // base_size}× subscriptions → {elapsed / base_time:.1f}× time")

    bench_invoices = Invoice.objects.filter(merchant__slug__startswith="bench-").values_list("pk", flat=True)
    invoices = list(bench_invoices[: args.pdfs])
    t0 = time.perf_counter()
    for pk in invoices:
        invoice_render_pdf(pk)
    elapsed = time.perf_counter() - t0
    print(f"PDF: {len(invoices)} invoices in {elapsed:.1f} s = {len(invoices) / elapsed:.1f} invoices/s")


if __name__ == "__main__":
    main()
