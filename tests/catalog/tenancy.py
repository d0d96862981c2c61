"""Catalog records for the tenant-isolation walk: a metric, a feature, and a plan with a published version."""

from decimal import Decimal

from catalog import services
from catalog.selectors import plan_version_latest


def populate(merchant, ctx: dict) -> None:
    # Both merchants of the walk are populated and the routes look records up by code, so each merchant's
    # codes differ: the intruder must not find a record of its own under the owner's code.
    suffix = merchant.pk
    metric = services.metric_create(
        merchant=merchant, code=f"api_calls_{suffix}", name="API calls", event_codes=["api_call"], group_by=["region"]
    )
    feature = services.feature_create(
        merchant=merchant,
        key=f"api_calls_limit_{suffix}",
        name="API calls",
        kind="limit",
        metric=metric,
        default_limit=1000,
    )
    plan = services.plan_create(
        merchant=merchant,
        code=f"pro_{suffix}",
        name="Pro",
        content={
            "currency": "USD",
            "base_fee": Decimal("49.00"),
            "charges": [
                {
                    "metric": metric,
                    "model": "per_unit",
                    "params": {"unit_amount": "0.01"},
                    "included_units": Decimal("1000"),
                }
            ],
            "features": [{"feature": feature, "limit": 100000, "enforcement": "hard"}],
        },
    )
    services.plan_publish(plan=plan)
    # A draft too, with a line in each list, for the cockpit pages that edit a draft (tests/catalog/test_pages_tenancy).
    draft_plan = services.plan_create(
        merchant=merchant,
        code=f"team_{suffix}",
        name="Team",
        content={
            "currency": "USD",
            "charges": [
                {"metric": metric, "model": "tiered", "params": {"tiers": [{"up_to": None, "unit_amount": "1"}]}}
            ],
            "features": [{"feature": feature, "limit": 10}],
            "one_time_fees": [{"name": "Onboarding", "amount": Decimal("100")}],
        },
    )
    ctx.update(metric=metric, feature=feature, plan=plan, plan_version=plan_version_latest(plan=plan),
               draft_plan=draft_plan)  # fmt: skip
