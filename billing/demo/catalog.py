"""Demo steps: the catalog (metrics of every aggregation, features, plans of every pricing model)."""

from datetime import timedelta

from billing.demo.base import D
from catalog.models import Plan
from catalog.services import feature_create, metric_create, plan_create, plan_publish, plan_update, plan_version_create
from customers.models import BillingRule
from customers.services import billing_rule_create


class CatalogSteps:
    # --- catalog ----------------------------------------------------------------------------------------------

    def catalog(self) -> None:
        m = self.merchant
        definitions = [
            ("api_calls", "API calls", {"event_codes": ["api_call"], "aggregation": "count"}),
            ("requests_by_region", "Requests by region",
             {"event_codes": ["api_call"], "aggregation": "count", "group_by": ["region"]}),
            ("api_calls_hourly", "API calls per hour",
             {"event_codes": ["api_call"], "aggregation": "count", "period": "rolling", "window_seconds": 3600}),
            ("active_users", "Monthly active users",
             {"event_codes": ["api_call"], "aggregation": "unique_count", "field": "user"}),
            ("storage_gb", "Storage (peak GB)", {"event_codes": ["storage"], "aggregation": "max", "field": "gb"}),
            ("storage_gb_current", "Storage (current GB)",
             {"event_codes": ["storage"], "aggregation": "latest", "field": "gb"}),
            ("storage_gb_floor", "Storage (low-water GB)",
             {"event_codes": ["storage"], "aggregation": "min", "field": "gb"}),
            ("seats", "Seats", {"event_codes": ["seat"], "aggregation": "weighted_sum", "field": "delta"}),
            ("payment_volume", "Payment volume",
             {"event_codes": ["payment"], "aggregation": "sum", "field": "amount",
              "filters": {"status": ["succeeded"]}}),
            ("compute_hours", "Compute hours", {"event_codes": ["compute"], "aggregation": "sum", "field": "hours"}),
            ("exports", "Data exports", {"event_codes": ["export"], "aggregation": "count"}),
        ]  # fmt: skip
        for code, name, fields in definitions:
            self.metrics[code] = metric_create(merchant=m, code=code, name=name, **fields)
        mt = self.metrics
        for key, name, kind, extra in [
            ("api_calls_limit", "API calls per month", "limit", {"metric": mt["api_calls"]}),
            ("api_rate_limit", "API calls per hour", "limit", {"metric": mt["api_calls_hourly"]}),
            ("sso", "Single sign-on", "boolean", {}),
            ("audit_log", "Audit log", "boolean", {}),
            ("support_hours", "Support response time (hours)", "value", {"default_value": "72"}),
            ("data_retention_days", "Data retention (days)", "value", {"default_value": "30"}),
        ]:
            self.features[key] = feature_create(merchant=m, key=key, name=name, kind=kind, **extra)
        published = self.start - timedelta(days=200)

        def tiers(*bands):
            return [{"up_to": up_to, "unit_amount": unit, "flat_amount": flat} for up_to, unit, flat in bands]

        def features(limit, rate, sso, audit, support, retention):
            f = self.features
            return [
                {"feature": f["api_calls_limit"], "limit": limit, "enforcement": "hard"},
                {"feature": f["api_rate_limit"], "limit": rate, "enforcement": "soft"},
                {"feature": f["sso"], "enabled": sso},
                {"feature": f["audit_log"], "enabled": audit},
                {"feature": f["support_hours"], "value": support},
                {"feature": f["data_retention_days"], "value": retention},
            ]

        storage = {"metric": mt["storage_gb"], "model": "package", "params": {"package_size": "10", "amount": "5.00"},
                   "included_units": D("10"), "description": "Storage, per started 10 GB above 10 GB"}  # fmt: skip
        plans = {
            "starter": ("Starter", "For small teams getting started.", {
                "currency": "USD", "base_fee": D("29.00"),
                "charges": [
                    {"metric": mt["api_calls"], "model": "per_unit", "params": {"unit_amount": "0.002"},
                     "included_units": D("1000")},
                    {"metric": mt["seats"], "model": "package", "params": {"package_size": "1", "amount": "8.00"},
                     "timing": "in_advance", "description": "Seats, billed in advance"},
                ],
                "features": features(20_000, 600, False, False, "48", "30"),
            }),
            "growth": ("Growth", "Usage-based API pricing with storage and active users.", {
                "currency": "USD", "base_fee": D("99.00"),
                "charges": [
                    {"metric": mt["api_calls"], "model": "tiered", "params": {"tiers": tiers(
                        ("10000", "0.004", "0"), ("100000", "0.002", "0"), (None, "0.001", "0"))}},
                    storage,
                    {"metric": mt["active_users"], "model": "stairstep", "params": {"steps": [
                        {"up_to": "25", "amount": "19.00"}, {"up_to": "100", "amount": "49.00"},
                        {"up_to": None, "amount": "149.00"}]}},
                ],
                "features": features(200_000, 3_000, True, False, "24", "90"),
            }),
            "scale": ("Scale", "Compute, regional traffic and exports for platforms.", {
                "currency": "USD", "base_fee": D("499.00"),
                "charges": [
                    {"metric": mt["compute_hours"], "model": "volume", "minimum_amount": D("50.00"),
                     "params": {"tiers": tiers(("100", "0.40", "0"), ("1000", "0.30", "0"), (None, "0.22", "0"))}},
                    {"metric": mt["requests_by_region"], "model": "matrix", "params": {
                        "dimensions": ["region"], "default_unit_amount": "0.0012", "rows": [
                            {"match": {"region": "eu"}, "unit_amount": "0.0008"},
                            {"match": {"region": "us"}, "unit_amount": "0.0006"},
                            {"match": {"region": "ap"}, "unit_amount": "0.0010"}]}},
                    {"metric": mt["exports"], "model": "flat", "params": {"amount": "49.00"},
                     "description": "Data export add-on (any export in the month)"},
                    {"metric": mt["seats"], "model": "per_unit", "params": {"unit_amount": "5.00"}},
                ],
                "features": features(-1, 20_000, True, True, "4", "365"),
                "one_time_fees": [{"name": "Onboarding", "amount": D("1500.00")}],
            }),
            "payments": ("Payments", "2.9% + 30¢ per successful payment.", {
                "currency": "USD", "base_fee": D("0"),
                "charges": [
                    {"metric": mt["payment_volume"], "model": "percentage",
                     "params": {"rate": "0.029", "fixed_amount": "0.30"}},
                    {"metric": mt["api_calls"], "model": "per_unit", "params": {"unit_amount": "0.001"},
                     "included_units": D("10000"), "maximum_amount": D("200.00")},
                ],
                "features": features(100_000, 1_000, False, False, "24", "90"),
            }),
            "growth-eu": ("Growth (EUR)", "The Growth plan for customers billed in euros.", {
                "currency": "EUR", "base_fee": D("109.00"),
                "charges": [
                    {"metric": mt["api_calls"], "model": "tiered", "params": {"tiers": tiers(
                        ("10000", "0.004", "0"), ("100000", "0.0018", "0"), (None, "0.0009", "0"))}},
                    storage,
                    {"metric": mt["seats"], "model": "per_unit", "params": {"unit_amount": "6.00"}},
                ],
                "features": features(200_000, 3_000, True, False, "24", "90"),
            }),
            "enterprise": ("Enterprise (annual)", "Annual commitment with a large API allowance.", {
                "currency": "USD", "interval": "year", "base_fee": D("24000.00"),
                "charges": [
                    {"metric": mt["api_calls"], "model": "per_unit", "params": {"unit_amount": "0.0005"},
                     "included_units": D("1000000")},
                ],
                "features": features(-1, -1, True, True, "1", "730"),
            }),
        }  # fmt: skip
        self.plans: dict[str, Plan] = {}
        for code, (name, description, content) in plans.items():
            plan = plan_create(merchant=m, code=code, name=name, description=description, content=content)
            plan_publish(plan=plan, at=published)
            self.plans[code] = plan

        # Growth v2, launched during the window: a higher base fee, cheaper volume tiers, and seats. Customers who
        # subscribed before it stay on v1 (grandfathered).
        growth = self.plans["growth"]
        plan_version_create(plan=growth)
        v1_charges = plans["growth"][2]["charges"]
        api_v2 = {"metric": mt["api_calls"], "model": "tiered", "params": {"tiers": tiers(
            ("10000", "0.0035", "0"), ("100000", "0.0018", "0"), (None, "0.0008", "0"))}}  # fmt: skip
        seats = {"metric": mt["seats"], "model": "per_unit", "params": {"unit_amount": "6.00"}}
        plan_update(plan=growth, changes={"base_fee": D("119.00"), "charges": [api_v2, *v1_charges[1:], seats]})
        plan_publish(plan=growth, at=self.growth_v2_at)
        # A draft in progress: Starter v2 doubles the allowance for a higher base fee (published plans never change).
        starter = self.plans["starter"]
        plan_version_create(plan=starter)
        calls, seats_in_advance = plans["starter"][2]["charges"]
        plan_update(
            plan=starter, changes={"base_fee": D("35.00"), "charges": [{**calls, "included_units": D("2000")},
                                                                      seats_in_advance]}
        )  # fmt: skip

        billing_rule_create(merchant=m, name="Northwind staff accounts", target=BillingRule.Target.USER,
                            pattern="*@northwind.example")  # fmt: skip
        billing_rule_create(merchant=m, name="Sandbox customers", target=BillingRule.Target.CUSTOMER,
                            pattern="*sandbox*")  # fmt: skip
