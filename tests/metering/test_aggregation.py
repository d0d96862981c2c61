"""The aggregation engine over raw events (SPEC §4): every aggregation, filters, groups, periods, tags."""

from datetime import timedelta
from decimal import Decimal

import pytest

from metering.aggregation import Usage, aggregate, aggregate_customers, events_for
from metering.selectors import current_usage
from tests.metering.conftest import at, ingest, make_customer, make_metric

pytestmark = pytest.mark.django_db

JAN = (at(2026, 1, 1), at(2026, 2, 1))


def both(metric, customer, start, end, **options):
    """The raw answer, checked against the pre-aggregated one."""
    raw = aggregate(metric=metric, customer_id=customer.pk, start=start, end=end, **options)
    fast_options = {k: v for k, v in options.items() if k in ("subscription_external_id", "include_untagged")}
    if len(fast_options) == len(options):
        assert current_usage(metric=metric, customer_id=customer.pk, start=start, end=end, **fast_options) == raw
    return raw


def e(ts, code="api_call", **properties):
    return {"customer": "cus_1", "code": code, "timestamp": ts, "properties": properties}


class TestCount:
    def test_it_counts_events_of_the_metric_codes_in_the_window(self, merchant, customer):
        metric = make_metric(merchant, event_codes=["api_call", "api_batch"])
        ingest(
            merchant,
            e(at(2026, 1, 1)),
            e(at(2026, 1, 10), code="api_batch"),
            e(at(2026, 1, 31, 23, 59, 59)),
            e(at(2026, 2, 1)),  # the end is exclusive
            e(at(2025, 12, 31, 23, 59, 59)),
            e(at(2026, 1, 5), code="other"),
        )
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(3), 3)}

    def test_without_events_the_quantity_is_zero(self, merchant, customer):
        metric = make_metric(merchant)
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(0), 0)}

    def test_filters_keep_only_matching_events(self, merchant, customer):
        metric = make_metric(merchant, filters={"region": ["eu", "us"], "premium": [True]})
        ingest(
            merchant,
            e(at(2026, 1, 2), region="eu", premium=True),
            e(at(2026, 1, 2), region="us", premium=True),
            e(at(2026, 1, 2), region="ap", premium=True),
            e(at(2026, 1, 2), region="eu", premium=False),
            e(at(2026, 1, 2), region="eu"),
        )
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(2), 2)}

    def test_numbers_filter_by_their_text(self, merchant, customer):
        metric = make_metric(merchant, filters={"tier": [2, "3"]})
        ingest(merchant, e(at(2026, 1, 2), tier=2), e(at(2026, 1, 2), tier="3"), e(at(2026, 1, 2), tier=4))
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(2), 2)}

    def test_other_customers_events_do_not_count(self, merchant, customer):
        make_customer(merchant, "cus_2")
        metric = make_metric(merchant)
        ingest(merchant, e(at(2026, 1, 2)), {**e(at(2026, 1, 2)), "customer": "cus_2"})
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(1), 1)}


class TestNumericAggregations:
    @pytest.fixture
    def stream(self, merchant, customer):
        ingest(
            merchant,
            e(at(2026, 1, 3), bytes=10),
            e(at(2026, 1, 4), bytes="2.5"),
            e(at(2026, 1, 5), bytes=-1.25),
            e(at(2026, 1, 6), bytes="lots"),  # not a number: ignored
            e(at(2026, 1, 7)),  # no value: ignored
            e(at(2026, 1, 8), bytes=True),  # a boolean is not a number
            e(at(2026, 1, 9), bytes="1e3"),  # no exponents
        )

    @pytest.mark.parametrize(
        ("aggregation", "quantity"),
        [
            ("sum", Decimal("11.25")),
            ("max", Decimal("10")),
            ("min", Decimal("-1.25")),
            ("latest", Decimal("-1.25")),
        ],
    )
    def test_it_aggregates_the_numeric_values_of_the_field(self, merchant, customer, stream, aggregation, quantity):
        metric = make_metric(merchant, aggregation=aggregation, field="bytes")
        assert both(metric, customer, *JAN) == {(): Usage(quantity, 3)}

    def test_values_are_read_to_ten_decimals(self, merchant, customer):
        metric = make_metric(merchant, aggregation="sum", field="amount")
        ingest(merchant, e(at(2026, 1, 3), amount="0.00000000004"), e(at(2026, 1, 3), amount="0.12345678901"))
        assert both(metric, customer, *JAN) == {(): Usage(Decimal("0.1234567890"), 2)}

    def test_latest_breaks_timestamp_ties_by_arrival(self, merchant, customer):
        metric = make_metric(merchant, aggregation="latest", field="v")
        ingest(merchant, e(at(2026, 1, 3), v=1), e(at(2026, 1, 9), v=7))
        ingest(merchant, e(at(2026, 1, 9), v=5))
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(5), 3)}

    def test_unique_count_counts_distinct_values(self, merchant, customer):
        metric = make_metric(merchant, aggregation="unique_count", field="user")
        ingest(
            merchant,
            e(at(2026, 1, 3), user="ann"),
            e(at(2026, 1, 4), user="bob"),
            e(at(2026, 1, 20), user="ann"),
            e(at(2026, 1, 21), user=7),
            e(at(2026, 1, 22)),
        )
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(3), 4)}


class TestWeightedSum:
    def test_a_seat_added_at_the_start_of_day_16_of_a_30_day_month_counts_half(self, merchant, customer):
        metric = make_metric(merchant, code="seats", aggregation="weighted_sum", field="delta")
        ingest(merchant, e(at(2026, 4, 16), code="seats", delta=1))
        assert both(metric, customer, at(2026, 4, 1), at(2026, 5, 1)) == {(): Usage(Decimal("0.5"), 1)}

    def test_20_gb_for_a_day_then_30_gb_for_15_days_in_a_31_day_month(self, merchant, customer):
        metric = make_metric(merchant, code="storage", aggregation="weighted_sum", field="gb")
        ingest(
            merchant,
            e(at(2026, 1, 1), code="storage", gb=20),
            e(at(2026, 1, 2), code="storage", gb="10"),
            e(at(2026, 1, 17), code="storage", gb=-30),
        )
        # (20 × 1 + 30 × 15) / 31 = 15.161290322580645…
        assert both(metric, customer, *JAN) == {(): Usage(Decimal("15.1612903226"), 3)}

    def test_the_level_entering_the_window_is_the_sum_of_all_earlier_deltas(self, merchant, customer):
        metric = make_metric(merchant, code="seats", aggregation="weighted_sum", field="delta")
        ingest(
            merchant,
            e(at(2025, 11, 3), code="seats", delta=2),
            e(at(2025, 12, 20), code="seats", delta=2),
            e(at(2025, 12, 21), code="seats", delta=-1),
        )
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(3), 0)}
        ingest(merchant, e(at(2026, 1, 1, 12), code="seats", delta=-3))
        # 3 seats for 12 hours of 31 days
        assert both(metric, customer, *JAN) == {(): Usage(Decimal("0.0483870968"), 1)}

    def test_it_weighs_by_the_second(self, merchant, customer):
        metric = make_metric(merchant, code="seats", aggregation="weighted_sum", field="delta")
        ingest(merchant, e(at(2026, 1, 1, 0, 0, 59, 900000), code="seats", delta=60))
        # counted from the start of its second: 60 × (3600 - 59) / 3600
        assert both(metric, customer, at(2026, 1, 1), at(2026, 1, 1, 1)) == {(): Usage(Decimal("59.0166666667"), 1)}

    def test_all_time_still_averages_over_the_window(self, merchant, customer):
        metric = make_metric(merchant, code="seats", aggregation="weighted_sum", field="delta", period="all_time")
        ingest(merchant, e(at(2026, 4, 16), code="seats", delta=1))
        assert both(metric, customer, at(2026, 4, 1), at(2026, 5, 1)) == {(): Usage(Decimal("0.5"), 1)}


class TestGroups:
    def test_usage_is_reported_per_group_in_group_by_order(self, merchant, customer):
        metric = make_metric(merchant, aggregation="sum", field="n", group_by=["region", "plan"])
        ingest(
            merchant,
            e(at(2026, 1, 2), n=1, region="eu", plan="pro"),
            e(at(2026, 1, 3), n=2, region="eu", plan="pro"),
            e(at(2026, 1, 3), n=4, plan="free", region="us"),
            e(at(2026, 1, 4), n=8, region="eu"),
        )
        assert both(metric, customer, *JAN) == {
            ("eu", "pro"): Usage(Decimal(3), 2),
            ("us", "free"): Usage(Decimal(4), 1),
            ("eu", ""): Usage(Decimal(8), 1),
        }

    def test_without_events_there_are_no_groups(self, merchant, customer):
        metric = make_metric(merchant, group_by=["region"])
        assert both(metric, customer, *JAN) == {}


class TestPeriods:
    def test_all_time_counts_everything_before_the_end(self, merchant, customer):
        metric = make_metric(merchant, period="all_time")
        ingest(merchant, e(at(2020, 5, 1)), e(at(2026, 1, 15)), e(at(2026, 2, 1)))
        assert both(metric, customer, *JAN) == {(): Usage(Decimal(2), 2)}

    def test_a_rolling_window_counts_the_last_window_seconds(self, merchant, customer):
        metric = make_metric(merchant, period="rolling", window_seconds=3600)
        ingest(
            merchant,
            e(at(2026, 1, 10, 10, 59, 59)),
            e(at(2026, 1, 10, 11, 0, 0)),
            e(at(2026, 1, 10, 11, 30, 0)),
            e(at(2026, 1, 10, 11, 59, 59, 500000)),
            e(at(2026, 1, 10, 12, 0, 1)),
        )
        assert both(metric, customer, None, at(2026, 1, 10, 12)) == {(): Usage(Decimal(3), 3)}
        # a fractional end rounds up to the next second
        assert both(metric, customer, None, at(2026, 1, 10, 11, 59, 59, 400000)) == {(): Usage(Decimal(3), 3)}
        assert both(metric, customer, None, at(2026, 1, 10, 12, 0, 0, 1)) == {(): Usage(Decimal(2), 2)}

    def test_a_period_starting_at_local_midnight_in_a_half_hour_zone(self, merchant, customer):
        # Asia/Kolkata midnight is 18:30 UTC: the period cuts hour buckets at both ends.
        metric = make_metric(merchant, aggregation="sum", field="n")
        ingest(
            merchant,
            e(at(2025, 12, 31, 18, 29, 59), n=1),
            e(at(2025, 12, 31, 18, 30), n=2),
            e(at(2025, 12, 31, 18, 59), n=4),
            e(at(2026, 1, 15), n=8),
            e(at(2026, 1, 31, 18, 29, 59), n=16),
            e(at(2026, 1, 31, 18, 30), n=32),
        )
        start, end = at(2025, 12, 31, 18, 30), at(2026, 1, 31, 18, 30)
        assert both(metric, customer, start, end) == {(): Usage(Decimal(30), 4)}


class TestScopes:
    @pytest.fixture
    def tagged(self, merchant, customer):
        ingest(
            merchant,
            {**e(at(2026, 1, 2), user="ann"), "subscription": "sub_a"},
            {**e(at(2026, 1, 2), user="bob"), "subscription": "sub_b"},
            e(at(2026, 1, 2), user="ann"),
            e(at(2026, 1, 2)),
        )
        return make_metric(merchant)

    def test_subscription_tagging(self, customer, tagged):
        assert both(tagged, customer, *JAN) == {(): Usage(Decimal(4), 4)}
        assert both(tagged, customer, *JAN, subscription_external_id="sub_a") == {(): Usage(Decimal(3), 3)}
        assert both(tagged, customer, *JAN, subscription_external_id="sub_a", include_untagged=False) == {
            (): Usage(Decimal(1), 1)
        }

    def test_excluded_users_do_not_count(self, customer, tagged):
        assert both(tagged, customer, *JAN, exclude_users={"ann"}) == {(): Usage(Decimal(2), 2)}
        assert both(tagged, customer, *JAN, exclude_users=["ann", "bob"]) == {(): Usage(Decimal(1), 1)}

    def test_received_before_ignores_late_events(self, merchant, customer):
        metric = make_metric(merchant)
        ingest(merchant, e(at(2026, 1, 20)), received_at=at(2026, 1, 20))
        ingest(merchant, e(at(2026, 1, 30)), received_at=at(2026, 2, 3))
        assert both(metric, customer, *JAN, received_before=at(2026, 2, 1)) == {(): Usage(Decimal(1), 1)}
        late = events_for(
            metric=metric, customer_id=customer.pk, start=JAN[0], end=JAN[1], received_after=at(2026, 2, 1)
        )
        assert [event.timestamp for event in late] == [at(2026, 1, 30)]


class TestEventsFor:
    def test_it_lists_exactly_the_events_behind_a_quantity(self, merchant, customer):
        metric = make_metric(merchant, aggregation="sum", field="n", group_by=["region"], filters={"ok": ["yes"]})
        ingest(
            merchant,
            e(at(2026, 1, 2), n=1, region="eu", ok="yes"),
            e(at(2026, 1, 3), n=2, region="us", ok="yes"),
            e(at(2026, 1, 4), n="x", region="eu", ok="yes"),
            e(at(2026, 1, 5), n=4, region="eu", ok="no"),
            e(at(2026, 2, 5), n=4, region="eu", ok="yes"),
        )
        behind = events_for(metric=metric, customer_id=customer.pk, start=JAN[0], end=JAN[1])
        assert sorted(event.properties["n"] for event in behind) == [1, 2]
        eu = events_for(metric=metric, customer_id=customer.pk, start=JAN[0], end=JAN[1], group=("eu",))
        assert [event.properties["n"] for event in eu] == [1]
        assert (
            events_for(metric=metric, customer_id=customer.pk, start=JAN[0], end=JAN[1], group={"region": "us"}).count()
            == 1
        )

    def test_for_weighted_sum_it_includes_the_earlier_deltas(self, merchant, customer):
        metric = make_metric(merchant, code="seats", aggregation="weighted_sum", field="delta")
        ingest(merchant, e(at(2025, 12, 1), code="seats", delta=1), e(at(2026, 1, 5), code="seats", delta=1))
        assert events_for(metric=metric, customer_id=customer.pk, start=JAN[0], end=JAN[1]).count() == 2


class TestManyCustomers:
    def test_it_aggregates_many_customers_in_one_query(self, merchant, customer, django_assert_num_queries):
        others = [make_customer(merchant, f"cus_{n}") for n in range(2, 5)]
        metric = make_metric(merchant, aggregation="sum", field="n")
        ingest(
            merchant,
            e(at(2026, 1, 2), n=1),
            {**e(at(2026, 1, 2), n=5), "customer": "cus_2"},
            {**e(at(2026, 1, 3), n=6), "customer": "cus_2"},
        )
        ids = [customer.pk] + [other.pk for other in others]
        with django_assert_num_queries(1):
            usage = aggregate_customers(metric=metric, customer_ids=ids, start=JAN[0], end=JAN[1])
        assert usage == {
            customer.pk: {(): Usage(Decimal(1), 1)},
            others[0].pk: {(): Usage(Decimal(11), 2)},
            others[1].pk: {(): Usage(Decimal(0), 0)},
            others[2].pk: {(): Usage(Decimal(0), 0)},
        }


def test_the_window_must_be_aware(merchant, customer):
    metric = make_metric(merchant)
    with pytest.raises(ValueError, match="timezone-aware"):
        aggregate(metric=metric, customer_id=customer.pk, start=JAN[0].replace(tzinfo=None), end=JAN[1])


def test_an_empty_window_has_no_usage(merchant, customer):
    metric = make_metric(merchant)
    ingest(merchant, e(at(2026, 1, 2)))
    assert both(metric, customer, JAN[1], JAN[1] - timedelta(days=1)) == {(): Usage(Decimal(0), 0)}


def test_an_event_in_the_last_microsecond_before_the_window_stays_out(merchant, customer):
    # SQLite's strftime rounds .999999 up to the next second: the bucket of this event must not move.
    metric = make_metric(merchant, aggregation="min", field="n")
    ingest(merchant, e(at(2026, 2, 28, 23, 59, 59, 999999), n=0), e(at(2026, 3, 1, 0, 30), n=5))
    assert both(metric, customer, at(2026, 3, 1), at(2026, 3, 1, 1)) == {(): Usage(Decimal(5), 1)}
