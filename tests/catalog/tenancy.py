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
    ctx.update(metric=metric, feature=feature, plan=plan, plan_version=plan_version_latest(plan=plan))
