"""POST /events, POST /events/batch and GET /events (SPEC §8)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from metering.models import Event
from tests.metering.conftest import make_customer

pytestmark = pytest.mark.django_db


def event(**fields):
    body = {"transaction_id": "tx-1", "customer": "cus_1", "code": "api_call"}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not ...}


def post(api, path, body, **extra):
    return api.post(path, data=json.dumps(body), content_type="application/json", **extra)


def assert_validation(response, fields: dict):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert error["fields"] == fields
    return error


class TestSingleEvent:
    def test_it_accepts_an_event_with_202(self, api, customer):
        response = post(api, "/api/v1/events", event(properties={"region": "eu", "bytes": 1024, "ok": True}))
        assert response.status_code == 202
        assert response.json() == {"status": "accepted"}
        stored = Event.objects.get()
        assert (stored.transaction_id, stored.code, stored.customer_id) == ("tx-1", "api_call", customer.pk)
        assert stored.properties == {"region": "eu", "bytes": 1024, "ok": True}
        assert stored.subscription_external_id == ""

    def test_a_known_transaction_id_is_a_duplicate_answered_200_and_not_stored_twice(self, api, customer):
        assert post(api, "/api/v1/events", event()).status_code == 202
        response = post(api, "/api/v1/events", event(code="other"))
        assert response.status_code == 200
        assert response.json() == {"status": "duplicate"}
        assert Event.objects.count() == 1
        assert Event.objects.get().code == "api_call"

    def test_the_timestamp_defaults_to_receipt_time(self, api, customer):
        before = timezone.now()
        post(api, "/api/v1/events", event())
        stored = Event.objects.get()
        assert before <= stored.timestamp <= timezone.now()
        assert stored.timestamp == stored.received_at

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00+00:00"),
            ("2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00+00:00"),
            ("2026-03-01T10:00:00.250000", "2026-03-01T10:00:00.250000+00:00"),
            (1772359200, "2026-03-01T10:00:00+00:00"),
            (1772359200.5, "2026-03-01T10:00:00.500000+00:00"),
            ("1772359200", "2026-03-01T10:00:00+00:00"),
        ],
    )
    def test_it_reads_iso_8601_and_epoch_seconds(self, api, customer, value, expected):
        assert post(api, "/api/v1/events", event(timestamp=value)).status_code == 202
        assert Event.objects.get().timestamp.isoformat() == expected

    def test_it_tags_the_event_with_a_subscription(self, api, customer):
        post(api, "/api/v1/events", event(subscription="sub_1"))
        assert Event.objects.get().subscription_external_id == "sub_1"

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            (event(transaction_id=...), {"transaction_id": "is required"}),
            (event(transaction_id=""), {"transaction_id": "must not be empty"}),
            (event(transaction_id="   "), {"transaction_id": "must not be empty"}),
            (event(transaction_id="x" * 256), {"transaction_id": "must be at most 255 characters"}),
            (event(transaction_id=12), {"transaction_id": "must be a string"}),
            (event(customer=...), {"customer": "is required"}),
            (event(customer=""), {"customer": "must not be empty"}),
            (event(code=...), {"code": "is required"}),
            (event(code=None), {"code": "is required"}),
            (event(customer="nobody"), {"customer": "no customer with external_id 'nobody'"}),
            (event(properties=[1, 2]), {"properties": "must be an object"}),
            (event(properties="region=eu"), {"properties": "must be an object"}),
            (
                event(properties={"region": {"name": "eu"}}),
                {"properties.region": "must be a string, number or boolean: nested values are not allowed"},
            ),
            (
                event(properties={"tags": ["a"]}),
                {"properties.tags": "must be a string, number or boolean: nested values are not allowed"},
            ),
            (event(properties={"x": None}), {"properties.x": "must be a string, number or boolean, not null"}),
            (
                event(properties={"x": "a\u0000b"}),
                {"properties.x": "must not contain NUL or unit-separator characters"},
            ),
            (event(transaction_id="a\u0000b"), {"transaction_id": "must not contain NUL characters"}),
            (event(subscription=5), {"subscription": "must be a string"}),
            (event(timestamp="yesterday"), {"timestamp": "'yesterday' is not an ISO 8601 timestamp or epoch seconds"}),
            (
                event(timestamp="2026-02-30T00:00:00Z"),
                {"timestamp": "'2026-02-30T00:00:00Z' is not an ISO 8601 timestamp or epoch seconds"},
            ),
            (event(timestamp=True), {"timestamp": "must be an ISO 8601 string or epoch seconds"}),
            (event(timestamp={"at": 1}), {"timestamp": "must be an ISO 8601 string or epoch seconds"}),
            (event(timestamp=10**20), {"timestamp": "is out of range"}),
            (event(timestamp=-5), {"timestamp": "must not be before 1970-01-01T00:00:00Z"}),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(self, api, customer, body, fields):
        assert_validation(post(api, "/api/v1/events", body), fields)
        assert not Event.objects.exists()

    def test_it_rejects_a_timestamp_more_than_5_minutes_in_the_future(self, api, customer):
        too_far = (timezone.now() + timedelta(minutes=6)).isoformat()
        assert_validation(
            post(api, "/api/v1/events", event(timestamp=too_far)),
            {"timestamp": "must not be more than 5 minutes in the future"},
        )
        near = (timezone.now() + timedelta(minutes=4)).isoformat()
        assert post(api, "/api/v1/events", event(timestamp=near)).status_code == 202

    @pytest.mark.parametrize("raw", ["not json", "{", "", "[1, 2", "\xff"])
    def test_a_body_that_is_not_json_is_a_400(self, api, customer, raw):
        response = api.post("/api/v1/events", data=raw, content_type="application/json")
        assert_validation(response, {"body": "must be a JSON document"})
        assert not Event.objects.exists()

    @pytest.mark.parametrize("raw", ["[]", "42", '"event"', "null"])
    def test_a_body_that_is_not_an_object_is_a_400(self, api, customer, raw):
        response = api.post("/api/v1/events", data=raw, content_type="application/json")
        assert_validation(response, {"body": "must be a JSON object (one event)"})

    def test_an_event_of_another_merchants_customer_is_unknown(self, api, other_tenant):
        make_customer(other_tenant.merchant, "cus_1")
        assert_validation(post(api, "/api/v1/events", event()), {"customer": "no customer with external_id 'cus_1'"})
        assert not Event.objects.exists()

    def test_the_same_transaction_id_is_independent_per_merchant(self, api, customer, other_tenant):
        make_customer(other_tenant.merchant, "cus_1")
        assert post(api, "/api/v1/events", event()).status_code == 202
        assert post(other_tenant.api, "/api/v1/events", event()).status_code == 202
        assert Event.objects.count() == 2

    def test_it_requires_an_api_key(self, client, customer):
        response = client.post("/api/v1/events", data=json.dumps(event()), content_type="application/json")
        assert response.status_code == 401
        assert not Event.objects.exists()


class TestBatch:
    def test_it_stores_the_valid_events_and_reports_each_invalid_one_by_index(self, api, customer):
        body = {
            "events": [
                event(transaction_id="a"),
                event(transaction_id="b", timestamp="nope"),
                event(transaction_id="c", customer="ghost"),
                event(transaction_id="a"),
                "not an event",
                event(transaction_id="d", properties={"n": {"deep": 1}}),
                event(transaction_id="e", properties={"bytes": "12.50"}),
            ]
        }
        response = post(api, "/api/v1/events/batch", body)
        assert response.status_code == 200
        assert response.json() == {
            "accepted": 2,
            "duplicates": 1,
            "rejected": 4,
            "results": [
                {"index": 0, "status": "accepted"},
                {
                    "index": 1,
                    "status": "rejected",
                    "errors": {"events[1].timestamp": "'nope' is not an ISO 8601 timestamp or epoch seconds"},
                },
                {
                    "index": 2,
                    "status": "rejected",
                    "errors": {"events[2].customer": "no customer with external_id 'ghost'"},
                },
                {"index": 3, "status": "duplicate"},
                {"index": 4, "status": "rejected", "errors": {"events[4]": "must be an object"}},
                {
                    "index": 5,
                    "status": "rejected",
                    "errors": {
                        "events[5].properties.n": "must be a string, number or boolean: nested values are not allowed"
                    },
                },
                {"index": 6, "status": "accepted"},
            ],
        }
        assert sorted(Event.objects.values_list("transaction_id", flat=True)) == ["a", "e"]

    def test_a_resent_batch_is_all_duplicates(self, api, customer):
        body = {"events": [event(transaction_id=f"t{n}") for n in range(5)]}
        assert post(api, "/api/v1/events/batch", body).json()["accepted"] == 5
        again = post(api, "/api/v1/events/batch", body).json()
        assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 5, 0)
        assert Event.objects.count() == 5

    def test_it_accepts_exactly_1000_events(self, api, customer):
        body = {"events": [event(transaction_id=f"t{n}") for n in range(1000)]}
        response = post(api, "/api/v1/events/batch", body)
        assert response.json()["accepted"] == 1000
        assert Event.objects.count() == 1000

    def test_it_rejects_batch_over_1000_events_with_413_storing_nothing(self, api, customer):
        body = {"events": [event(transaction_id=f"t{n}") for n in range(1001)]}
        response = post(api, "/api/v1/events/batch", body)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "payload_too_large"
        assert not Event.objects.exists()

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({"events": {"transaction_id": "a"}}, {"events": "must be a list of events"}),
            ({"events": "a,b"}, {"events": "must be a list of events"}),
            ({"events": []}, {"events": "must not be empty"}),
            ({}, {"events": "is required"}),
            ([event()], {"body": 'must be a JSON object: {"events": [...]}'}),
        ],
    )
    def test_a_batch_that_is_not_a_list_is_a_400(self, api, customer, body, fields):
        assert_validation(post(api, "/api/v1/events/batch", body), fields)
        assert not Event.objects.exists()

    def test_a_batch_body_that_is_not_json_is_a_400(self, api, customer):
        response = api.post("/api/v1/events/batch", data="{events: [", content_type="application/json")
        assert_validation(response, {"body": "must be a JSON document"})

    def test_it_resolves_every_customer_of_a_batch_in_one_query(self, api, merchant, django_assert_max_num_queries):
        for n in range(20):
            make_customer(merchant, f"cus_{n}")
        body = {"events": [event(transaction_id=f"t{n}", customer=f"cus_{n % 20}") for n in range(200)]}
        # auth, last_used_at, customers, savepoint + insert + lock + metrics (no metric has state yet)
        with django_assert_max_num_queries(8):
            assert post(api, "/api/v1/events/batch", body).json()["accepted"] == 200


class TestEventList:
    @pytest.fixture
    def events(self, api, merchant, customer):
        make_customer(merchant, "cus_2")
        body = {
            "events": [
                event(transaction_id="a", timestamp="2026-03-01T00:00:00Z"),
                event(transaction_id="b", timestamp="2026-03-02T00:00:00Z", code="storage"),
                event(transaction_id="c", timestamp="2026-03-03T00:00:00Z", customer="cus_2"),
                event(transaction_id="d", timestamp="2026-03-04T00:00:00Z", properties={"gb": "1.5"}),
            ]
        }
        assert post(api, "/api/v1/events/batch", body).json()["accepted"] == 4

    def test_it_lists_newest_first(self, api, events):
        body = api.get("/api/v1/events").json()
        assert [row["transaction_id"] for row in body["results"]] == ["d", "c", "b", "a"]
        assert body["next"] is None
        first = body["results"][0]
        assert first == {
            "id": first["id"],
            "transaction_id": "d",
            "customer": "cus_1",
            "code": "api_call",
            "timestamp": "2026-03-04T00:00:00Z",
            "properties": {"gb": "1.5"},
            "subscription": "",
            "received_at": first["received_at"],
        }

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("customer=cus_2", ["c"]),
            ("customer=nobody", []),
            ("code=storage", ["b"]),
            ("from=2026-03-02T00:00:00Z", ["d", "c", "b"]),
            ("to=2026-03-03T00:00:00Z", ["b", "a"]),
            ("customer=cus_1&code=api_call&from=2026-03-01T00:00:01Z", ["d"]),
        ],
    )
    def test_it_filters_by_customer_code_and_time(self, api, events, query, expected):
        body = api.get(f"/api/v1/events?{query}").json()
        assert [row["transaction_id"] for row in body["results"]] == expected

    def test_it_pages_with_a_cursor(self, api, events):
        first = api.get("/api/v1/events?limit=3").json()
        assert [row["transaction_id"] for row in first["results"]] == ["d", "c", "b"]
        second = api.get(first["next"]).json()
        assert [row["transaction_id"] for row in second["results"]] == ["a"]
        assert second["next"] is None

    def test_a_bad_time_filter_is_a_400(self, api, events):
        assert_validation(
            api.get("/api/v1/events?from=soon"), {"from": "'soon' is not an ISO 8601 timestamp or epoch seconds"}
        )

    def test_another_merchants_events_are_not_listed(self, other_tenant, events):
        assert other_tenant.api.get("/api/v1/events").json() == {"results": [], "next": None}


def test_numbers_are_stored_as_sent(api, customer):
    # the largest integer below the bound (10**15, docs/metering.md "Numbers"); past it is a 400
    post(api, "/api/v1/events", event(properties={"amount": 0.1, "big": 999_999_999_999_999}))
    stored = Event.objects.get()
    assert Decimal(str(stored.properties["amount"])) == Decimal("0.1")
    assert stored.properties["big"] == 999_999_999_999_999
