"""Small builders for catalog tests: the metrics and features behind SPEC §8's example plan."""

import copy

from catalog import services


def spec_catalog(merchant) -> dict:
    """The metrics and features the SPEC §8 plan refers to (plus a sum metric for percentage charges)."""
    metrics = {
        "api_calls": services.metric_create(
            merchant=merchant, code="api_calls", name="API calls", event_codes=["api_call"]
        ),
        "storage_gb": services.metric_create(
            merchant=merchant, code="storage_gb", name="Storage", event_codes=["storage"], aggregation="max", field="gb"
        ),
        "requests_by_region": services.metric_create(
            merchant=merchant, code="requests_by_region", name="Requests", event_codes=["request"], group_by=["region"]
        ),
        "payments": services.metric_create(
            merchant=merchant,
            code="payments",
            name="Payments",
            event_codes=["payment"],
            aggregation="sum",
            field="amount",
        ),
    }
    features = {
        "api_calls_limit": services.feature_create(
            merchant=merchant, key="api_calls_limit", name="API calls", kind="limit", metric=metrics["api_calls"]
        ),
        "sso": services.feature_create(merchant=merchant, key="sso", name="SSO", kind="boolean"),
        "support_hours": services.feature_create(
            merchant=merchant, key="support_hours", name="Support hours", kind="value"
        ),
    }
    return {**metrics, **features}


SPEC_PLAN = {
    "code": "pro",
    "name": "Pro",
    "currency": "USD",
    "interval": "month",
    "interval_count": 1,
    "base_fee": "49.00",
    "base_fee_timing": "in_advance",
    "trial_days": 0,
    "charges": [
        {
            "metric": "api_calls",
            "model": "tiered",
            "included_units": "1000",
            "tiers": [
                {"up_to": "10000", "unit_amount": "0.01", "flat_amount": "0"},
                {"up_to": None, "unit_amount": "0.005", "flat_amount": "0"},
            ],
        },
        {"metric": "storage_gb", "model": "package", "package_size": "10", "amount": "5.00", "timing": "in_arrears"},
        {
            "metric": "requests_by_region",
            "model": "matrix",
            "dimensions": ["region"],
            "rows": [{"match": {"region": "eu"}, "unit_amount": "0.02"}],
            "default_unit_amount": "0.05",
        },
    ],
    "features": [
        {"feature": "api_calls_limit", "limit": 1000000, "enforcement": "hard"},
        {"feature": "sso", "enabled": True},
        {"feature": "support_hours", "value": "4"},
    ],
    "one_time_fees": [{"name": "Onboarding", "amount": "500.00"}],
}


def spec_plan(**changes) -> dict:
    """A fresh deep copy of the SPEC §8 plan payload with top-level ``changes``."""
    return {**copy.deepcopy(SPEC_PLAN), **changes}
