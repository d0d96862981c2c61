"""plan_version_for_subscription: the one door from a plan code to the version a new subscription starts on."""

import pytest
from rest_framework.exceptions import ValidationError

from catalog import services
from catalog.selectors import plan_version_for_subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(tenant):
    return services.plan_create(merchant=tenant.merchant, code="pro", name="Pro", content={"currency": "USD"})


def refused(merchant, **kwargs) -> dict:
    with pytest.raises(ValidationError) as raised:
        plan_version_for_subscription(merchant=merchant, **kwargs)
    return raised.value.detail


def test_an_unknown_plan_is_refused_on_the_plan_field(tenant):
    assert refused(tenant.merchant, plan_code="nope") == {"plan": "no plan with code 'nope'"}


def test_another_merchants_plan_is_unknown(plan, other_tenant):
    services.plan_publish(plan=plan)
    assert refused(other_tenant.merchant, plan_code="pro") == {"plan": "no plan with code 'pro'"}


def test_a_plan_with_only_a_draft_is_refused(tenant, plan):
    assert refused(tenant.merchant, plan_code="pro") == {
        "plan": "plan 'pro' has no published version yet (publish its draft)"
    }


def test_the_newest_published_version_is_chosen_and_a_later_draft_ignored(tenant, plan):
    services.plan_publish(plan=plan)
    services.plan_version_create(plan=plan)
    services.plan_publish(plan=plan)
    services.plan_version_create(plan=plan)
    assert plan_version_for_subscription(merchant=tenant.merchant, plan_code="pro").version == 2


def test_an_older_published_version_may_be_named(tenant, plan):
    services.plan_publish(plan=plan)
    services.plan_version_create(plan=plan)
    services.plan_publish(plan=plan)
    assert plan_version_for_subscription(merchant=tenant.merchant, plan_code="pro", version=1).version == 1


def test_a_named_draft_or_missing_version_is_refused(tenant, plan):
    services.plan_publish(plan=plan)
    services.plan_version_create(plan=plan)
    assert refused(tenant.merchant, plan_code="pro", version=2) == {
        "plan": "version 2 of plan 'pro' is a draft; publish it first"
    }
    assert refused(tenant.merchant, plan_code="pro", version=9) == {"plan": "plan 'pro' has no version 9"}


def test_an_archived_plan_is_refused(tenant, plan):
    services.plan_publish(plan=plan)
    services.plan_archive(plan=plan)
    assert refused(tenant.merchant, plan_code="pro") == {
        "plan": "plan 'pro' is archived and accepts no new subscriptions"
    }
    assert refused(tenant.merchant, plan_code="pro", version=1) == {
        "plan": "plan 'pro' is archived and accepts no new subscriptions"
    }
