"""Subscriptions: creation rules, periods in the output, plan changes and cancels both ways."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from billing.models import Subscription
from billing.subscriptions import selectors, services
from catalog import services as catalog
from customers.models import Customer

pytestmark = pytest.mark.django_db


def dt(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_plan(merchant, code, *, currency="USD", publish=True, trial_days=0, interval="month", metric=None):
    content = {
        "currency": currency,
        "interval": interval,
        "base_fee": Decimal("50.00"),
        "trial_days": trial_days,
        "charges": [],
        "features": [],
    }
    if metric is not None:
        content["charges"] = [
            {
                "metric": metric,
                "model": "per_unit",
                "params": {"unit_amount": "0.01"},
                "included_units": Decimal("0"),
                "minimum_amount": None,
                "maximum_amount": None,
                "timing": "in_arrears",
            }
        ]
    plan = catalog.plan_create(merchant=merchant, code=code, name=code.title(), content=content)
    if publish:
        catalog.plan_publish(plan=plan)
    return plan


@pytest.fixture
def setup(tenant):
    merchant = tenant.merchant
    metric = catalog.metric_create(merchant=merchant, code="api_calls", name="API calls", event_codes=["api_call"])
    feature = catalog.feature_create(
        merchant=merchant, key="calls_limit", name="Calls", kind="limit", metric=metric, default_limit=10
    )
    pro = make_plan(merchant, "pro", metric=metric)
    version = pro.versions.get()
    version.plan_features.create(feature=feature, limit=1000)
    make_plan(merchant, "basic")
    make_plan(merchant, "euro", currency="EUR")
    make_plan(merchant, "draft", publish=False)
    make_plan(merchant, "trial", trial_days=14)
    archived = make_plan(merchant, "old")
    catalog.plan_archive(plan=archived)
    customer = Customer.objects.create(merchant=merchant, external_id="cus_1", name="Initech", currency="USD")
    Customer.objects.filter(pk=customer.pk).update(created_at=dt(2024, 1, 1))
    return merchant


def subscribe(merchant, **kwargs):
    kwargs = {"external_id": "sub_1", "customer": "cus_1", "plan": "pro", "start_date": date(2024, 8, 10), **kwargs}
    return services.subscription_create(merchant=merchant, **kwargs)


def period(subscription, at):
    found = selectors.subscription_period_at(subscription, at)
    return (found.start, found.end) if found else None


class TestCreate:
    def test_it_captures_the_merchants_billing_day_and_time_zone(self, setup):
        setup.billing_day = 26
        setup.timezone = "UTC"
        setup.save()
        subscription = subscribe(setup)
        assert subscription.started_at == dt(2024, 8, 10)
        assert (subscription.billing_day, subscription.timezone, subscription.billing_anchor) == (26, "UTC", "calendar")
        assert subscription.plan_version.plan.code == "pro"
        assert subscription.trial_ends_at is None
        assert period(subscription, dt(2024, 8, 12)) == (dt(2024, 8, 10), dt(2024, 8, 26))
        assert period(subscription, dt(2024, 8, 26)) == (dt(2024, 8, 26), dt(2024, 9, 26))
        # A later change of the merchant's settings does not move existing periods.
        setup.billing_day = 1
        setup.save()
        subscription.refresh_from_db()
        assert period(subscription, dt(2024, 9, 1)) == (dt(2024, 8, 26), dt(2024, 9, 26))

    def test_calendar_periods_align_to_the_first_of_the_month(self, setup):
        subscription = subscribe(setup)
        assert period(subscription, dt(2024, 8, 20)) == (dt(2024, 8, 10), dt(2024, 9, 1))
        assert period(subscription, dt(2024, 9, 15)) == (dt(2024, 9, 1), dt(2024, 10, 1))

    def test_anniversary_periods_start_on_the_start_date(self, setup):
        subscription = subscribe(setup, billing_anchor="anniversary")
        assert period(subscription, dt(2024, 8, 20)) == (dt(2024, 8, 10), dt(2024, 9, 10))
        assert period(subscription, dt(2025, 2, 10)) == (dt(2025, 2, 10), dt(2025, 3, 10))

    def test_a_start_date_is_local_midnight_in_the_merchants_time_zone(self, setup):
        setup.timezone = "America/New_York"
        setup.save()
        subscription = subscribe(setup)
        assert subscription.started_at == dt(2024, 8, 10, 4)
        assert period(subscription, dt(2024, 8, 20)) == (dt(2024, 8, 10, 4), dt(2024, 9, 1, 4))

    def test_trial_days_default_to_the_plan_and_can_be_overridden(self, setup):
        assert subscribe(setup, plan="trial").trial_ends_at == dt(2024, 8, 24)
        assert subscribe(setup, external_id="sub_2", plan="pro", trial_days=30).trial_ends_at == dt(2024, 9, 9)

    def test_overrides_are_validated_and_normalised(self, setup):
        subscription = subscribe(
            setup, overrides={"charges": {"api_calls": {"unit_amount": "0.0050"}}, "features": {"calls_limit": -1}}
        )
        assert subscription.overrides == {
            "charges": {"api_calls": {"unit_amount": "0.0050"}},
            "features": {"calls_limit": -1},
        }

    @pytest.mark.parametrize(
        "kwargs, errors",
        [
            ({"plan": "draft"}, {"plan": "plan 'draft' has no published version yet (publish its draft)"}),
            ({"plan": "old"}, {"plan": "plan 'old' is archived and accepts no new subscriptions"}),
            ({"plan": "nope"}, {"plan": "no plan with code 'nope'"}),
            ({"plan": "pro", "plan_version": 7}, {"plan": "plan 'pro' has no version 7"}),
            ({"customer": "ghost"}, {"customer": "no customer with external_id 'ghost'"}),
            ({"plan": "euro"}, {"plan": "plan 'euro' is priced in EUR; customer 'cus_1' is billed in USD"}),
            (
                {"overrides": {"charges": {"api_calls": {"unit_amount": "-1"}}}},
                {"overrides.charges.api_calls.unit_amount": "must not be negative"},
            ),
            (
                {"overrides": {"charges": {"storage": {"unit_amount": "1"}}}},
                {"overrides.charges.storage": "the plan has no charge on metric 'storage'"},
            ),
            (
                {"overrides": {"charges": {"api_calls": {"tiers": []}}}},
                {"overrides.charges.api_calls.tiers": "is not a parameter of the per_unit model"},
            ),
            (
                {"overrides": {"features": {"calls_limit": "lots"}}},
                {"overrides.features.calls_limit": "must be an integer limit: -1 unlimited, 0 no access"},
            ),
            ({"overrides": {"features": {"sso": True}}}, {"overrides.features.sso": "the plan has no feature 'sso'"}),
            ({"overrides": {"prices": {}}}, {"overrides.prices": "unknown key; expected 'charges' or 'features'"}),
            ({"overrides": []}, {"overrides": "must be an object with 'charges' and/or 'features'"}),
        ],
    )
    def test_bad_input_is_refused_and_nothing_is_written(self, setup, kwargs, errors):
        with pytest.raises(ValidationError) as raised:
            subscribe(setup, **kwargs)
        detail = {key: str(value) for key, value in raised.value.detail.items()}
        assert detail.keys() == errors.keys()
        for key, message in errors.items():
            assert message in detail[key]
        assert not Subscription.objects.exists()

    def test_an_overlapping_subscription_to_the_same_plan_is_refused(self, setup):
        subscribe(setup)
        with pytest.raises(ValidationError) as raised:
            subscribe(setup, external_id="sub_2", start_date=date(2025, 1, 1))
        assert str(raised.value.detail["plan"]) == (
            "customer 'cus_1' already has subscription 'sub_1' to plan 'pro' in that time"
        )
        # Another plan is fine: a customer may hold several subscriptions.
        subscribe(setup, external_id="sub_3", plan="basic")
        assert Subscription.objects.count() == 2

    def test_a_new_subscription_may_start_where_the_old_one_ended(self, setup):
        subscription = subscribe(setup)
        services.subscription_cancel(subscription=subscription, effective="immediately", at=dt(2024, 9, 5))
        second = subscribe(setup, external_id="sub_2", start_date=date(2024, 9, 5))
        assert second.started_at == dt(2024, 9, 5)

    def test_a_duplicate_external_id_is_refused(self, setup):
        subscribe(setup)
        with pytest.raises(ValidationError) as raised:
            subscribe(setup, plan="basic")
        assert set(raised.value.detail) == {"external_id"}


class TestChangePlan:
    def test_at_period_end_the_new_plan_starts_at_the_next_boundary(self, setup):
        old = subscribe(setup)
        new = services.subscription_change_plan(subscription=old, plan="basic", at=dt(2024, 8, 20, 12))
        old.refresh_from_db()
        assert old.ends_at == dt(2024, 9, 1)
        assert (new.started_at, new.previous, new.external_id) == (dt(2024, 9, 1), old, "sub_1-2")
        assert new.plan_version.plan.code == "basic"
        assert (new.billing_day, new.billing_anchor) == (old.billing_day, old.billing_anchor)
        assert period(new, dt(2024, 9, 15)) == (dt(2024, 9, 1), dt(2024, 10, 1))
        assert selectors.subscription_status(old, dt(2024, 8, 31)) == "active"
        assert selectors.subscription_status(old, dt(2024, 9, 1)) == "terminated"
        assert selectors.subscription_status(new, dt(2024, 8, 31)) == "pending"

    def test_immediately_the_old_ends_and_the_new_starts_now(self, setup):
        old = subscribe(setup, billing_anchor="anniversary")
        at = dt(2024, 8, 20, 12, 30)
        new = services.subscription_change_plan(
            subscription=old, plan="basic", effective="immediately", external_id="sub_basic", at=at
        )
        old.refresh_from_db()
        assert old.ends_at == at and new.started_at == at
        assert new.external_id == "sub_basic"
        assert period(old, dt(2024, 8, 20)) == (dt(2024, 8, 10), at)

    def test_changing_to_the_same_version_or_a_foreign_currency_is_refused(self, setup):
        old = subscribe(setup)
        with pytest.raises(ValidationError) as raised:
            services.subscription_change_plan(subscription=old, plan="pro", at=dt(2024, 8, 20))
        assert str(raised.value.detail["plan"]) == "the subscription is already on this plan version"
        with pytest.raises(ValidationError) as raised:
            services.subscription_change_plan(subscription=old, plan="euro", at=dt(2024, 8, 20))
        assert "EUR" in str(raised.value.detail["plan"])
        with pytest.raises(ValidationError):
            services.subscription_change_plan(subscription=old, plan="draft", at=dt(2024, 8, 20))
        old.refresh_from_db()
        assert old.ends_at is None and Subscription.objects.count() == 1

    def test_a_changed_or_ended_subscription_cannot_change_again(self, setup):
        old = subscribe(setup)
        services.subscription_change_plan(subscription=old, plan="basic", at=dt(2024, 8, 20))
        with pytest.raises(Conflict):
            services.subscription_change_plan(subscription=old, plan="trial", at=dt(2024, 8, 21))
        with pytest.raises(Conflict):
            services.subscription_cancel(subscription=old, at=dt(2024, 8, 21))


class TestCancel:
    def test_at_period_end(self, setup):
        subscription = subscribe(setup)
        at = dt(2024, 8, 20, 9)
        canceled = services.subscription_cancel(subscription=subscription, at=at)
        assert (canceled.ends_at, canceled.canceled_at) == (dt(2024, 9, 1), at)
        assert period(canceled, dt(2024, 8, 31)) == (dt(2024, 8, 10), dt(2024, 9, 1))
        assert period(canceled, dt(2024, 9, 1)) is None

    def test_immediately(self, setup):
        subscription = subscribe(setup)
        at = dt(2024, 8, 20, 9)
        canceled = services.subscription_cancel(subscription=subscription, effective="immediately", at=at)
        assert (canceled.ends_at, canceled.canceled_at) == (at, at)

    def test_immediately_after_a_period_end_cancel_brings_the_end_forward(self, setup):
        subscription = subscribe(setup)
        services.subscription_cancel(subscription=subscription, at=dt(2024, 8, 20))
        again = services.subscription_cancel(subscription=subscription, at=dt(2024, 8, 21))
        assert again.ends_at == dt(2024, 9, 1)
        now = services.subscription_cancel(subscription=subscription, effective="immediately", at=dt(2024, 8, 22))
        assert (now.ends_at, now.canceled_at) == (dt(2024, 8, 22), dt(2024, 8, 20))

    def test_an_ended_subscription_cannot_be_canceled(self, setup):
        subscription = subscribe(setup)
        services.subscription_cancel(subscription=subscription, effective="immediately", at=dt(2024, 8, 20))
        with pytest.raises(Conflict):
            services.subscription_cancel(subscription=subscription, at=dt(2024, 8, 21))

    def test_a_bad_effective_is_a_400(self, setup):
        with pytest.raises(ValidationError) as raised:
            services.subscription_cancel(subscription=subscribe(setup), effective="tomorrow", at=dt(2024, 8, 20))
        assert set(raised.value.detail) == {"effective"}


def test_selectors_answer_which_subscriptions_are_active(setup):
    first = subscribe(setup)
    services.subscription_cancel(subscription=first, effective="immediately", at=dt(2024, 9, 5))
    second = subscribe(setup, external_id="sub_2", plan="basic", start_date=date(2024, 9, 1))
    customer = Customer.objects.get(external_id="cus_1")
    assert list(selectors.subscriptions_active(merchant=setup, at=dt(2024, 8, 15))) == [first]
    assert set(selectors.subscriptions_active(merchant=setup, at=dt(2024, 9, 2))) == {first, second}
    assert list(selectors.subscriptions_for_customer(customer=customer, at=dt(2024, 9, 5))) == [second]
