"""Cockpit page times and query counts, on the seeded demo and on 1,000 customers / 1,000,000 events (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_pages .venv/bin/python bench/pages.py
    [--customers 1000] [--events 1000000] [--repeat 5] [--budget-ms 300] [--keep-db]

Drops and recreates the database ``DATABASE_URL`` names, migrates it and loads the demo (``billing.demo.demo_seed``,
scale 1). Then, with production settings (``DEBUG=0``, manifest static files collected to a temporary directory), it
logs in through Django's test ``Client`` and requests every page of the ``cockpit`` namespace, with real ids for the
detail pages (the customer with the most events, the newest invoice with the most lines, the plan with the most
versions) and a few filtered list views: one warm-up request, then ``--repeat`` measured requests, reporting the
median and the maximum wall time and the query count (``CaptureQueriesContext``). Pages answering with anything
but 200 are listed with their status (action URLs that only accept POST answer 405).

That is the baseline. Then it bulk-adds customers up to ``--customers`` and events up to ``--events`` with
``INSERT ... SELECT generate_series`` (random but seeded: ``setseed``), rebuilds every metric's pre-aggregated
state with ``metering.services.metric_state_rebuild`` (the documented backfill), runs ``ANALYZE``, and measures
every page again. Pages slower than ``--budget-ms`` (median) are flagged. The database is dropped at the end
(``--keep-db`` keeps it). Every loop is bounded.
"""

import argparse
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/atlas_pages"
EMAIL = "bench@atlas.test"
PASSWORD = "bench-password-for-pages"


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.path.lstrip("/")}"')


def drop_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')


def setup_django(url: str, media: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    # plain HTTP through the test client: no redirect to HTTPS, cookies sent without TLS
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        os.environ[name] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-pages-secret-key-not-for-production-" + "x" * 20)
    os.environ["MEDIA_ROOT"] = media
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atlas.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- the pages -------------------------------------------------------------------------------------------------


def cockpit_urls(merchant) -> list[tuple[str, str]]:
    """(label, URL) of every cockpit page, with real ids, plus filtered variants of the list pages."""
    from django.db.models import Count
    from django.urls import get_resolver, reverse
    from django.utils import timezone

    from billing.models import Invoice, Subscription
    from catalog.models import Plan
    from metering.models import Event

    subscribed = Subscription.objects.filter(merchant=merchant).values("customer_id")
    busiest = (
        Event.objects.filter(merchant=merchant, customer_id__in=subscribed)
        .values("customer_id", "customer__external_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    invoice = (
        Invoice.objects.filter(merchant=merchant, status__in=["finalized", "paid"])
        .annotate(n=Count("lines"))
        .order_by("-period_start", "-n")
        .first()
    )
    plan = Plan.objects.filter(merchant=merchant).annotate(n=Count("versions")).order_by("-n", "code").first()
    # The charge editing pages are for a plan whose newest version is a draft.
    drafted = Plan.objects.filter(merchant=merchant, versions__status="draft").order_by("code").first() or plan
    user = merchant.customer_users.order_by("pk").first()
    values = {
        "pk": invoice.pk,
        "id": invoice.pk,
        "invoice_id": invoice.pk,
        "external_id": busiest["customer__external_id"],
        "customer": busiest["customer__external_id"],
        "code": plan.code,
        "index": 0,
        "user_id": user.pk if user else 1,
        "line_id": invoice.lines.order_by("pk").values_list("pk", flat=True).first() or 1,
    }
    _, resolver = get_resolver().namespace_dict["cockpit"]
    urls = []
    for pattern in resolver.url_patterns:
        name = getattr(pattern, "name", None)
        if not name:
            continue
        wanted = list(pattern.pattern.regex.groupindex)
        if any(key not in values for key in wanted):
            urls.append((name, f"<no value for {', '.join(k for k in wanted if k not in values)}>"))
            continue
        kwargs = {key: values[key] for key in wanted}
        if name.startswith("plan-charge") and "code" in kwargs:
            kwargs["code"] = drafted.code
        urls.append((name, reverse(f"cockpit:{name}", kwargs=kwargs)))
    # Filtered views of the big lists (the parameters the list forms send) and the exports of last month.
    external_id = values["external_id"]
    today = timezone.now().date()
    end = today.replace(day=1) - timedelta(days=1)
    month = f"start={end.replace(day=1)}&end={end}"
    extra = {
        "customers": [f"?q={external_id[4:8]}", "?page=2"],
        "events": [f"?customer={external_id}", f"?customer={external_id}&code=api_call", "?code=payment"],
        "invoices": ["?status=paid", f"?customer={external_id}"],
        "export-download": [f"?kind=invoices&format=csv&{month}", f"?kind=usage&format=csv&{month}",
                            f"?kind=usage&format=xlsx&{month}"],
    }  # fmt: skip
    for name, queries in extra.items():
        try:
            base = reverse(f"cockpit:{name}")
        except Exception:
            continue
        urls += [(f"{name} {query}", base + query) for query in queries]
    return urls


def measure(client, urls, repeat: int) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = []
    for label, url in urls:
        if url.startswith("<"):
            rows.append({"label": label, "url": url, "status": "-"})
            continue
        started = time.perf_counter()
        response = client.get(url)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
        first = time.perf_counter() - started
        if response.status_code != 200:
            rows.append({"label": label, "url": url, "status": response.status_code})
            continue
        times, queries = [], 0
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                if getattr(response, "streaming", False):
                    b"".join(response.streaming_content)
                times.append(time.perf_counter() - started)
            queries = max(queries, len(captured.captured_queries))
        rows.append(
            {
                "label": label,
                "url": url,
                "status": response.status_code,
                "first": first * 1000,
                "median": statistics.median(times) * 1000,
                "max": max(times) * 1000,
                "queries": queries,
            }
        )
    return rows


def print_table(title: str, base: list[dict], big: list[dict] | None, budget: float) -> list[str]:
    print(f"\n{title}")
    head = f"{'page':<48} {'status':>6} {'first':>8} {'median':>8} {'max':>8} {'queries':>7}"
    if big is not None:
        head += f" | {'status':>6} {'first':>8} {'median':>8} {'max':>8} {'queries':>7}"
    print(head)
    print("-" * len(head))
    slow = []

    def cells(row):
        if "median" not in row:
            return f"{row['status']!s:>6} {'':>8} {'':>8} {'':>8} {'':>7}"
        return (
            f"{row['status']!s:>6} {row['first']:>7.0f}ms {row['median']:>6.0f}ms {row['max']:>6.0f}ms "
            f"{row['queries']:>7}"
        )

    for index, row in enumerate(base):
        line = f"{row['label'][:48]:<48} {cells(row)}"
        rows = [row]
        if big is not None:
            other = big[index] if index < len(big) else {"status": "-"}
            line += f" | {cells(other)}"
            rows.append(other)
        flags = [r for r in rows if r.get("median", 0) > budget]
        if flags:
            line += f"  <-- over {budget:.0f} ms"
            slow.append(row["label"])
        print(line)
    return slow


# --- bulk data -------------------------------------------------------------------------------------------------


def _column_defaults(model, given: dict[str, str]) -> tuple[list[str], list[str], list]:
    """Columns, SQL expressions and parameters for every concrete field: ``given`` SQL or the field's default."""
    from django.db import connection

    columns, expressions, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in given:
            expressions.append(given[field.name])
        else:
            expressions.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    return columns, expressions, params


def bulk_customers(merchant, target: int) -> int:
    from django.db import connection

    from customers.models import Customer

    existing = Customer.objects.filter(merchant=merchant).count()
    missing = max(0, target - existing)
    if not missing:
        return 0
    given = {
        "merchant": str(merchant.pk),
        "external_id": "'cus_bulk_' || lpad(g::text, 6, '0')",
        "name": "'Bulk Customer ' || lpad(g::text, 6, '0')",
        "email": "'billing@bulk' || g || '.example'",
        "currency": "'USD'",
        "country": "(ARRAY['US', 'GB', 'CA', 'AU'])[1 + g %% 4]",
        "metadata": "jsonb_build_object('segment', (ARRAY['smb', 'mid-market', 'enterprise'])[1 + g %% 3])",
        "created_at": "now() - make_interval(days => 120)",
        "updated_at": "now()",
    }
    columns, expressions, params = _column_defaults(Customer, given)
    sql = (
        f"INSERT INTO {Customer._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM generate_series(1, %s) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, missing])
    return missing


def bulk_events(merchant, target: int) -> int:
    """Random events over the last 92 days, skewed towards the first customers (the demo's own come first)."""
    from django.db import connection

    from metering.models import Event

    existing = Event.objects.filter(merchant=merchant).count()
    missing = max(0, target - existing)
    if not missing:
        return 0
    customer_table = merchant.customers.model._meta.db_table
    # r picks the code, u the customer and values, t the time: each an independent uniform draw.
    properties = (
        "CASE WHEN s.r < 0.85 THEN jsonb_build_object("
        "'user', 'u-' || lpad((1 + floor(s.v * 25))::int::text, 3, '0'), "
        "'region', (ARRAY['eu', 'us', 'ap', 'sa'])[1 + floor(s.v * 4)::int], "
        "'endpoint', (ARRAY['/v1/search', '/v1/items', '/v1/orders'])[1 + floor(s.u * 3)::int], 'status', 200) "
        "WHEN s.r < 0.90 THEN jsonb_build_object('gb', round((10 + s.v * 500)::numeric, 2)::text) "
        "WHEN s.r < 0.95 THEN jsonb_build_object('hours', round((0.25 + s.v * 6)::numeric, 2)::text, "
        "'instance', 'small') "
        "WHEN s.r < 0.99 THEN jsonb_build_object('amount', round((5 + s.v * 200)::numeric, 2)::text, "
        "'currency', 'USD', 'status', CASE WHEN s.v < 0.06 THEN 'failed' ELSE 'succeeded' END) "
        "ELSE jsonb_build_object('format', 'csv') END"
    )
    code = (
        "CASE WHEN s.r < 0.85 THEN 'api_call' WHEN s.r < 0.90 THEN 'storage' WHEN s.r < 0.95 THEN 'compute' "
        "WHEN s.r < 0.99 THEN 'payment' ELSE 'export' END"
    )
    timestamp = "now() - make_interval(secs => 60 + s.t * 92 * 86400)"
    given = {
        "merchant": str(merchant.pk),
        "customer": "c.ids[1 + floor(power(s.u, 2) * c.n)::int]",
        "transaction_id": "'bulk-' || s.g",
        "code": code,
        "timestamp": timestamp,
        "properties": properties,
        "subscription_external_id": "''",
        "received_at": f"{timestamp} + make_interval(secs => 30)",
    }
    columns, expressions, params = _column_defaults(Event, given)
    sql = (
        f"INSERT INTO {Event._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} "
        f"FROM (SELECT g, random() AS r, random() AS u, random() AS v, random() AS t "
        f"      FROM generate_series(1, %s) AS g) AS s, "
        f"     (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM {customer_table} "
        f"      WHERE merchant_id = %s) AS c"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(sql, [*params, missing, merchant.pk])
    return missing


def rebuild_state(merchant) -> None:
    from catalog.models import Metric
    from metering.services import event_counts_rebuild, metric_state_rebuild

    for metric in Metric.objects.filter(merchant=merchant).order_by("pk"):
        metric_state_rebuild(metric=metric, force=True)
    event_counts_rebuild(merchant=merchant)


@contextlib.contextmanager
def _static_storage(static: str):
    """Production's manifest storage, collected to ``static``; the plain storage (reported) if collecting fails."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    try:
        call_command("collectstatic", verbosity=0, interactive=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0]
        print(f"WARNING: collectstatic failed ({type(exc).__name__}: {first}); measuring with plain static storage")
        plain = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(STORAGES=plain):
            yield
        return
    yield


# --- main ------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--keep-db", action="store_true", help="Keep the database at the end")
    parser.add_argument(
        "--reuse-db", action="store_true", help="Reuse a database kept by --keep-db (skips creating and seeding it)"
    )
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/pages.py needs PostgreSQL: set DATABASE_URL=postgres://…")

    if not args.reuse_db:
        recreate_database(url)
    media = tempfile.mkdtemp(prefix="atlas-pages-media-")
    static = tempfile.mkdtemp(prefix="atlas-pages-static-")
    setup_django(url, media)
    # Method Not Allowed (POST-only action URLs) and Bad Request are results in the table, not log noise.
    logging.getLogger("django.request").setLevel(logging.ERROR)
    try:
        return run(args, url, static)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_database(url)


def run(args, url: str, static: str) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings

    from atlas.models import Merchant
    from billing.demo import demo_seed
    from customers.models import Customer
    from metering.models import Event

    clock = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    merchant = Merchant.objects.filter(memberships__user__username=EMAIL).first() if args.reuse_db else None
    merchant = merchant or demo_seed(email=EMAIL, password=PASSWORD, scale=1.0)
    print(
        f"demo ready in {time.perf_counter() - clock:.1f} s: "
        f"{Customer.objects.filter(merchant=merchant).count():,} customers, "
        f"{Event.objects.filter(merchant=merchant).count():,} events"
    )

    with override_settings(STATIC_ROOT=static), _static_storage(static):
        client = Client()
        if not client.login(username=EMAIL, password=PASSWORD):
            raise SystemExit("could not log in")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        urls = cockpit_urls(merchant)
        baseline = measure(client, urls, args.repeat)

        clock = time.perf_counter()
        added_customers = bulk_customers(merchant, args.customers)
        added_events = bulk_events(merchant, args.events)
        loaded = time.perf_counter() - clock
        clock = time.perf_counter()
        rebuild_state(merchant)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"bulk: +{added_customers:,} customers, +{added_events:,} events in {loaded:.1f} s; "
            f"usage state rebuilt and analyzed in {time.perf_counter() - clock:.1f} s "
            f"({Customer.objects.filter(merchant=merchant).count():,} customers, "
            f"{Event.objects.filter(merchant=merchant).count():,} events)"
        )
        big = measure(client, cockpit_urls(merchant), args.repeat)

    title = (
        f"Cockpit pages on PostgreSQL, DEBUG=0: first request, then median / max of {args.repeat} "
        f"(left: seeded demo; right: {args.customers:,} customers, {args.events:,} events)"
    )
    slow = print_table(title, baseline, big, args.budget_ms)
    measured = [row for row in baseline + big if "median" in row]
    print(
        f"\n{len(measured)} measurements; {len(slow)} page(s) over {args.budget_ms:.0f} ms"
        + (f": {', '.join(slow)}" if slow else "")
    )
    print(f"database: {url}{' (kept)' if args.keep_db else ' (dropped)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
