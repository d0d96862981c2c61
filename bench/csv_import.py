"""Customer CSV import throughput: a 50,000-row create and a 50,000-row update of the same customers.

    .venv/bin/python bench/csv_import.py [--rows 50000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_bench .venv/bin/python bench/csv_import.py

Uses whatever database ``DATABASE_URL`` names (SQLite by default), migrating it first. Everything runs under
a throwaway merchant that is deleted at the end. Prints rows per second for the full import (parse,
validate every row, diff against stored customers, write in one transaction) and how many times slower it
is than a plain ``bulk_create`` of the same rows, measured in the same run.
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atlas.settings")

import django  # noqa: E402

django.setup()

from decimal import Decimal  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from atlas.models import Merchant  # noqa: E402
from customers.csv_import import customers_import  # noqa: E402
from customers.models import Customer  # noqa: E402

HEADER = "external_id,name,email,currency,country,city,tax_rate,billing_starts_on,is_test,parent\n"
COUNTRIES = ("US", "FR", "DE", "GB", "JP")


def make_csv(rows: int, suffix: str = "") -> bytes:
    lines = [HEADER]
    tag = suffix.strip().replace(" ", "-")
    for i in range(rows):
        parent = f"cus_{i - i % 100:06d}" if i % 100 else ""  # every 100th customer resells the next 99
        lines.append(
            f'cus_{i:06d},"Customer {i}{suffix}, Inc.",billing{i}{tag}@example.com,USD,{COUNTRIES[i % 5]},'
            f"City {i % 300},0.{i % 10}0,2025-01-{1 + i % 28:02d},{'true' if i % 50 == 0 else 'false'},{parent}\n"
        )
    return "".join(lines).encode()


def baseline(merchant: Merchant, rows: int) -> float:
    """A plain bulk_create of the same rows (no parsing, no validation, no parents), then rolled back."""
    objects = [
        Customer(
            merchant=merchant,
            external_id=f"cus_{i:06d}",
            name=f"Customer {i}, Inc.",
            email=f"billing{i}@example.com",
            currency="USD",
            country=COUNTRIES[i % 5],
            city=f"City {i % 300}",
            tax_rate=Decimal(f"0.{i % 10}0"),
            is_test=i % 50 == 0,
        )
        for i in range(rows)
    ]
    started = time.perf_counter()
    with transaction.atomic():
        Customer.objects.bulk_create(objects, batch_size=2000)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def timed_import(merchant: Merchant, data: bytes):
    started = time.perf_counter()
    report = customers_import(merchant=merchant, data=data)
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"import failed: {report.errors[:5]}")
    return elapsed, report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args(argv)

    call_command("migrate", verbosity=0)
    merchant = Merchant.objects.create(name="CSV bench", slug=f"csv-bench-{uuid.uuid4().hex[:12]}")
    try:
        created_csv = make_csv(args.rows)
        updated_csv = make_csv(args.rows, suffix=" v2")
        base = baseline(merchant, args.rows)
        create_seconds, create_report = timed_import(merchant, created_csv)
        update_seconds, update_report = timed_import(merchant, updated_csv)
        again_seconds, again_report = timed_import(merchant, updated_csv)
    finally:
        Customer.objects.filter(merchant=merchant).update(parent=None)
        merchant.delete()

    print(f"{args.rows:,} rows, {connection.vendor}, {len(created_csv) / 1e6:.1f} MB CSV")
    print(f"{'pass':<30} {'seconds':>8} {'rows/s':>10} {'× bulk_create':>14}")
    for label, seconds in (
        ("plain bulk_create (baseline)", base),
        (f"import: create ({create_report.created:,} new)", create_seconds),
        (f"import: update ({update_report.updated:,} changed)", update_seconds),
        (f"import: re-upload ({again_report.unchanged:,} same)", again_seconds),
    ):
        print(f"{label:<30} {seconds:>8.2f} {args.rows / seconds:>10,.0f} {seconds / base:>14.1f}")


if __name__ == "__main__":
    main()
