"""The pre-aggregated state answers exactly what the raw events answer (hypothesis over random streams).

Each example builds a metric, ingests part of a random stream before the state
exists (so the first read backfills it from raw events) and the rest after (so
ingestion folds it into the buckets), then compares ``current_usage`` with
``aggregate`` over windows that cut buckets anywhere, for every tagging option.
Values are multiples of 0.25 so SQLite's binary floats stay exact too.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import Metric
from metering.aggregation import aggregate, aggregate_customers, aggregate_subscriptions
from metering.models import UsageBucket
from metering.selectors import current_usage, current_usage_customers
from metering.services import events_ingest
from tests.metering.conftest import at, make_customer, make_metric

pytestmark = pytest.mark.django_db

ORIGIN = at(2026, 3, 1)
SPAN = 3 * 86400  # three days of events

values = st.one_of(
    st.integers(min_value=-4000, max_value=4000).map(lambda n: n / 4),
    st.integers(min_value=-400, max_value=400).map(lambda n: str(n / 4)),
    st.sampled_from(["n/a", True, None]),
)
events = st.lists(
    st.fixed_dictionaries(
        {
            # half the events crowd into two hours so buckets collide across batches
            "second": st.one_of(st.integers(3000, 4200), st.integers(min_value=-86400, max_value=SPAN)),
            "micro": st.sampled_from([0, 0, 999999, 500000]),
            "value": values,
            "region": st.sampled_from(["eu", "us", None]),
            "kind": st.sampled_from(["a", "b"]),
            "user": st.sampled_from(["ann", "bob", "cy", None]),
            "code": st.sampled_from(["x", "x", "y", "z"]),
            "tag": st.sampled_from(["", "", "sub_a", "sub_b"]),
            "customer": st.sampled_from(["cus_1", "cus_1", "cus_2"]),
        }
    ),
    max_size=40,
)
windows = st.lists(
    st.tuples(st.integers(min_value=-3600, max_value=SPAN + 3600), st.integers(min_value=1, max_value=SPAN)),
    min_size=1,
    max_size=4,
)
definitions = st.fixed_dictionaries(
    {
        "group_by": st.sampled_from([[], ["region"], ["region", "kind"]]),
        "filters": st.sampled_from([{}, {"kind": ["a"]}, {"region": ["eu", "us"]}]),
        "event_codes": st.sampled_from([["x"], ["x", "y"]]),
        "period": st.sampled_from(["billing_period", "billing_period", "all_time", "rolling"]),
        "window_seconds": st.sampled_from([60, 3600, 5400, 86400, 3 * 86400]),
    }
)


def payloads(stream, offset):
    out = []
    for number, item in enumerate(stream):
        properties = {"kind": item["kind"]}
        if item["value"] is not None:
            properties["v"] = item["value"]
        if item["region"] is not None:
            properties["region"] = item["region"]
        if item["user"] is not None:
            properties["user"] = item["user"]
        timestamp = ORIGIN + timedelta(seconds=item["second"], microseconds=item["micro"])
        out.append(
            {
                "transaction_id": f"t{offset + number}",
                "customer": item["customer"],
                "code": item["code"],
                "timestamp": timestamp.isoformat(),
                "properties": properties,
                "subscription": item["tag"],
            }
        )
    return out


def check(merchant, customers, aggregation, definition, stream, split, spans):
    metric = make_metric(
        merchant,
        code=f"m_{aggregation}",
        aggregation=aggregation,
        field="" if aggregation == "count" else ("user" if aggregation == "unique_count" else "v"),
        **definition,
    )
    received = ORIGIN + timedelta(days=10)
    events_ingest(merchant=merchant, payloads=payloads(stream[:split], 0), received_at=received)
    current_usage(metric=metric, customer_id=customers[0].pk, start=ORIGIN, end=ORIGIN + timedelta(days=1))
    # after the backfill, ingestion folds new events into existing buckets: one by one, then the rest at once
    for payload in payloads(stream[split : split + 3], split):
        events_ingest(merchant=merchant, payloads=[payload], received_at=received)
    events_ingest(merchant=merchant, payloads=payloads(stream[split + 3 :], split + 3), received_at=received)
    for start_second, length in spans:
        start = ORIGIN + timedelta(seconds=start_second)
        end = start + timedelta(seconds=length)
        for customer in customers:
            for tag, untagged in [(None, True), ("sub_a", True), ("sub_a", False), ("", True)]:
                raw = aggregate(
                    metric=metric,
                    customer_id=customer.pk,
                    start=start,
                    end=end,
                    subscription_external_id=tag,
                    include_untagged=untagged,
                )
                fast = current_usage(
                    metric=metric,
                    customer_id=customer.pk,
                    start=start,
                    end=end,
                    subscription_external_id=tag,
                    include_untagged=untagged,
                )
                assert fast == raw, (customer.external_id, tag, untagged, start, end)
        pairs = [(customer.pk, tag) for customer in customers for tag in ("", "sub_a", "sub_b")]
        bulk = aggregate_subscriptions(metric=metric, subscriptions=pairs, start=start, end=end)
        for customer_id, tag in pairs:
            one = aggregate(metric=metric, customer_id=customer_id, start=start, end=end, subscription_external_id=tag)
            assert bulk[(customer_id, tag)] == one, (customer_id, tag)
        ids = [customer.pk for customer in customers]
        assert current_usage_customers(metric=metric, customer_ids=ids, start=start, end=end) == aggregate_customers(
            metric=metric, customer_ids=ids, start=start, end=end
        )


@pytest.mark.parametrize("aggregation", [choice.value for choice in Metric.Aggregation])
@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=events, definition=definitions, spans=windows, data=st.data())
def test_pre_aggregated_state_equals_raw_aggregation(tenant, aggregation, stream, definition, spans, data):
    split = data.draw(st.integers(min_value=0, max_value=len(stream)))
    with transaction.atomic():
        customers = [make_customer(tenant.merchant, "cus_1"), make_customer(tenant.merchant, "cus_2")]
        check(tenant.merchant, customers, aggregation, definition, stream, split, spans)
        transaction.set_rollback(True)


def test_windows_inside_one_bucket_and_across_many_agree(tenant):
    merchant = tenant.merchant
    customer = make_customer(merchant, "cus_1")
    metric = make_metric(merchant, code="m", aggregation="sum", field="v", event_codes=["x"])
    current_usage(metric=metric, customer_id=customer.pk, start=ORIGIN, end=ORIGIN + timedelta(days=1))
    stream = [
        {"transaction_id": f"t{n}", "customer": "cus_1", "code": "x", "properties": {"v": n},
         "timestamp": (ORIGIN + timedelta(minutes=7 * n)).isoformat()}
        for n in range(200)
    ]  # fmt: skip
    events_ingest(merchant=merchant, payloads=stream, received_at=ORIGIN + timedelta(days=5))
    assert UsageBucket.objects.filter(metric=metric).count() == 24
    for start_minute, minutes in [(0, 10), (5, 50), (61, 58), (59, 700), (0, 1440), (13, 1399)]:
        start = ORIGIN + timedelta(minutes=start_minute)
        end = start + timedelta(minutes=minutes)
        assert current_usage(metric=metric, customer_id=customer.pk, start=start, end=end) == aggregate(
            metric=metric, customer_id=customer.pk, start=start, end=end
        )


@pytest.mark.parametrize("aggregation", [choice.value for choice in Metric.Aggregation])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stream=st.lists(
        st.tuples(st.integers(min_value=0, max_value=7199), st.integers(min_value=-40, max_value=40)),
        min_size=1,
        max_size=12,
    ),
    chunks=st.lists(st.integers(min_value=1, max_value=4), min_size=12, max_size=12),
)
def test_batches_folded_into_the_same_buckets_merge_exactly(tenant, aggregation, stream, chunks):
    """Every event lands in one of two buckets and arrives in small batches: each merge rule is exercised."""
    with transaction.atomic():
        merchant = tenant.merchant
        customer = make_customer(merchant, "cus_1")
        field = "" if aggregation == "count" else ("user" if aggregation == "unique_count" else "v")
        metric = make_metric(merchant, code="m", aggregation=aggregation, field=field, event_codes=["x"])
        current_usage(metric=metric, customer_id=customer.pk, start=ORIGIN, end=ORIGIN + timedelta(hours=2))
        items = [
            {"transaction_id": f"t{n}", "customer": "cus_1", "code": "x",
             "timestamp": (ORIGIN + timedelta(seconds=second)).isoformat(),
             "properties": {"v": value / 4, "user": f"u{value % 5}"}}
            for n, (second, value) in enumerate(stream)
        ]  # fmt: skip
        position = 0
        for size in chunks:
            if position >= len(items):
                break
            events_ingest(merchant=merchant, payloads=items[position : position + size], received_at=ORIGIN)
            position += size
        if position < len(items):
            events_ingest(merchant=merchant, payloads=items[position:], received_at=ORIGIN)
        for start, end in [(0, 7200), (0, 3600), (3600, 7200), (-3600, 10800), (1800, 7200)]:
            window = {"start": ORIGIN + timedelta(seconds=start), "end": ORIGIN + timedelta(seconds=end)}
            raw = aggregate(metric=metric, customer_id=customer.pk, **window)
            assert current_usage(metric=metric, customer_id=customer.pk, **window) == raw
        transaction.set_rollback(True)
