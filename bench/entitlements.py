"""Entitlement checks and current usage at a million events, through the production server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_bench .venv/bin/python bench/entitlements.py
    [--events 1000000] [--small 1000] [--requests 2000] [--keep-db]

Drops and recreates its own database (``DATABASE_URL``'s name + ``_entitlements``) and migrates it. One
merchant (time zone Europe/Paris), a published plan (a per-unit charge on ``api_calls``, a hard monthly
limit on it, a rolling "per hour" limit, and the scoped limits of seed 004: a daily cap (metric period
``day``), a limit per team member (``scope: user`` on a metric of its own, so its buckets key on the
events' ``user``: 20 members) and a limit per project (a metric grouped by ``project``: 10 projects)) and
two subscribed customers: one
with ``--events`` events in its current period, one with ``--small``. The
subscriptions started 27 days ago on anniversary periods, so whatever the date
the current period is 27 days old (about 650 hourly buckets behind each answer). The
events are loaded with ``COPY`` (spread over the period so far, every hour
holding some) and the usage buckets are built from them with the same backfill
a metric change triggers (``metric_state_rebuild``; its time is printed).

Then gunicorn runs with the production settings (``DEBUG=0``,
``atlas/gunicorn.conf.py``, 2 workers) and one client in this process (standard
library only, one kept-alive connection) times, for each customer: ``GET /customers/{id}/entitlements/{key}``
for the monthly limit, the rolling limit, the daily cap, one member's limit (``?user=u7``) and one
project's (``?group.project=p3``), and ``GET /customers/{id}/usage``.
It prints p50/p99 and the ratio of the big customer's p99 to the small one's.
Every loop is bounded; the server is stopped and the database dropped at the end.
"""

import argparse
import http.client
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (
    Server,
    drop_database,
    free_port,
    load,
    percentile,
    prepare_database,
    request,
)  # noqa: E402


def load_events(merchant_id: int, customer_id: int, count: int, start: datetime, end: datetime, tag: str) -> None:
    """COPY ``count`` api_call events spread over ``[start, end)`` (every hour gets its share)."""
    from django.db import connection

    rng = random.Random(count)
    span = int((end - start).total_seconds())
    regions = ("eu", "us", "ap")
    users = [f"u{n}" for n in range(20)]  # team members (the per-user limit)
    projects = [f"p{n}" for n in range(10)]  # usage buckets (the per-project limit)
    raw = connection.connection
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY metering_event (merchant_id, customer_id, transaction_id, code, timestamp, properties, "
            "subscription_external_id, received_at) FROM STDIN"
        ) as copy,
    ):
        for n in range(count):
            timestamp = start + timedelta(seconds=span * n / count + rng.random())
            copy.write_row((merchant_id, customer_id, f"{tag}-{n}", "api_call", min(timestamp, end),
                            json.dumps({"region": regions[n % 3], "user": users[n % 20], "project": projects[n % 10]}),
                            "", end))  # fmt: skip
    raw.commit()


def timed(port: int, key: str, path: str, count: int) -> tuple[list[float], bytes]:
    """``count`` sequential requests on one kept-alive connection, as an API client library sends them."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(20):  # warm-up
            status, body = request(port, "GET", path, key, conn=conn)
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}: {body[:300]!r}")
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            status, body = request(port, "GET", path, key, conn=conn)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}")
        return latencies, body
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    url, env = prepare_database("bench/entitlements.py", "entitlements")
    from django.db import connection

    from atlas.services import merchant_create
    from billing.models import Subscription
    from billing.subscriptions.selectors import subscription_period_at
    from billing.subscriptions.services import subscription_create
    from catalog import services as catalog
    from customers.models import Customer
    from metering.aggregation import aggregate
    from metering.selectors import current_usage
    from metering.services import metric_state_rebuild

    now = datetime.now(UTC)
    # Anniversary periods started 27 days ago: the current period is always 27 days old (about 650 hourly
    # buckets behind each answer), whatever the date the benchmark runs on.
    period_start = (now - timedelta(days=27)).replace(hour=0, minute=0, second=0, microsecond=0)
    merchant, _, key = merchant_create(name="Bench", email="bench@atlas.test", password="bench-password-1")
    monthly = catalog.metric_create(merchant=merchant, code="api_calls", name="API calls", event_codes=["api_call"])
    hourly = catalog.metric_create(merchant=merchant, code="api_calls_hourly", name="API calls per hour",
                                   event_codes=["api_call"], period="rolling", window_seconds=3600)  # fmt: skip
    limit = catalog.feature_create(merchant=merchant, key="api_calls_limit", name="API calls", kind="limit",
                                   metric=monthly)  # fmt: skip
    rate = catalog.feature_create(merchant=merchant, key="api_rate", name="API rate", kind="limit", metric=hourly)
    merchant.timezone = "Europe/Paris"
    merchant.save(update_fields=["timezone"])
    daily = catalog.metric_create(merchant=merchant, code="api_calls_daily", name="API calls a day",
                                  event_codes=["api_call"], period="day")  # fmt: skip
    member = catalog.metric_create(merchant=merchant, code="api_calls_member", name="API calls per member",
                                   event_codes=["api_call"])  # fmt: skip
    project = catalog.metric_create(merchant=merchant, code="api_calls_project", name="API calls per project",
                                    event_codes=["api_call"], group_by=["project"])  # fmt: skip
    cap = catalog.feature_create(merchant=merchant, key="daily_calls", name="Daily cap", kind="limit", metric=daily)
    per_member = catalog.feature_create(merchant=merchant, key="calls_per_member", name="Calls per member",
                                        kind="limit", metric=member, scope="user")  # fmt: skip
    per_project = catalog.feature_create(merchant=merchant, key="calls_per_project", name="Calls per project",
                                         kind="limit", metric=project)  # fmt: skip
    member.refresh_from_db()
    assert member.user_buckets
    scoped = (daily, member, project)
    plan = catalog.plan_create(merchant=merchant, code="pro", name="Pro", content={
        "currency": "USD", "base_fee": Decimal("49.00"),
        "charges": [{"metric": monthly, "model": "per_unit", "params": {"unit_amount": "0.001"},
                     "included_units": Decimal("1000"), "minimum_amount": None, "maximum_amount": None,
                     "timing": "in_arrears"}],
        "features": [{"feature": limit, "limit": 10_000_000, "enforcement": "hard"},
                     {"feature": rate, "limit": 1_000_000, "enforcement": "hard"},
                     {"feature": cap, "limit": 1_000_000, "enforcement": "hard"},
                     {"feature": per_member, "limit": 1_000_000, "enforcement": "hard"},
                     {"feature": per_project, "limit": 1_000_000, "enforcement": "hard"}],
    })  # fmt: skip
    catalog.plan_publish(plan=plan)
    customers = {}
    for name in ("big", "small"):
        customer = Customer.objects.create(merchant=merchant, external_id=f"cus_{name}", name=name)
        Customer.objects.filter(pk=customer.pk).update(created_at=period_start - timedelta(days=1))
        subscription_create(merchant=merchant, external_id=f"sub_{name}", customer=f"cus_{name}", plan="pro",
                            start_date=period_start, billing_anchor="anniversary")  # fmt: skip
        customers[name] = customer
    period = subscription_period_at(Subscription.objects.get(external_id="sub_big"), now)
    assert period.start == period_start < now < period.end, period

    end = now - timedelta(seconds=30)
    print(f"loading {args.events:,} + {args.small:,} events with COPY over {period_start:%Y-%m-%d %H:%M} .. now")
    started = time.perf_counter()
    load_events(merchant.pk, customers["big"].pk, args.events, period_start, end, "big")
    load_events(merchant.pk, customers["small"].pk, args.small, period_start, end, "small")
    print(f"  {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    for metric in (monthly, hourly, *scoped):
        started = time.perf_counter()
        metric_state_rebuild(metric=metric, force=True)
        print(f"  state backfill of {metric.code}: {time.perf_counter() - started:.1f} s")
    for metric in (monthly, hourly, *scoped):  # the fast path answers what the raw events say
        for customer in customers.values():
            window = {"start": period_start, "end": period_start + timedelta(days=40)}
            assert current_usage(metric=metric, customer_id=customer.pk, **window) == aggregate(
                metric=metric, customer_id=customer.pk, **window
            ), metric.code
    for customer in customers.values():  # one member's and one project's usage: the state against the raw events
        window = {"start": period_start, "end": period_start + timedelta(days=40)}
        mine = current_usage(metric=member, customer_id=customer.pk, user="u7", **window)[()].quantity
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM metering_event WHERE customer_id = %s AND code = 'api_call' "
                "AND properties ->> 'user' = 'u7' AND timestamp >= %s",
                [customer.pk, period_start],
            )
            assert mine == cursor.fetchone()[0], (customer.external_id, mine)
        by_project = current_usage(metric=project, customer_id=customer.pk, **window)
        bucket = current_usage(metric=project, customer_id=customer.pk, group=("p3",), **window)
        assert bucket == {("p3",): by_project[("p3",)]}, bucket
    connection.close()

    port = free_port()
    server = Server(env, port)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        server.wait_ready(key)
        latencies, _ = timed(port, key, "/api/v1/merchant", args.requests)
        print(f"  floor: GET /merchant (authentication only)  p50 {percentile(latencies, 0.5) * 1000:6.2f} ms"
              f"  p99 {percentile(latencies, 0.99) * 1000:6.2f} ms")  # fmt: skip
        for name in ("small", "big"):
            results[name] = {}
            for label, path in [
                ("entitlement (monthly limit)", f"/api/v1/customers/cus_{name}/entitlements/api_calls_limit"),
                ("entitlement (rolling hour)", f"/api/v1/customers/cus_{name}/entitlements/api_rate"),
                ("entitlement (daily cap)", f"/api/v1/customers/cus_{name}/entitlements/daily_calls"),
                ("entitlement (per user)", f"/api/v1/customers/cus_{name}/entitlements/calls_per_member?user=u7"),
                ("entitlement (per bucket)",
                 f"/api/v1/customers/cus_{name}/entitlements/calls_per_project?group.project=p3"),
                ("usage", f"/api/v1/customers/cus_{name}/usage"),
            ]:
                latencies, body = timed(port, key, path, args.requests)
                results[name][label] = latencies
                sample = json.loads(body)
                shown = (
                    sample.get("usage") if "usage" in sample else sample["subscriptions"][0]["charges"][0]["quantity"]
                )
                print(f"  {name:5} {label:28} usage {shown:>9}  p50 {percentile(latencies, 0.5) * 1000:6.2f} ms"
                      f"  p99 {percentile(latencies, 0.99) * 1000:6.2f} ms")  # fmt: skip
    finally:
        server.stop()
    print(load())
    print()
    for label in results["big"]:
        big, small = percentile(results["big"][label], 0.99), percentile(results["small"][label], 0.99)
        print(f"RESULT {label}: p99 {big * 1000:.2f} ms at {args.events:,} events (target < 10 ms), "
              f"{big / small:.2f}x the p99 at {args.small:,} events ({small * 1000:.2f} ms; target < 2x)")  # fmt: skip
    if not args.keep_db:
        drop_database(url)


if __name__ == "__main__":
    main()
