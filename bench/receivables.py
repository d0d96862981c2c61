"""Benchmark of the finance reports on PostgreSQL (issue 17): receivables aging and a month's journal.

Target: 10,000 customers and 100,000 invoices, each report under 2 s, printed beside a plain ``SUM ... GROUP BY``
over the same rows in the same run. The book: one merchant, one subscription per customer, ten monthly invoices each
(issued on the 1st, Jan–Oct 2026, 30 days' terms, 10 % tax), each with an in-advance fee for the month it starts
(100.00) and the previous month's usage in arrears (from 0.00 to 9.99); 80 % of invoices paid ten days after issue,
one in fifty of the unpaid ones credited 10.00. Built with ``bulk_create`` in its own database (created if missing).

    python bench/receivables.py [--scale 0.1] [--repeat 3] [--reuse]

``DATABASE_URL`` defaults to ``postgres://postgres@127.0.0.1:5432/atlas_money_bench``; every run builds a fresh
merchant in it, unless ``--reuse`` finds the book a previous run built at the same scale (the latest such merchant)
and measures it again.
"""

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/atlas_money_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atlas.settings")
os.environ.setdefault("LOG_LEVEL", "ERROR")


def _ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


if urlparse(os.environ["DATABASE_URL"]).scheme.startswith("postgres"):
    _ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

from datetime import UTC, date, datetime, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

CUSTOMERS = 10_000
MONTHS = 10  # invoices per customer: 100,000 at full size
BATCH = 5_000
D = Decimal


def _month(n: int) -> datetime:
    return datetime(2026 + n // 12, n % 12 + 1, 1, tzinfo=UTC)


def build(customers: int):
    from atlas.models import Merchant
    from billing.models import CreditNote, Invoice, InvoiceLine, Subscription
    from billing.payments.models import Payment
    from catalog.models import Plan, PlanVersion
    from customers.models import Customer

    merchant = Merchant.objects.create(name="Receivables bench", slug=f"receivables-{int(time.time())}")
    plan = Plan.objects.create(merchant=merchant, code="pro", name="Pro")
    version = PlanVersion.objects.create(merchant=merchant, plan=plan, version=1, status="published", currency="USD",
                                         base_fee=D("100.00"), published_at=_month(0))  # fmt: skip
    people = Customer.objects.bulk_create(
        (Customer(merchant=merchant, external_id=f"c{n:05d}", name=f"Customer {n}", email=f"c{n}@bench.test",
                  created_at=_month(0)) for n in range(customers)), batch_size=BATCH)  # fmt: skip
    subscriptions = Subscription.objects.bulk_create(
        (Subscription(merchant=merchant, customer=c, external_id=f"s{n}", plan_version=version, started_at=_month(0))
         for n, c in enumerate(people)), batch_size=BATCH)  # fmt: skip
    invoices = []
    for month in range(MONTHS):
        issued = _month(month)
        for n, (person, subscription) in enumerate(zip(people, subscriptions, strict=True)):
            usage = D(n % 1000) / 100 if month else D(0)
            subtotal = D("100.00") + usage
            tax = (subtotal / 10).quantize(D("0.01"))
            paid = (n + month) % 5 != 0
            invoices.append(Invoice(
                merchant=merchant, customer=person, subscription=subscription, currency="USD",
                status="paid" if paid else "finalized", number=f"INV-2026-{month * customers + n + 1:06d}",
                period_start=issued, period_end=_month(month + 1), issued_at=issued, due_at=issued + timedelta(30),
                grace_until=issued, finalized_at=issued, paid_at=issued + timedelta(10) if paid else None,
                subtotal=subtotal, tax_rate=D("0.1"), tax=tax, total=subtotal + tax,
                amount_paid=subtotal + tax if paid else D(0), amount_due=D(0) if paid else subtotal + tax,
                customer_name=person.name, customer_external_id=person.external_id, created_at=issued,
            ))  # fmt: skip
    invoices = Invoice.objects.bulk_create(invoices, batch_size=BATCH)
    lines, payments = [], []
    for invoice in invoices:
        start, end = invoice.issued_at, invoice.period_end
        lines.append(InvoiceLine(merchant=merchant, invoice=invoice, position=0, type="base_fee", description="Pro",
                                 quantity=D(1), amount=D("100.00"), service_start=start, service_end=end))  # fmt: skip
        if invoice.subtotal > D("100.00"):
            previous = _month(start.month - 2)
            lines.append(InvoiceLine(merchant=merchant, invoice=invoice, position=1, type="usage",
                                     description="Calls", quantity=invoice.subtotal - 100,
                                     amount=invoice.subtotal - D("100.00"), service_start=previous,
                                     service_end=start))  # fmt: skip
        if invoice.status == "paid":
            payments.append(Payment(merchant=merchant, customer_id=invoice.customer_id, invoice=invoice,
                                    amount=invoice.total, currency="USD", amount_applied=invoice.total,
                                    method="bank_transfer", paid_at=invoice.paid_at, recorded_at=invoice.paid_at,
                                    actor_label="bench"))  # fmt: skip
    InvoiceLine.objects.bulk_create(lines, batch_size=BATCH)
    Payment.objects.bulk_create(payments, batch_size=BATCH)
    unpaid = [invoice for invoice in invoices if invoice.status == "finalized"][::50]
    CreditNote.objects.bulk_create(
        (CreditNote(merchant=merchant, invoice=invoice, customer_id=invoice.customer_id, number=f"CN-{k:06d}",
                    currency="USD", reason="billing_error", subtotal=D("10.00"), tax_rate=D("0.1"), tax=D("1.00"),
                    total=D("11.00"), amount_applied=D("11.00"), issued_at=invoice.issued_at + timedelta(5),
                    actor="bench") for k, invoice in enumerate(unpaid)), batch_size=BATCH)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return merchant, len(invoices), len(lines), len(payments)


def reused(customers: int):
    """The latest book built by a previous run with ``customers`` customers and all its invoices, or None."""
    from atlas.models import Merchant
    from billing.models import Invoice, InvoiceLine
    from billing.payments.models import Payment

    for merchant in Merchant.objects.filter(name="Receivables bench", slug__startswith="receivables-").order_by("-pk"):
        invoices = Invoice.objects.filter(merchant=merchant).count()
        if merchant.customers.count() == customers and invoices == customers * MONTHS:
            return (merchant, invoices, InvoiceLine.objects.filter(merchant=merchant).count(),
                    Payment.objects.filter(merchant=merchant).count())  # fmt: skip
    return None


def timed(function, repeat: int):
    best, result = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = function()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 10,000 customers (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per figure; the best is printed")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the book a previous run built at this scale, if any, not a new one")  # fmt: skip
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/receivables.py needs PostgreSQL: set DATABASE_URL")
    call_command("migrate", verbosity=0)

    from billing.reports.journal import journal_json
    from billing.reports.receivables import receivables_report

    customers = max(10, int(CUSTOMERS * args.scale))
    found = reused(customers) if args.reuse else None
    if found is not None:
        merchant, invoices, lines, payments = found
        print(f"book: {invoices:,} invoices, {lines:,} lines, {payments:,} payments, "
              f"{merchant.customers.count():,} customers; reused ({merchant.slug})")  # fmt: skip
    else:
        t0 = time.perf_counter()
        merchant, invoices, lines, payments = build(customers)
        print(f"book: {invoices:,} invoices, {lines:,} lines, {payments:,} payments, "
              f"{merchant.customers.count():,} customers; built in {time.perf_counter() - t0:.1f} s")  # fmt: skip

    as_of = date(2026, 10, 20)
    aging, report = timed(lambda: receivables_report(merchant=merchant, as_of=as_of), args.repeat)

    def aging_baseline():
        with connection.cursor() as cursor:
            cursor.execute("SELECT customer_id, currency, SUM(total) FROM billing_invoice WHERE merchant_id = %s "
                           "AND status <> 'draft' GROUP BY customer_id, currency", [merchant.pk])  # fmt: skip
            return cursor.fetchall()

    base_aging, groups = timed(aging_baseline, args.repeat)
    owed = report["totals"]["USD"]["total"]
    print(f"aging as of {as_of}: {len(report['results']):,} customers owing {owed} USD: {aging:.3f} s; "
          f"SUM ... GROUP BY over the same invoices ({len(groups):,} groups): {base_aging:.3f} s; "
          f"ratio {aging / base_aging:.1f}×")  # fmt: skip

    start, end = date(2026, 6, 1), date(2026, 6, 30)
    journal, body = timed(lambda: journal_json(merchant=merchant, start=start, end=end), args.repeat)

    def journal_baseline():
        low, high = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT l.invoice_id, SUM(l.amount) FROM billing_invoiceline l JOIN billing_invoice i "
                "ON i.id = l.invoice_id WHERE l.merchant_id = %s AND ((i.issued_at >= %s AND i.issued_at < %s) "
                "OR (l.service_start < %s AND l.service_end >= %s)) GROUP BY l.invoice_id",
                [merchant.pk, low, high, high, low],
            )
            return cursor.fetchall()

    base_journal, touched = timed(journal_baseline, args.repeat)
    revenue = body["totals"]["USD"]["revenue"]["balance"]
    print(f"journal {start} – {end}: {len(body['results']):,} rows over {len(touched):,} invoices, revenue "
          f"{revenue} USD: {journal:.3f} s; SUM ... GROUP BY over the same lines: {base_journal:.3f} s; "
          f"ratio {journal / base_journal:.1f}×")  # fmt: skip
    for name, elapsed in (("aging", aging), ("journal", journal)):
        print(f"{name}: {'under' if elapsed < 2 else 'OVER'} the 2 s target")


if __name__ == "__main__":
    main()
