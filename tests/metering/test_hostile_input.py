"""Hostile input at ingestion (issue #14): text no database can store, numbers billing cannot hold, bodies
over the size limits. Each is a 4xx naming the field and the reason, and stores nothing."""

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from atlas.api.authentication import INGEST_KEYS
from catalog.models import Metric
from customers.models import Customer
from metering.aggregation import Usage, aggregate
from metering.ingestion.store import EventResult, events_store
from metering.ingestion.validation import BATCH_MAX_BODY_BYTES, PROPERTIES_MAX_BYTES, validate_event
from metering.models import Event, EventCount, UsageBucket
from metering.selectors import current_usage
from tests.metering.conftest import make_customer, make_metric
from tests.metering.test_ingest_fast_path import wsgi

SURROGATE = "must not contain unpaired surrogates (U+D800 to U+DFFF): they are not Unicode text"
TOO_BIG = "must be a number between -10^15 and 10^15 (exclusive): larger values cannot be billed"
NOT_FINITE = "must be a finite number: NaN and Infinity cannot be billed"
NUL_OR_SEPARATOR = "must not contain NUL or unit-separator characters"
NOT_A_TIME = "is not an ISO 8601 timestamp or epoch seconds"


def event(**fields):
    body = {"transaction_id": "tx-1", "customer": "cus_1", "code": "api_call"}
    body.update(fields)
    return body


def post(api, path, body):
    return api.post(path, data=json.dumps(body), content_type="application/json")


def assert_nothing_stored():
    assert Event.objects.count() == 0
    assert EventCount.objects.count() == 0
    assert UsageBucket.objects.count() == 0


def too_large(message):
    return {"type": "payload_too_large", "message": message, "fields": {}}


def assert_400(response, fields):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert error["fields"] == fields


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    INGEST_KEYS.clear()
    yield
    INGEST_KEYS.clear()


@pytest.mark.django_db
class TestText:
    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            ({"transaction_id": "poison\ud800"}, {"transaction_id": SURROGATE}),
            ({"code": "api_\udfffcall"}, {"code": SURROGATE}),
            ({"customer": "\udc00cus_1"}, {"customer": SURROGATE}),
            ({"subscription": "sub_\ud800"}, {"subscription": SURROGATE}),
            ({"properties": {"region": "eu\ud800"}}, {"properties.region": SURROGATE}),
            ({"properties": {"region\ud800": "eu"}},
             {"properties": "property names must not contain NUL characters or unpaired surrogates"}),
            ({"properties": {"re\x00gion": "eu"}},
             {"properties": "property names must not contain NUL characters or unpaired surrogates"}),
            ({"properties": {"region": "e\x00u"}}, {"properties.region": NUL_OR_SEPARATOR}),
            ({"transaction_id": "tx\x00"}, {"transaction_id": "must not contain NUL characters"}),
            ({"timestamp": "2026-01-01\ud800"}, {"timestamp": f"{'2026-01-01' + chr(0xD800)!r} {NOT_A_TIME}"}),
        ],
    )  # fmt: skip
    def test_a_single_event_with_text_no_database_can_store_is_a_400_naming_the_field(
        self, api, merchant, fields, errors
    ):
        make_customer(merchant, "cus_1")
        assert_400(post(api, "/api/v1/events", event(**fields)), errors)
        assert_nothing_stored()

    def test_a_pair_of_surrogates_spelling_one_character_is_text_and_is_stored(self, api, merchant):
        make_customer(merchant, "cus_1")
        raw = '{"transaction_id": "tx-\\ud83d\\ude00", "customer": "cus_1", "code": "api_call"}'
        response = api.post("/api/v1/events", data=raw, content_type="application/json")
        assert response.status_code == 202
        assert Event.objects.get().transaction_id == "tx-\U0001f600"

    def test_a_batch_rejects_the_poisoned_events_by_index_and_stores_the_others(self, api, merchant):
        make_customer(merchant, "cus_1")
        events = [
            event(transaction_id="tx-0"),
            event(transaction_id="poison\ud800"),
            event(transaction_id="tx-2", properties={"region": "eu", "deep": "x\udbff"}),
            event(transaction_id="tx-3", code="c\x00"),
        ]
        response = post(api, "/api/v1/events/batch", {"events": events})
        assert response.status_code == 200
        assert response.json() == {
            "accepted": 1, "duplicates": 0, "rejected": 3,
            "results": [
                {"index": 0, "status": "accepted"},
                {"index": 1, "status": "rejected", "errors": {"events[1].transaction_id": SURROGATE}},
                {"index": 2, "status": "rejected", "errors": {"events[2].properties.deep": SURROGATE}},
                {"index": 3, "status": "rejected", "errors": {"events[3].code": "must not contain NUL characters"}},
            ],
        }  # fmt: skip
        assert list(Event.objects.values_list("transaction_id", flat=True)) == ["tx-0"]

    @pytest.mark.parametrize("name", ["customer", "code"])
    def test_a_nul_in_an_event_list_filter_is_a_400(self, api, name):
        response = api.get(f"/api/v1/events?{name}=cus%00")
        assert_400(response, {name: "must not contain NUL characters"})


@pytest.mark.django_db
class TestNumbers:
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (1e30, TOO_BIG),
            (10**15, TOO_BIG),
            (-(10**15), TOO_BIG),
            (10**40, TOO_BIG),
            (float("nan"), "must be a finite number"),
            (float("inf"), "must be a finite number"),
            ("NaN", NOT_FINITE),
            ("Infinity", NOT_FINITE),
            ("-inf", NOT_FINITE),
        ],
    )
    def test_a_value_billing_cannot_hold_is_a_400_naming_the_property(self, api, merchant, value, reason):
        make_customer(merchant, "cus_1")
        assert_400(post(api, "/api/v1/events", event(properties={"gb": value})), {"properties.gb": reason})
        assert_nothing_stored()

    def test_a_batch_reports_the_value_billing_cannot_hold(self, api, merchant):
        make_customer(merchant, "cus_1")
        events = [event(transaction_id="tx-0", properties={"gb": 1e30}), event(transaction_id="tx-1")]
        report = post(api, "/api/v1/events/batch", {"events": events}).json()
        assert report["results"] == [
            {"index": 0, "status": "rejected", "errors": {"events[0].properties.gb": TOO_BIG}},
            {"index": 1, "status": "accepted"},
        ]
        assert list(Event.objects.values_list("transaction_id", flat=True)) == ["tx-1"]

    def test_values_just_inside_the_bound_are_summed_exactly(self, api, merchant):
        customer = make_customer(merchant, "cus_1")
        metric = make_metric(merchant, "api_call", aggregation=Metric.Aggregation.SUM, field="gb")
        start = timezone.now() - timedelta(hours=1)
        current_usage(metric=metric, customer_id=customer.pk, start=start, end=timezone.now())  # state is live
        values = [999_999_999_999_999, "999999999999999", -999_999_999_999_999]
        for n, value in enumerate(values):
            response = post(api, "/api/v1/events", event(transaction_id=f"tx-{n}", properties={"gb": value}))
            assert response.status_code == 202
        end = timezone.now() + timedelta(seconds=1)
        expected = {(): Usage(Decimal("999999999999999"), 3)}
        assert aggregate(metric=metric, customer_id=customer.pk, start=start, end=end) == expected
        assert current_usage(metric=metric, customer_id=customer.pk, start=start, end=end) == expected

    def test_a_digit_string_past_the_bound_is_an_identifier_not_a_quantity(self, api, merchant):
        customer = make_customer(merchant, "cus_1")
        total = make_metric(merchant, "total", event_codes=["api_call"], aggregation="sum", field="user")
        users = make_metric(merchant, "users", event_codes=["api_call"], aggregation="unique_count", field="user")
        snowflake = "1234567890123456789"
        assert post(api, "/api/v1/events", event(properties={"user": snowflake})).status_code == 202
        start, end = timezone.now() - timedelta(hours=1), timezone.now() + timedelta(seconds=1)
        assert aggregate(metric=total, customer_id=customer.pk, start=start, end=end) == {(): Usage(Decimal(0), 0)}
        assert aggregate(metric=users, customer_id=customer.pk, start=start, end=end) == {(): Usage(Decimal(1), 1)}


@pytest.mark.django_db
class TestSizes:
    def test_properties_of_exactly_the_limit_are_accepted(self, api, merchant):
        make_customer(merchant, "cus_1")
        filler = "x" * (PROPERTIES_MAX_BYTES - len('{"note":""}'))
        assert post(api, "/api/v1/events", event(properties={"note": filler})).status_code == 202

    def test_properties_one_byte_over_the_limit_are_a_400(self, api, merchant):
        make_customer(merchant, "cus_1")
        filler = "é" * ((PROPERTIES_MAX_BYTES - len('{"note":""}') + 1) // 2)  # 2 bytes each in UTF-8: 4,097 in all
        response = post(api, "/api/v1/events", event(properties={"note": filler}))
        assert_400(response, {"properties": "must be at most 4,096 bytes as compact JSON (UTF-8)"})
        assert_nothing_stored()

    def test_a_single_event_body_over_the_limit_is_a_413_naming_it(self, api, merchant):
        make_customer(merchant, "cus_1")
        body = json.dumps(event(padding="x" * 2_621_440))
        response = api.post("/api/v1/events", data=body, content_type="application/json")
        assert response.status_code == 413
        assert response.json() == {"error": too_large("The request body is larger than 2,621,440 bytes.")}
        assert_nothing_stored()

    def test_a_batch_body_over_the_limit_is_a_413_naming_it(self, api, merchant):
        make_customer(merchant, "cus_1")
        body = json.dumps({"events": [event()], "padding": "x" * BATCH_MAX_BODY_BYTES})
        response = api.post("/api/v1/events/batch", data=body, content_type="application/json")
        assert response.status_code == 413
        assert response.json()["error"] == too_large("The request body is larger than 10,485,760 bytes.")
        assert_nothing_stored()

    def test_any_other_api_body_over_the_limit_is_a_413_naming_it(self, api):
        body = json.dumps({"external_id": "cus_big", "name": "x" * 2_621_440})
        response = api.post("/api/v1/customers", data=body, content_type="application/json")
        assert response.status_code == 413
        assert response.json()["error"] == too_large("The request body is larger than 2,621,440 bytes.")
        assert Customer.objects.count() == 0

    def test_options_on_the_batch_endpoint_describes_it(self, api):
        response = api.options("/api/v1/events/batch")
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "Event Batch"
        assert list(body["actions"]["POST"]) == ["events"]
        assert body["actions"]["POST"]["events"]["required"] is True


@pytest.mark.django_db(transaction=True)
class TestSizesOnTheShortPath:
    def test_a_batch_over_the_limit_is_a_json_413_on_the_wsgi_short_path(self, tenant):
        make_customer(tenant.merchant, "cus_1")
        body = json.dumps({"events": [event()], "padding": "x" * BATCH_MAX_BODY_BYTES}).encode()
        status, headers, content = wsgi("POST", "/api/v1/events/batch", body, tenant.key)
        assert (status, headers["Content-Type"]) == (413, "application/json")
        assert json.loads(content)["error"]["message"] == "The request body is larger than 10,485,760 bytes."
        assert_nothing_stored()

    def test_a_thousand_events_of_the_largest_size_fit_in_a_batch(self, tenant):
        # Every string at its 255-character maximum in 4-byte characters, properties at their maximum.
        wide = "\U0001f600" * 254
        make_customer(tenant.merchant, wide + "c")
        filler = "x" * (PROPERTIES_MAX_BYTES - len('{"note":""}'))
        events = [
            {"transaction_id": wide[: 255 - len(str(n))] + str(n),
             "customer": wide + "c", "code": wide + "k", "subscription": wide + "s",
             "timestamp": "2024-06-01T00:00:00.000000+00:00", "properties": {"note": filler}}
            for n in range(1000)
        ]  # fmt: skip
        body = json.dumps({"events": events}, ensure_ascii=False, separators=(",", ":")).encode()
        assert len(body) > 8_000_000
        status, _, content = wsgi("POST", "/api/v1/events/batch", body, tenant.key)
        assert status == 200, content[:300]
        report = json.loads(content)
        assert (report["accepted"], report["rejected"]) == (1000, 0)
        assert Event.objects.count() == 1000


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
class TestPoisonOnPostgres:
    """A poisoned event must leave no transaction open and no lock held: the requests after it, of the same
    merchant and of others, on the same worker and concurrently, are answered as if it never came."""

    @pytest.fixture(autouse=True)
    def _postgres(self):
        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL for real concurrency")

    def test_a_poisoned_request_then_40_concurrent_valid_ones_of_two_merchants_all_succeed(self, tenant, other_tenant):
        for merchant in (tenant.merchant, other_tenant.merchant):
            make_customer(merchant, "cus_1")
            make_metric(merchant, "api_call", aggregation=Metric.Aggregation.SUM, field="n")
        poisons = [
            event(transaction_id="poison\ud800"),
            event(transaction_id="poison-code", code="api_\ud800"),
            event(transaction_id="poison-prop", properties={"n": 1, "region": "\udfff"}),
        ]
        for body in poisons:
            status, _, content = wsgi("POST", "/api/v1/events", json.dumps(body).encode(), tenant.key)
            assert status == 400, content
        status, _, content = wsgi("POST", "/api/v1/events/batch", json.dumps({"events": poisons}).encode(), tenant.key)
        assert (status, json.loads(content)["rejected"]) == (200, 3)

        answers = [None] * 40

        def send(n):
            try:
                key = (tenant, other_tenant)[n % 2].key
                body = json.dumps(event(transaction_id=f"tx-{n}", properties={"n": n})).encode()
                answers[n] = wsgi("POST", "/api/v1/events", body, key)[:1]
            finally:
                close_old_connections()
                connection.close()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert answers == [(202,)] * 40
        for merchant, parity in ((tenant.merchant, 0), (other_tenant.merchant, 1)):
            stored = sorted(Event.objects.filter(merchant=merchant).values_list("transaction_id", flat=True))
            assert stored == sorted(f"tx-{n}" for n in range(parity, 40, 2))
        assert not Event.objects.filter(transaction_id__startswith="poison").exists()

    def test_a_store_failing_outside_the_database_rolls_back_and_releases_the_state_lock(self, tenant, other_tenant):
        """The store's backstop: a row that slipped past validation fails in psycopg (which cannot encode it)
        after BEGIN and the lock were queued; the transaction still ends and nothing is kept."""
        make_customer(tenant.merchant, "cus_1")
        row, errors = validate_event(event(), timezone.now())
        assert errors == {}
        row.transaction_id = "poison\ud800"
        with pytest.raises(UnicodeEncodeError):
            events_store(merchant=tenant.merchant, rows=[row], results=[EventResult(0, "rejected")])
        assert connection.connection is None or not connection.in_atomic_block
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            assert cursor.fetchone() == (0,)
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'")
            assert cursor.fetchone() == (0,)
        assert Event.objects.count() == 0
        row.transaction_id = "tx-1"
        results = [EventResult(0, "rejected")]
        events_store(merchant=tenant.merchant, rows=[row], results=results)
        assert results[0].status == "accepted"
        assert list(Event.objects.values_list("transaction_id", flat=True)) == ["tx-1"]

    def test_atlas_connections_end_a_transaction_left_idle(self):
        with connection.cursor() as cursor:
            cursor.execute("SHOW idle_in_transaction_session_timeout")
            assert cursor.fetchone() == ("1min",)
