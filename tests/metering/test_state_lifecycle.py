"""The pre-aggregated state: built on first read, kept current by ingestion, rebuilt when a metric changes."""

import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection

from metering.aggregation import Usage, aggregate
from metering.models import Event, MetricState, UsageBucket
from metering.selectors import current_usage
from metering.services import events_ingest, metric_state_rebuild
from metering.state import state_signature
from tests.metering.conftest import at, ingest, make_customer, make_metric

pytestmark = pytest.mark.django_db

JAN = {"start": at(2026, 1, 1), "end": at(2026, 2, 1)}


def e(ts, code="api_call", **properties):
    return {"customer": "cus_1", "code": code, "timestamp": ts.isoformat(), "properties": properties}


def test_the_first_read_backfills_the_state_from_existing_events(merchant, customer):
    ingest(merchant, e(at(2026, 1, 2, 10), n=2), e(at(2026, 1, 2, 10, 30), n=3), e(at(2026, 1, 3), n=4))
    metric = make_metric(merchant, aggregation="sum", field="n")
    assert not MetricState.objects.exists()
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(9), 3)}
    state = MetricState.objects.get(metric=metric)
    assert (state.signature, state.bucket_seconds) == state_signature(metric)
    assert sorted(UsageBucket.objects.filter(metric=metric).values_list("events_count", "total")) == [
        (1, Decimal(4)),
        (2, Decimal(5)),
    ]


def test_ingestion_folds_new_events_into_current_state(merchant, customer):
    metric = make_metric(merchant, aggregation="sum", field="n")
    current_usage(metric=metric, customer_id=customer.pk, **JAN)
    ingest(merchant, e(at(2026, 1, 2, 10), n=2))
    ingest(merchant, e(at(2026, 1, 2, 10, 59), n=5), e(at(2026, 1, 2, 11), n=1))
    assert list(UsageBucket.objects.filter(metric=metric).order_by("bucket").values_list("events_count", "total")) == [
        (2, Decimal(7)),
        (1, Decimal(1)),
    ]
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(8), 3)}


def test_duplicates_do_not_touch_the_state(merchant, customer):
    metric = make_metric(merchant)
    current_usage(metric=metric, customer_id=customer.pk, **JAN)
    payload = {**e(at(2026, 1, 2)), "transaction_id": "same"}
    events_ingest(merchant=merchant, payloads=[payload, payload])
    events_ingest(merchant=merchant, payloads=[payload])
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(1), 1)}
    assert UsageBucket.objects.get(metric=metric).events_count == 1


def test_a_changed_metric_is_rebuilt_on_its_next_read(merchant, customer):
    metric = make_metric(merchant, aggregation="sum", field="n")
    ingest(merchant, e(at(2026, 1, 2), n=2, region="eu"), e(at(2026, 1, 2), n=3, region="us"))
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(5), 2)}
    metric.filters = {"region": ["eu"]}
    metric.group_by = ["region"]
    metric.save()
    # an event ingested while the state is stale is not folded in, and not lost either
    ingest(merchant, e(at(2026, 1, 3), n=10, region="eu"))
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {("eu",): Usage(Decimal(12), 2)}
    assert MetricState.objects.get(metric=metric).signature == state_signature(metric)[0]
    metric.aggregation = "max"
    metric.save()
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {("eu",): Usage(Decimal(10), 2)}


def test_a_metric_listening_to_a_new_code_picks_up_its_past_events(merchant, customer):
    metric = make_metric(merchant)
    ingest(merchant, e(at(2026, 1, 2)), e(at(2026, 1, 2), code="api_batch"))
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(1), 1)}
    metric.event_codes = ["api_call", "api_batch"]
    metric.save()
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(2), 2)}


def test_a_rolling_metric_keeps_minute_buckets(merchant, customer):
    metric = make_metric(merchant, period="rolling", window_seconds=3600)
    assert state_signature(metric)[1] == 60
    ingest(merchant, e(at(2026, 1, 2, 10, 0, 5)), e(at(2026, 1, 2, 10, 0, 50)), e(at(2026, 1, 2, 10, 1)))
    assert current_usage(metric=metric, customer_id=customer.pk, start=None, end=at(2026, 1, 2, 10, 30)) == {
        (): Usage(Decimal(3), 3)
    }
    assert sorted(UsageBucket.objects.filter(metric=metric).values_list("bucket", "events_count")) == [
        (int(at(2026, 1, 2, 10).timestamp()), 2),
        (int(at(2026, 1, 2, 10, 1).timestamp()), 1),
    ]


def test_a_forced_rebuild_gives_the_same_state(merchant, customer):
    metric = make_metric(merchant, aggregation="latest", field="n", group_by=["region"])
    current_usage(metric=metric, customer_id=customer.pk, **JAN)
    ingest(merchant, e(at(2026, 1, 2), n=1, region="eu"), e(at(2026, 1, 2, 0, 1), n=2, region="eu"))
    ingest(merchant, e(at(2026, 1, 2, 0, 2), n=3, region="us"), e(at(2026, 1, 2, 0, 0), n=4, region="eu"))
    columns = ("customer_id", "bucket", "group_key", "events_count", "latest_value", "latest_id")
    before = sorted(UsageBucket.objects.filter(metric=metric).values_list(*columns))
    metric_state_rebuild(metric=metric, force=True)
    assert sorted(UsageBucket.objects.filter(metric=metric).values_list(*columns)) == before


def test_current_usage_does_not_read_raw_events_for_whole_buckets(merchant, customer, django_assert_num_queries):
    metric = make_metric(merchant, aggregation="sum", field="n")
    ingest(merchant, *[e(at(2026, 1, 1 + n % 28, n % 24), n=n) for n in range(300)])
    current_usage(metric=metric, customer_id=customer.pk, **JAN)
    # one query for the state's signature, one over the buckets
    with django_assert_num_queries(2) as captured:
        usage = current_usage(metric=metric, customer_id=customer.pk, **JAN)
    assert usage == aggregate(metric=metric, customer_id=customer.pk, **JAN)
    assert all("metering_event" not in query["sql"] for query in captured.captured_queries)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_are_stored_once(tenant):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for real concurrency")
    merchant = tenant.merchant
    customer = make_customer(merchant, "cus_1")
    metric = make_metric(merchant)
    current_usage(metric=metric, customer_id=customer.pk, **JAN)
    payloads = [{**e(at(2026, 1, 2)), "transaction_id": f"t{n}"} for n in range(200)]
    barrier = threading.Barrier(6)
    results, errors = [], []

    def post(order):
        try:
            barrier.wait()
            results.append(events_ingest(merchant=merchant, payloads=payloads[::order]))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=post, args=(1 if n % 2 else -1,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(result.accepted for result in results) == 200
    assert sum(result.duplicates for result in results) == 1000
    assert Event.objects.filter(merchant=merchant).count() == 200
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(200), 200)}
    assert aggregate(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(200), 200)}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_racing_ingestion_misses_nothing(tenant):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for real concurrency")
    merchant = tenant.merchant
    customer = make_customer(merchant, "cus_1")
    metric = make_metric(merchant, aggregation="sum", field="n")
    errors = []

    def ingest_many(worker):
        try:
            for batch in range(10):
                payloads = [
                    {**e(at(2026, 1, 2, batch), n=1), "transaction_id": f"w{worker}-{batch}-{n}"} for n in range(20)
                ]
                events_ingest(merchant=merchant, payloads=payloads)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def rebuild_many():
        try:
            for _ in range(5):
                metric_state_rebuild(metric=metric, force=True)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest_many, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=rebuild_many))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(600), 600)}


postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the definitions cache is PostgreSQL's")


@postgres_only
def test_a_process_with_stale_metric_definitions_rereads_them_before_it_commits(merchant, customer):
    """Another process changed the metrics after this one cached them: the insert sees it under the lock,
    rolls back and retries with fresh definitions, so no event misses a current state."""
    from metering.ingestion import store_postgres

    calls = make_metric(merchant, code="calls", event_codes=["api_call"])
    current_usage(metric=calls, customer_id=customer.pk, **JAN)
    ingest(merchant, e(at(2026, 1, 2, 10)))
    stale = store_postgres.DEFINITIONS[merchant.pk]
    assert [metric.code for metric, _ in stale.metrics] == ["calls"]

    # as another process would: a new metric on the same events, with its state built, then a changed definition
    total = make_metric(merchant, code="total", event_codes=["api_call"], aggregation="sum", field="n")
    current_usage(metric=total, customer_id=customer.pk, **JAN)
    store_postgres.DEFINITIONS[merchant.pk] = stale  # this process still holds what it read before

    ingest(merchant, e(at(2026, 1, 2, 11), n=5))
    assert store_postgres.DEFINITIONS[merchant.pk] is not stale
    assert {metric.code for metric, _ in store_postgres.DEFINITIONS[merchant.pk].metrics} == {"calls", "total"}
    for metric, expected, buckets in ((calls, Usage(Decimal(2), 2), 2), (total, Usage(Decimal(5), 1), 1)):
        assert current_usage(metric=metric, customer_id=customer.pk, **JAN) == {(): expected}
        assert UsageBucket.objects.filter(metric=metric).count() == buckets
    assert Event.objects.filter(merchant=merchant).count() == 2  # the rolled-back attempt left nothing behind


def test_a_definition_edited_and_restored_before_any_read_does_not_hide_events(merchant, customer):
    """Events ingested while a metric's state is stale are not in it: restoring the old definition must not
    make that state current again."""
    metric = make_metric(merchant, aggregation="sum", field="n")
    current_usage(metric=metric, customer_id=customer.pk, **JAN)
    type(metric).objects.filter(pk=metric.pk).update(field="m")  # an edit: the state is stale
    ingest(merchant, e(at(2026, 1, 2, 10), n=2))
    assert not MetricState.objects.filter(metric=metric).exists()  # dropped with the insert
    type(metric).objects.filter(pk=metric.pk).update(field="n")  # restored, with no read in between
    ingest(merchant, e(at(2026, 1, 2, 11), n=3))
    metric.refresh_from_db()
    usage = current_usage(metric=metric, customer_id=customer.pk, **JAN)
    assert usage == aggregate(metric=metric, customer_id=customer.pk, **JAN) == {(): Usage(Decimal(5), 2)}
