"""Event ingestion throughput on PostgreSQL, through the production server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_bench .venv/bin/python bench/ingest.py
    [--events 1000000] [--batch 1000] [--clients 4] [--single 20000] [--single-clients 12] [--keep-db]

Drops and recreates its own database (``DATABASE_URL``'s name + ``_ingest``), migrates it, creates a
merchant with 1,000 customers and two metrics whose pre-aggregated state is
live (so every insert also updates usage buckets), then starts gunicorn with the
production settings (``DEBUG=0``, ``atlas/gunicorn.conf.py``, 2 workers) on a
free port of 127.0.0.1 and drives it from this process with the standard
library only (keep-alive sockets in threads sending prebuilt requests, which
costs the shared CPU a third of what ``http.client`` does; requests are built
before the clock starts). It prints:

- batch ingestion: events/s over ``--events`` events in batches of ``--batch``
  (random customers, codes and properties), and the ratio against a ``COPY`` of
  the very same rows into a bare table with the same indexes, measured in the
  same run on the same database (the ceiling);
- the single-event endpoint (after a ``VACUUM ANALYZE`` of the events just
  written): events/s, p50 and p99 latency over ``--single`` events sent by
  ``--single-clients`` concurrent clients, and the mean size of the group
  commits the workers made (from their log).

Every loop is bounded; the server is stopped and the database dropped at the end
(``--keep-db`` keeps it).
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/atlas_bench"
CUSTOMERS = 1000
REGIONS = ("eu", "us", "ap", "sa", "af")
LATE_SHARE = 0.05
ENDPOINTS = ("/v1/search", "/v1/items", "/v1/users", "/v1/orders", "/v1/reports", "/v1/export")


def own_database(url: str, suffix: str) -> str:
    """The URL of this benchmark's own database (``atlas_bench`` → ``atlas_bench_ingest``): dropping and
    recreating it never disturbs another benchmark or test run using the named one."""
    parsed = urlparse(url)
    return parsed._replace(path=f"/{parsed.path.lstrip('/')}_{suffix}").geturl()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

def prepare_database(script: str, suffix: str) -> tuple[str, dict]:
    """The benchmark's own PostgreSQL database, recreated and migrated, with Django set up on it and the
    production settings (DEBUG off) in the environment; returns its URL and the environment for servers."""
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"{script} measures PostgreSQL: set DATABASE_URL=postgres://...")
    url = own_database(url, suffix)
    print(load())
    # Production settings, but plain HTTP on loopback: no redirect to HTTPS (DEBUG=0 turns it on by default).
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "SECRET_KEY": "bench", "LOG_LEVEL": "ERROR",
           "SECURE_SSL_REDIRECT": "0"}  # fmt: skip
    settings = ("DATABASE_URL", "DEBUG", "SECRET_KEY", "LOG_LEVEL", "SECURE_SSL_REDIRECT")
    os.environ.update({key: env[key] for key in settings})
    print(f"database {urlparse(url).path.lstrip('/')}: recreating and migrating")
    recreate_database(url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v0"], cwd=ROOT, env=env, check=True
    )
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atlas.settings")
    import django

    django.setup()
    return url, env



def drop_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with the production configuration, in its own process group."""

    def __init__(self, env: dict, port: int):
        self.port = port
        self.log = open(f"/tmp/atlas-bench-gunicorn-{port}.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-c", "atlas/gunicorn.conf.py", "atlas.wsgi"],
            cwd=ROOT,
            env={**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, key: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited early; see {self.log.name}")
            try:
                status, _ = request(self.port, "GET", "/api/v1/merchant", key)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not become ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()

    def group_commits(self) -> tuple[int, int]:
        """(single events, group commits) the workers logged at exit."""
        events = commits = 0
        for match in re.finditer(r"(\d+) single events in (\d+) group commits", Path(self.log.name).read_text()):
            events, commits = events + int(match[1]), commits + int(match[2])
        return events, commits


def request(port: int, method: str, path: str, key: str, body: bytes | None = None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


class Connection:
    """A keep-alive HTTP/1.1 connection that sends prebuilt requests and reads just the status and body.

    The load generator shares the machine's two cores with the server and PostgreSQL, so it should cost
    as little as possible per request: ``http.client`` spends about three times as much.
    """

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def exchange(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(head[9:12]), body

    def _fill(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def raw_request(path: str, key: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def run_clients(port: int, key: str, path: str, bodies: list[bytes], clients: int) -> tuple[float, list[float], dict]:
    """POST every body once from ``clients`` threads on keep-alive connections; wall time, per-request
    latencies and status counts. Requests are built before the clock starts."""
    requests = [raw_request(path, key, body) for body in bodies]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    position = iter(range(len(requests)))

    def worker():
        conn = Connection(port)
        mine, counts = [], {}
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                break
            started = time.perf_counter()
            status, _ = conn.exchange(requests[index])
            mine.append(time.perf_counter() - started)
            counts[status] = counts.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for status, count in counts.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def make_events(count: int, prefix: str, now: datetime, rng: random.Random) -> list[dict]:
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span = int((now - month_start).total_seconds()) - 60
    events = []
    for n in range(count):
        code = "api_call" if rng.random() < 0.8 else "storage"
        properties = {"region": rng.choice(REGIONS)}
        if code == "api_call":
            properties["endpoint"] = rng.choice(ENDPOINTS)
            properties["bytes"] = rng.randint(100, 1_000_000)
        else:
            properties["gb"] = f"{rng.randint(-50, 100) / 4}"
        if rng.random() < LATE_SHARE:  # a late event anywhere in the month so far
            timestamp = month_start + timedelta(seconds=rng.randint(0, max(span, 1)))
        else:  # real-time traffic: stamped within the last hour
            timestamp = now - timedelta(seconds=rng.randint(0, 3600), microseconds=rng.randint(0, 999_999))
        events.append({
            "transaction_id": f"{prefix}-{n}", "customer": f"cus_{rng.randrange(CUSTOMERS):04d}", "code": code,
            "timestamp": timestamp.isoformat(), "properties": properties,
        })  # fmt: skip
    return events


def copy_ceiling(merchant_id: int, customer_ids: dict[str, int], events: list[dict], received_at: datetime) -> float:
    """COPY the same rows into a bare table with metering_event's indexes; seconds taken."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_event")
        cursor.execute(
            "CREATE TABLE bench_copy_event (id bigserial PRIMARY KEY, merchant_id bigint NOT NULL, "
            "customer_id bigint NOT NULL, transaction_id varchar(255) NOT NULL, code varchar(255) NOT NULL, "
            "timestamp timestamptz NOT NULL, properties jsonb NOT NULL, subscription_external_id varchar(255) "
            "NOT NULL, received_at timestamptz NOT NULL)"
        )
        cursor.execute("CREATE UNIQUE INDEX ON bench_copy_event (merchant_id, transaction_id)")
        cursor.execute("CREATE INDEX ON bench_copy_event (customer_id, code, timestamp)")
        cursor.execute("CREATE INDEX ON bench_copy_event (merchant_id, timestamp, id)")
    rows = [
        (merchant_id, customer_ids[e["customer"]], e["transaction_id"], e["code"],
         datetime.fromisoformat(e["timestamp"]), json.dumps(e["properties"]), "", received_at)
        for e in events
    ]  # fmt: skip
    raw = connection.connection
    started = time.perf_counter()
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY bench_copy_event (merchant_id, customer_id, transaction_id, code, timestamp, properties, "
            "subscription_external_id, received_at) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)
    raw.commit()
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy_event")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--single", type=int, default=20_000)
    parser.add_argument("--single-clients", type=int, default=12)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    url, env = prepare_database("bench/ingest.py", "ingest")
    from django.db import connection

    from atlas.services import merchant_create
    from catalog.models import Metric
    from customers.models import Customer
    from metering.aggregation import aggregate
    from metering.models import Event
    from metering.selectors import current_usage

    merchant, _, key = merchant_create(name="Bench", email="bench@atlas.test", password="bench-password-1")
    Customer.objects.bulk_create(
        Customer(merchant=merchant, external_id=f"cus_{n:04d}", name=f"Customer {n}") for n in range(CUSTOMERS)
    )
    customer_ids = dict(Customer.objects.filter(merchant=merchant).values_list("external_id", "id"))
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    metrics = [
        Metric.objects.create(merchant=merchant, code="api_calls", name="API calls", event_codes=["api_call"]),
        Metric.objects.create(
            merchant=merchant,
            code="bytes",
            name="Bytes",
            event_codes=["api_call"],
            aggregation="sum",
            field="bytes",
            group_by=["region"],
        ),  # fmt: skip
        Metric.objects.create(
            merchant=merchant,
            code="storage",
            name="Storage",
            event_codes=["storage"],
            aggregation="weighted_sum",
            field="gb",
        ),  # fmt: skip
    ]
    first = customer_ids["cus_0000"]
    for metric in metrics:  # build the (empty) state so ingestion maintains it from the first event
        current_usage(metric=metric, customer_id=first, start=month_start, end=now)

    rng = random.Random(20260101)
    print(f"generating {args.events:,} events and {args.single:,} single events")
    events = make_events(args.events, "b", now, rng)
    bodies = [json.dumps({"events": events[i : i + args.batch]}).encode() for i in range(0, len(events), args.batch)]
    singles = [json.dumps(event).encode() for event in make_events(args.single, "s", now, rng)]
    connection.close()

    port = free_port()
    server = Server(env, port)
    try:
        server.wait_ready(key)
        # warm both workers up (imports, connections) outside the clock
        warm = [json.dumps({"events": make_events(50, f"w{n}", now, rng)}).encode() for n in range(8)]
        run_clients(port, key, "/api/v1/events/batch", warm, 2)

        print(f"batch ingestion: {len(bodies):,} requests of {args.batch} events, {args.clients} clients")
        elapsed, latencies, statuses = run_clients(port, key, "/api/v1/events/batch", bodies, args.clients)
        batch_rate = args.events / elapsed
        print(f"  statuses {statuses}")
        p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
        print(f"  {args.events:,} events in {elapsed:.1f} s: {batch_rate:,.0f} events/s "
              f"(request p50 {p50:.0f} ms, p99 {p99:.0f} ms)")  # fmt: skip

        # Settle the million rows just written (autovacuum would otherwise start on them mid-measurement).
        import psycopg

        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("VACUUM (ANALYZE) metering_event")
        print(f"single events: {len(singles):,} requests, {args.single_clients} clients")
        elapsed, latencies, statuses = run_clients(port, key, "/api/v1/events", singles, args.single_clients)
        single_rate = len(singles) / elapsed
        print(f"  statuses {statuses}")
        print(f"  {single_rate:,.0f} events/s, p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms")  # fmt: skip
    finally:
        server.stop()
    grouped, commits = server.group_commits()
    if commits:
        print(f"  group commits: {grouped:,} events in {commits:,} commits ({grouped / commits:.2f} per commit)")

    stored = Event.objects.filter(merchant=merchant, transaction_id__startswith="b-").count()
    print(f"stored {stored:,} batch events (expected {args.events:,})")
    sample = customer_ids["cus_0007"]
    for metric in metrics:
        fast = current_usage(metric=metric, customer_id=sample, start=month_start, end=now + timedelta(hours=1))
        raw = aggregate(metric=metric, customer_id=sample, start=month_start, end=now + timedelta(hours=1))
        assert fast == raw, (metric.code, fast, raw)
    print("pre-aggregated state equals raw aggregation for a sample customer: ok")

    print(f"COPY ceiling: the same {args.events:,} rows into a bare table with the same indexes")
    copy_seconds = copy_ceiling(merchant.pk, customer_ids, events, now)
    copy_rate = args.events / copy_seconds
    print(f"  {copy_rate:,.0f} rows/s ({copy_seconds:.1f} s)")
    print()
    print(f"RESULT batch ingestion {batch_rate:,.0f} events/s (target >= 20,000); "
          f"{batch_rate / copy_rate:.2f}x of COPY ({copy_rate:,.0f} rows/s)")  # fmt: skip
    print(load())
    print(f"RESULT single-event endpoint, {args.single_clients} clients: {single_rate:,.0f} events/s "
          f"(target >= 1,000), p99 {percentile(latencies, 0.99) * 1000:.1f} ms (target < 25 ms)")  # fmt: skip
    connection.close()
    if not args.keep_db:
        drop_database(url)


if __name__ == "__main__":
    main()
