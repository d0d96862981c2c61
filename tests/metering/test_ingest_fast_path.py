"""The ingestion hot path: the WSGI short path, cached API keys confirmed in the ingest transaction, and
group commit of concurrent single events (docs/metering.md, "The single-event path")."""

import io
import json
import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from atlas.api.authentication import INGEST_KEYS
from atlas.models import ApiKey
from atlas.services import api_key_revoke
from atlas.wsgi import application
from catalog.models import Metric
from metering import grouping
from metering.grouping import SINGLE_EVENTS
from metering.ingestion.validation import validate_event
from metering.models import Event, EventCount
from metering.selectors import current_usage
from tests.metering.conftest import make_customer, make_metric


def wsgi(method, path, body=b"", key=None, host="127.0.0.1"):
    """One request through ``atlas.wsgi.application``, as gunicorn sends it: (status, headers, body)."""
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json", "HTTP_HOST": host,
    }  # fmt: skip
    if key:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    started = []
    result = application(environ, lambda status, headers: started.append((status, dict(headers))))
    try:
        content = b"".join(result)
    finally:
        result.close()
    status, headers = started[0]
    return int(status.split()[0]), headers, content


def event(n, **fields):
    return json.dumps({"transaction_id": f"tx-{n}", "customer": "cus_1", "code": "api_call", **fields}).encode()


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    INGEST_KEYS.clear()
    yield
    INGEST_KEYS.clear()


@pytest.mark.django_db(transaction=True)
class TestWsgiShortPath:
    def test_a_single_event_is_stored_with_the_api_headers(self, tenant):
        make_customer(tenant.merchant, "cus_1")
        status, headers, body = wsgi("POST", "/api/v1/events", event(1, properties={"bytes": 10}), tenant.key)
        assert (status, json.loads(body)) == (202, {"status": "accepted"})
        assert headers["Content-Type"] == "application/json"
        assert headers["Content-Length"] == str(len(body))
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        stored = Event.objects.get()
        assert (stored.transaction_id, stored.customer.external_id) == ("tx-1", "cus_1")
        assert stored.properties == {"bytes": 10}
        assert wsgi("POST", "/api/v1/events/", event(1), tenant.key)[:1] == (200,)  # the trailing slash too
        assert Event.objects.count() == 1

    def test_a_batch_reports_by_index(self, tenant):
        make_customer(tenant.merchant, "cus_1")
        body = json.dumps({"events": [json.loads(event(1)), json.loads(event(2, timestamp="nope"))]}).encode()
        status, _, content = wsgi("POST", "/api/v1/events/batch", body, tenant.key)
        assert status == 200
        assert json.loads(content) == {
            "accepted": 1, "duplicates": 0, "rejected": 1,
            "results": [
                {"index": 0, "status": "accepted"},
                {"index": 1, "status": "rejected",
                 "errors": {"events[1].timestamp": "'nope' is not an ISO 8601 timestamp or epoch seconds"}},
            ],
        }  # fmt: skip

    def test_errors_keep_the_api_shape(self, tenant):
        make_customer(tenant.merchant, "cus_1")
        status, _, content = wsgi("POST", "/api/v1/events", b"{", tenant.key)
        assert status == 400
        assert json.loads(content)["error"]["fields"] == {"body": "must be a JSON document"}
        status, headers, content = wsgi("POST", "/api/v1/events", event(1))
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Bearer realm="atlas"'
        assert json.loads(content)["error"] == {
            "type": "authentication_error", "message": "Authentication credentials were not provided.", "fields": {},
        }  # fmt: skip
        status, _, content = wsgi("POST", "/api/v1/events", event(1), "atlas_not-a-key")
        assert (status, json.loads(content)["error"]["message"]) == (401, "Unknown API key.")
        assert not Event.objects.exists()

    def test_a_host_outside_allowed_hosts_is_refused(self, tenant):
        make_customer(tenant.merchant, "cus_1")
        status, _, _ = wsgi("POST", "/api/v1/events", event(1), tenant.key, host="evil.test")
        assert status == 400
        assert not Event.objects.exists()

    def test_other_methods_and_paths_go_through_django(self, tenant):
        make_customer(tenant.merchant, "cus_1")
        wsgi("POST", "/api/v1/events", event(1), tenant.key)
        status, headers, content = wsgi("GET", "/api/v1/events", key=tenant.key)
        assert status == 200
        assert [item["transaction_id"] for item in json.loads(content)["results"]] == ["tx-1"]
        assert wsgi("POST", "/api/v1/events/other", event(2), tenant.key)[0] == 404
        assert wsgi("PUT", "/api/v1/events", event(2), tenant.key)[0] == 405


class TestCachedKeys:
    """A key served from this process's cache is confirmed in the ingest transaction."""

    def test_a_key_revoked_after_it_was_cached_stores_nothing(self, tenant, api):
        make_customer(tenant.merchant, "cus_1")
        assert api.post("/api/v1/events", data=event(1), content_type="application/json").status_code == 202
        api_key_revoke(key=ApiKey.objects.get(merchant=tenant.merchant))
        for path, body in [("/api/v1/events", event(2)), ("/api/v1/events/batch", b'{"events": [%s]}' % event(3))]:
            response = api.post(path, data=body, content_type="application/json")
            assert response.status_code == 401
            assert response.json()["error"]["message"] == "This API key has been revoked."
        assert list(Event.objects.values_list("transaction_id", flat=True)) == ["tx-1"]
        assert sum(EventCount.objects.values_list("count", flat=True)) == 1

    def test_a_deleted_key_is_unknown(self, tenant, api):
        make_customer(tenant.merchant, "cus_1")
        assert api.post("/api/v1/events", data=event(1), content_type="application/json").status_code == 202
        ApiKey.objects.filter(merchant=tenant.merchant).delete()
        response = api.post("/api/v1/events", data=event(2), content_type="application/json")
        assert (response.status_code, response.json()["error"]["message"]) == (401, "Unknown API key.")
        assert Event.objects.count() == 1

    def test_a_cached_key_is_read_again_after_its_ttl(self, tenant, monkeypatch):
        key, cached = INGEST_KEYS.authenticate(tenant.key)
        assert cached is False
        assert INGEST_KEYS.authenticate(tenant.key) == (key, True)
        monkeypatch.setattr(INGEST_KEYS, "ttl", 0)
        assert INGEST_KEYS.authenticate(tenant.key)[1] is False


def _row(n, merchant_customer="cus_1", **fields):
    payload = {"transaction_id": f"tx-{n}", "customer": merchant_customer, "code": "api_call", **fields}
    row, errors = validate_event(payload, timezone.now())
    assert errors == {}
    return row


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
class TestGroupCommit:
    """Real threads on PostgreSQL: the first submitter stores while the others queue, then the next leader
    stores every queued event in one transaction."""

    @pytest.fixture(autouse=True)
    def _postgres(self):
        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL for real concurrency")

    def run(self, monkeypatch, submissions, fail_groups_over=None):
        """Submit each (merchant, row, key) from its own thread while the first group is held open; returns
        the outcomes in submission order and the sizes of the groups stored."""
        first_started, release = threading.Event(), threading.Event()
        sizes = []
        real = grouping.events_store

        def store(**kwargs):
            sizes.append(len(kwargs["rows"]))
            if len(sizes) == 1:
                first_started.set()
                assert release.wait(10)
            if fail_groups_over is not None and len(kwargs["rows"]) > fail_groups_over:
                raise RuntimeError("this group fails")
            return real(**kwargs)

        monkeypatch.setattr(grouping, "events_store", store)
        outcomes = [None] * len(submissions)

        def submit(index):
            try:
                outcomes[index] = SINGLE_EVENTS.submit(*submissions[index])
            except Exception as exc:  # the request's own failure: its thread answers for it (a 500)
                outcomes[index] = exc
            finally:
                close_old_connections()
                connection.close()

        threads = [threading.Thread(target=submit, args=(0,))]
        threads[0].start()
        assert first_started.wait(10)
        for index in range(1, len(submissions)):
            threads.append(threading.Thread(target=submit, args=(index,)))
            threads[-1].start()
        while len(SINGLE_EVENTS._queue) < len(submissions) - 1:  # every other event is queued behind the first
            threading.Event().wait(0.005)
        release.set()
        for thread in threads:
            thread.join(10)
        return outcomes, sizes

    def test_queued_events_are_stored_in_one_transaction_exactly_once(self, tenant, monkeypatch):
        merchant = tenant.merchant
        customer = make_customer(merchant, "cus_1")
        metric = make_metric(merchant, "api_call", aggregation=Metric.Aggregation.SUM, field="bytes")
        start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        current_usage(metric=metric, customer_id=customer.pk, start=start, end=timezone.now())
        rows = [_row(0, properties={"bytes": 1})]
        rows += [_row(n, properties={"bytes": n}) for n in range(1, 6)]
        rows += [_row(3, properties={"bytes": 1000}), _row(7, "ghost")]  # a concurrent duplicate, an unknown customer
        outcomes, sizes = self.run(monkeypatch, [(merchant, row, None) for row in rows])
        assert sizes == [1, 7]
        assert [outcome.result.status for outcome in outcomes] == ["accepted"] * 6 + ["duplicate", "rejected"]
        assert outcomes[-1].result.errors == {"customer": "no customer with external_id 'ghost'"}
        assert sorted(Event.objects.values_list("transaction_id", flat=True)) == [f"tx-{n}" for n in range(6)]
        end = timezone.now()
        assert current_usage(metric=metric, customer_id=customer.pk, start=start, end=end)[()].quantity == Decimal(16)

    def test_a_revoked_key_in_a_group_refuses_only_its_own_event(self, tenant, other_tenant, monkeypatch):
        make_customer(tenant.merchant, "cus_1")
        make_customer(other_tenant.merchant, "cus_1")
        good = ApiKey.objects.get(merchant=tenant.merchant)
        revoked = ApiKey.objects.create(merchant=tenant.merchant, name="old", prefix="old", hashed_key="x" * 64)
        api_key_revoke(key=revoked)
        other = ApiKey.objects.get(merchant=other_tenant.merchant)
        submissions = [
            (tenant.merchant, _row(0), good),
            (tenant.merchant, _row(1), revoked),
            (tenant.merchant, _row(2), good),
            (other_tenant.merchant, _row(1), other),
        ]
        outcomes, sizes = self.run(monkeypatch, submissions)
        assert [outcome.key_current for outcome in outcomes] == [True, False, True, True]
        assert outcomes[1].result is None
        assert [outcome.result.status for outcome in outcomes if outcome.result] == ["accepted"] * 3
        # the second group: Acme's two (refused for the revoked key), Acme's good one again, Globex's one
        assert sizes == [1, 2, 1, 1]
        stored = sorted(Event.objects.values_list("merchant__name", "transaction_id"))
        assert stored == [("Acme Cloud", "tx-0"), ("Acme Cloud", "tx-2"), ("Globex", "tx-1")]

    def test_a_failing_group_is_stored_again_event_by_event(self, tenant, monkeypatch):
        make_customer(tenant.merchant, "cus_1")
        rows = [_row(n) for n in range(4)]
        outcomes, sizes = self.run(monkeypatch, [(tenant.merchant, row, None) for row in rows], fail_groups_over=1)
        assert sizes == [1, 3, 1, 1, 1]
        assert [outcome.result.status for outcome in outcomes] == ["accepted"] * 4
        assert Event.objects.count() == 4

    def test_an_event_failing_in_the_store_fails_alone_and_releases_the_others(self, tenant, other_tenant, monkeypatch):
        """A row that slipped past validation (psycopg cannot encode it) fails its group after BEGIN and the
        state lock were queued: the group is rolled back, every other event of it is stored alone, and only
        the poisoned request fails."""
        make_customer(tenant.merchant, "cus_1")
        make_customer(other_tenant.merchant, "cus_1")
        poisoned = _row(1)
        poisoned.transaction_id = "poison\ud800"
        submissions = [(tenant.merchant, _row(0), None), (tenant.merchant, poisoned, None)]
        submissions += [((tenant, other_tenant)[n % 2].merchant, _row(n), None) for n in range(2, 8)]
        outcomes, sizes = self.run(monkeypatch, submissions)
        assert sizes == [1, 4, 3, 1, 1, 1, 1]  # Acme's group of 4 failed: each of its events alone
        assert isinstance(outcomes[1], UnicodeEncodeError)
        assert [outcome.result.status for n, outcome in enumerate(outcomes) if n != 1] == ["accepted"] * 7
        stored = sorted(Event.objects.values_list("merchant__name", "transaction_id"))
        assert stored == [("Acme Cloud", f"tx-{n}") for n in (0, 2, 4, 6)] + [("Globex", f"tx-{n}") for n in (3, 5, 7)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'")
            assert cursor.fetchone() == (0,)

    def test_a_caller_inside_a_transaction_stores_alone(self, tenant, monkeypatch):
        make_customer(tenant.merchant, "cus_1")
        from django.db import transaction

        with transaction.atomic():
            outcome = SINGLE_EVENTS.submit(tenant.merchant, _row(1))
            assert SINGLE_EVENTS._queue == []
        assert outcome.result.status == "accepted"
        assert Event.objects.count() == 1
