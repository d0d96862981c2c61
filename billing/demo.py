"""Demo data: a living merchant for the cockpit's first run (SPEC §9, ``python manage.py seed_demo``).

``demo_seed`` builds *Northwind Cloud* through the real services only, in the order a merchant would live it:
catalog (metrics of every aggregation, features, plans covering every pricing model, a grandfathered v1/v2),
customers (a reseller with children, a test customer, USD and EUR), users provisioned over time (their seat
events come from provisioning), subscriptions (calendar and anniversary anchors, trials, a cancellation, plan
changes), credit grants, three months of usage events ending at ``now`` (``events_ingest`` in batches of 1,000),
the metrics' pre-aggregated state (``metric_state_rebuild``, the documented backfill), then the nightly billing
run for every past midnight, payments on the older invoices, two credit notes (``credit_note_issue``), and the
invoice PDFs (the task function).

Everything random comes from one seeded generator, so the same ``now`` and ``scale`` give the same data.
``scale`` multiplies the filler customers and the event volume (1.0: ~48 customers, ~150,000 events); the
customers that demonstrate a feature (trial, churn, reseller, …) are always there.
"""

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from atlas.models import Merchant
from atlas.money import round_line
from atlas.services import merchant_update
from billing.credit_notes import credit_note_issue
from billing.credits import credit_grant_create
from billing.engine import billing_run
from billing.models import Invoice, InvoiceLine, Subscription
from billing.services import invoice_mark_paid
from billing.subscriptions import subscription_cancel, subscription_change_plan, subscription_create
from billing.tasks import invoice_render_pdf
from catalog.models import Feature, Metric, Plan
from catalog.services import (
    feature_create,
    metric_create,
    plan_create,
    plan_publish,
    plan_update,
    plan_version_create,
)
from customers.models import BillingRule, Customer
from customers.services import billing_rule_create, customer_create
from metering.models import Event
from metering.provisioning import Actor, user_deprovision, user_provision
from metering.services import events_ingest, metric_state_rebuild

D = Decimal
SEED = 20250101
BATCH = 1_000
HISTORY_DAYS = 92
SIGNUP_LEAD_DAYS = 30
CUSTOMERS_AT_SCALE_1 = 48
EVENTS_AT_SCALE_1 = 150_000
ACTOR = Actor(label="seed_demo")
REGIONS_BY_COUNTRY = {"US": "us", "CA": "us", "BR": "sa", "JP": "ap", "AU": "ap", "SG": "ap", "IN": "ap"}
EUR_COUNTRIES = {"DE", "FR", "NL", "ES", "IT", "IE", "FI"}
ENDPOINTS = ("/v1/search", "/v1/items", "/v1/orders", "/v1/users", "/v1/reports", "/v1/exports")
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam",
               "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa")  # fmt: skip
LAST_NAMES = ("Adler", "Brooks", "Chen", "Diaz", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
              "Lopez", "Moreau", "Okafor", "Patel", "Rossi")  # fmt: skip
# Filler customers: (name, country). The first CUSTOMERS_AT_SCALE_1 minus the featured ones are used at scale 1.
COMPANIES = (
    ("Acme Robotics", "US"), ("Blue Harbor Analytics", "GB"), ("Cobalt Health", "US"), ("Dunmore Logistics", "GB"),
    ("Ember Studios", "CA"), ("Fjord Data", "FI"), ("Granite Labs", "US"), ("Helios Energy", "DE"),
    ("Ironclad Security", "US"), ("Juniper Travel", "GB"), ("Kestrel Finance", "IE"), ("Lumen Education", "US"),
    ("Meridian Maps", "NL"), ("Nimbus Weather", "US"), ("Orchid Retail", "SG"), ("Pinnacle Legal", "GB"),
    ("Quartz Media", "FR"), ("Redwood Games", "US"), ("Saffron Kitchens", "IN"), ("Tidal Marine", "AU"),
    ("Upland Farms", "US"), ("Vertex Biotech", "DE"), ("Willow Insurance", "GB"), ("Xenon Motors", "JP"),
    ("Yellowtail Foods", "US"), ("Zephyr Aviation", "ES"), ("Atlas Copperworks", "US"), ("Beacon Hospitality", "GB"),
    ("Cinder Gaming", "US"), ("Delta Dental Group", "US"), ("Evergreen Realty", "CA"), ("Foxglove Pharma", "GB"),
    ("Gull Island Resorts", "US"), ("Harbor Freightways", "US"), ("Indigo Fashion", "IT"), ("Jade Logistics", "SG"),
    ("Koala Kids", "AU"), ("Lattice Semiconductors", "US"), ("Mosaic Architecture", "NL"), ("Northstar Outdoors", "US"),
    ("Opal Jewelry", "GB"), ("Prairie Wind Power", "US"), ("Quill Publishing", "GB"), ("Riverbend Clinics", "US"),
    ("Sable Audio", "DE"), ("Terra Mining", "BR"), ("Umber Coffee", "US"), ("Violet Cosmetics", "FR"),
)  # fmt: skip


class DemoExists(Exception):
    """The demo was already loaded for this login."""


@dataclass
class _Customer:
    customer: Customer
    signup: datetime
    weight: float
    region: str
    plan: str = ""
    users: list = field(default_factory=list)  # (external_id, provisioned_at, deprovisioned_at | None)
    active_until: datetime | None = None  # usage stops here (churned)
    computes: bool = False
    pays: bool = False


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


class _Seeder:
    def __init__(self, *, email: str, password: str, now: datetime, scale: float, log: Callable[[str], None]):
        self.email, self.password = email, password
        self.now = now
        self.today = _midnight(now.date())
        self.origin = self.today - timedelta(days=HISTORY_DAYS)  # three months of usage ending now
        self.start = self.origin - timedelta(days=SIGNUP_LEAD_DAYS)  # the earliest sign-up
        self.growth_v2_at = self.origin + timedelta(days=20)
        self.scale = scale
        self.log = log
        self.rng = random.Random(SEED)
        self.customers: dict[str, _Customer] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.metrics: dict[str, Metric] = {}
        self.features: dict[str, Feature] = {}
        self.events_sent = 0

    def day(self, days_ago: float, hour: int = 0) -> datetime:
        return self.today - timedelta(days=days_ago) + timedelta(hours=hour)

    # --- the merchant -----------------------------------------------------------------------------------------

    def merchant_create(self) -> Merchant:
        from atlas.services import merchant_create

        merchant, _, _ = merchant_create(
            name="Northwind Cloud",
            email=self.email,
            password=self.password,
            billing_day=1,
            invoice_prefix="NWC",
            default_tax_rate=D("0.20"),
            invoice_grace_hours=0,
            timezone="UTC",
            payment_terms_days=30,
            company_address="18 Finsbury Square\nLondon EC2A 1AH\nUnited Kingdom",
            company_tax_id="GB 284 1937 55",
        )
        self.merchant = merchant_update(
            merchant=merchant, company_name="Northwind Cloud Ltd", company_email="billing@northwind.example"
        )
        return self.merchant

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

    # --- customers --------------------------------------------------------------------------------------------

    def customer_add(self, name: str, country: str, signup: datetime, *, weight: float | None = None,
                     parent: str = "", metadata: dict | None = None, **fields) -> _Customer:  # fmt: skip
        slug = _slug(name)
        external_id = f"cus_{slug.replace('-', '_')}"
        currency = "EUR" if country in EUR_COUNTRIES else "USD"
        if country == "GB":
            tax = {}  # the merchant's default (UK VAT)
        else:
            tax = {"tax_rate": D("0")}  # exports and EU reverse charge
        rng = self.rng
        metadata = metadata or {}
        customer = customer_create(
            merchant=self.merchant,
            external_id=external_id,
            name=name,
            parent=parent or None,
            email=f"billing@{slug}.example",
            currency=currency,
            address_line1=f"{rng.randint(1, 240)} {rng.choice(('Market', 'Station', 'Harbour', 'Park'))} Street",
            city={"US": "Austin", "GB": "Manchester", "DE": "Berlin", "FR": "Lyon", "NL": "Utrecht", "IE": "Dublin",
                  "FI": "Helsinki", "ES": "Valencia", "IT": "Milan", "CA": "Toronto", "SG": "Singapore",
                  "AU": "Melbourne", "JP": "Osaka", "IN": "Pune", "BR": "Curitiba"}.get(country, ""),
            postal_code=f"{rng.randint(10000, 99999)}",
            country=country,
            metadata={"segment": rng.choice(("smb", "smb", "mid-market", "enterprise")),
                      "account_manager": rng.choice(("Priya Patel", "Jonas Weber", "Maya Chen")), **metadata},
            **tax,
            **fields,
        )  # fmt: skip
        # The customers app has no service to import a historical sign-up date, and a subscription may not start
        # before its customer was created: backdate the new row to its demo sign-up.
        Customer.objects.filter(pk=customer.pk).update(created_at=signup)
        customer.created_at = signup
        entry = _Customer(
            customer=customer,
            signup=signup,
            weight=weight if weight is not None else math.exp(rng.gauss(0, 0.8)),
            region="eu" if country in EUR_COUNTRIES or country == "GB" else REGIONS_BY_COUNTRY.get(country, "us"),
        )
        self.customers[external_id] = entry
        return entry

    def subscribe(self, entry: _Customer, plan: str, *, anchor: str = "calendar",
                  trial_days: int | None = None) -> Subscription:  # fmt: skip
        """Subscribe from the sign-up day; Growth subscribers from before v2 launched stay on v1."""
        external_id = f"sub_{entry.customer.external_id[4:]}"
        version = 1 if plan == "growth" and entry.signup < self.growth_v2_at else None
        subscription = subscription_create(
            merchant=self.merchant, external_id=external_id, customer=entry.customer.external_id, plan=plan,
            plan_version=version, start_date=entry.signup.date(), billing_anchor=anchor, trial_days=trial_days,
        )  # fmt: skip
        entry.plan = plan
        entry.computes = entry.computes or plan == "scale"
        entry.pays = entry.pays or plan == "payments"
        self.subscriptions[external_id] = subscription
        return subscription

    def customers_create(self) -> None:
        rng = self.rng
        add, sub, day = self.customer_add, self.subscribe, self.day
        lead = HISTORY_DAYS + SIGNUP_LEAD_DAYS

        # Featured customers: each shows one thing the cockpit must explain.
        globex = add("Globex Holdings", "US", day(lead, 10), weight=3.0, metadata={"segment": "reseller"})
        sub(globex, "scale")
        for name, plan, ago in (("Globex Retail", "starter", lead - 5), ("Globex Logistics", "growth", 100),
                                ("Globex Media", "starter", 45)):  # fmt: skip
            sub(add(name, "US", day(ago, 11), parent=globex.customer.external_id), plan)
        massive = add("Massive Dynamic", "US", day(118, 9), weight=4.0)
        sub(massive, "scale", anchor="anniversary")
        wayne = add("Wayne Enterprises", "US", day(70, 10), weight=5.0)
        sub(wayne, "enterprise")
        stark = add("Stark Payments", "US", day(105, 13), weight=2.0)
        sub(stark, "payments", anchor="anniversary")
        vandelay = add("Vandelay Imports", "GB", day(lead - 1, 9), weight=1.2)
        sub(vandelay, "growth")  # grandfathered on v1
        soylent = add("Soylent Foods", "US", day(lead - 2, 14), weight=1.0)
        sub(soylent, "growth")  # on v1, moving to v2 at the next boundary
        hooli = add("Hooli", "US", day(115, 10), weight=2.5)
        sub(hooli, "starter")  # upgrades to Growth mid-period
        umbrella = add("Umbrella Analytics", "GB", day(112, 12), weight=0.8)
        sub(umbrella, "growth")  # churns
        pied = add("Pied Piper", "US", day(95, 15), weight=0.7)
        sub(pied, "starter")  # cancels at the end of this period
        initech = add("Initech", "US", day(9, 10), weight=0.6)
        sub(initech, "starter", trial_days=14)  # still in its trial
        cyberdyne = add("Cyberdyne Systems GmbH", "DE", day(100, 9), weight=1.5)
        sub(cyberdyne, "growth-eu")
        tyrell = add("Tyrell Sandbox", "US", day(25, 16), weight=1.0, is_test=True)
        sub(tyrell, "scale")  # a test customer: metered, never billed

        featured = len(self.customers)
        fillers = max(0, round(CUSTOMERS_AT_SCALE_1 * self.scale) - featured)
        for index, (name, country) in enumerate(COMPANIES[:fillers]):
            # Most signed up in the first month; a third during the window (new business on the dashboard).
            ago = rng.randint(HISTORY_DAYS, lead) if index % 3 else rng.randint(15, HISTORY_DAYS - 5)
            fields = {}
            if index == 5:
                ago = 35  # signed recently, billed from its go-live date two weeks later
                fields["billing_starts_on"] = (self.today - timedelta(days=ago - 14)).date()
            entry = add(name, country, day(ago, rng.randint(8, 17)), **fields)
            if entry.customer.currency == "EUR":
                plan = "growth-eu"
            else:
                plan = rng.choices(("starter", "growth", "scale", "payments"), weights=(5, 5, 2, 1))[0]
            anchor = "anniversary" if index % 4 == 3 else "calendar"
            sub(entry, plan, anchor=anchor, trial_days=14 if index % 9 == 4 else None)
            if plan != "payments" and index % 7 == 2:
                entry.pays = True  # payment events metered outside their plan: visible, not billed
        self.featured = {"hooli": hooli, "umbrella": umbrella, "pied": pied, "soylent": soylent,
                         "massive": massive, "cyberdyne": cyberdyne, "wayne": wayne, "vandelay": vandelay}  # fmt: skip

    def lifecycle(self) -> None:
        """Plan changes and cancellations, at the past instants they happened."""
        f = self.featured
        hooli_sub = self.subscriptions["sub_hooli"]
        # An upgrade mid-period, effective immediately: a final invoice with the unused base fee credited back.
        self.subscriptions["sub_hooli-2"] = subscription_change_plan(
            subscription=hooli_sub, plan="growth", effective="immediately", at=self.day(40, 14)
        )
        f["hooli"].plan = "growth"
        # Churn: cancelled at period end two months ago; its usage stopped then.
        umbrella = subscription_cancel(subscription=self.subscriptions["sub_umbrella_analytics"], at=self.day(65))
        f["umbrella"].active_until = umbrella.ends_at
        # Cancelling at the end of the current period (still active).
        subscription_cancel(subscription=self.subscriptions["sub_pied_piper"], at=self.day(3, 10))
        # A grandfathered customer moving to Growth v2 at the next boundary.
        self.subscriptions["sub_soylent_foods-2"] = subscription_change_plan(
            subscription=self.subscriptions["sub_soylent_foods"], plan="growth", plan_version=2,
            effective="period_end", at=self.day(2, 11),
        )  # fmt: skip

    # --- users ------------------------------------------------------------------------------------------------

    def users_provision(self) -> None:
        rng = self.rng
        for entry in self.customers.values():
            customer = entry.customer
            domain = customer.email.split("@", 1)[1]
            count = max(2, min(30, round(3 + entry.weight * 4 * rng.uniform(0.6, 1.4))))
            people = []
            for number in range(count):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                # The first users arrive with the sign-up, the rest over the following weeks.
                delay = rng.uniform(0, 2) if number < 2 else rng.uniform(0, 120)
                at = entry.signup + timedelta(days=delay, hours=rng.uniform(8, 10))
                if at >= self.now - timedelta(hours=1):
                    continue
                email = f"{first.lower()}.{last.lower()}@{domain}"
                people.append((at, f"u-{number + 1:03d}", email, f"{first} {last}"))
            # A Northwind support engineer with access to bigger accounts: excluded from billing by a rule.
            if entry.weight > 2:
                at = entry.signup + timedelta(days=1, hours=15)
                people.append((at, "nw-support", "support@northwind.example", "Northwind Support"))
            for at, external_id, email, name in sorted(people):
                user = user_provision(customer=customer, external_id=external_id, email=email, name=name,
                                      provisioned_at=at, actor=ACTOR)  # fmt: skip
                left = None
                if external_id.startswith("u-") and rng.random() < 0.15:
                    candidate = at + timedelta(days=rng.uniform(10, 90))
                    if candidate < self.now - timedelta(hours=1):
                        user_deprovision(user=user, at=candidate, actor=ACTOR)
                        left = candidate
                entry.users.append((external_id, at, left))

    # --- credits ----------------------------------------------------------------------------------------------

    def credits_grant(self) -> None:
        rng = self.rng
        m, f = self.merchant, self.featured
        massive = f["massive"]
        credit_grant_create(merchant=m, customer=massive.customer, amount=D("5000.00"), currency="USD", priority=50,
                            granted_at=massive.signup, reason="Prepaid commitment (annual contract)")  # fmt: skip
        hooli = f["hooli"]
        credit_grant_create(merchant=m, customer=hooli.customer, amount=D("250.00"), currency="USD", priority=1,
                            granted_at=self.day(35, 16), expires_at=self.day(-60),
                            reason="Service credit: API latency incident")  # fmt: skip
        vandelay = f["vandelay"]
        credit_grant_create(merchant=m, customer=vandelay.customer, amount=D("100.00"), currency="USD", priority=10,
                            granted_at=vandelay.signup, expires_at=vandelay.signup + timedelta(days=30),
                            reason="Trial credit (unused remainder expires)")  # fmt: skip
        cyberdyne = f["cyberdyne"]
        credit_grant_create(merchant=m, customer=cyberdyne.customer, amount=D("150.00"), currency="EUR",
                            granted_at=self.day(50), reason="Goodwill credit")  # fmt: skip
        featured = {id(entry) for entry in f.values()}
        for entry in self.customers.values():
            if entry.customer.parent_id or id(entry) in featured or entry.customer.is_test or rng.random() > 0.35:
                continue
            granted = entry.signup
            credit_grant_create(
                merchant=m, customer=entry.customer, amount=D(rng.choice(("50.00", "100.00", "200.00"))),
                currency=entry.customer.currency, priority=10, granted_at=granted,
                expires_at=granted + timedelta(days=60), reason="Welcome credit",
            )  # fmt: skip

    # --- usage ------------------------------------------------------------------------------------------------

    def _days(self, entry: _Customer):
        """(day start, day end) of every day of the window the customer was using the product."""
        start = entry.signup
        end = min(entry.active_until or self.now, self.now)
        day = _midnight(start.date())
        while day < end:
            yield max(day, start), min(day + timedelta(days=1), end)
            day += timedelta(days=1)

    def _intensity(self, day: datetime) -> float:
        """Usage grows through the window and drops at weekends."""
        progress = (day - self.start) / (self.now - self.start)
        return (0.7 + 0.6 * progress) * (0.45 if day.weekday() >= 5 else 1.0)

    def events_generate(self) -> list[dict]:
        rng = self.rng
        target = EVENTS_AT_SCALE_1 * self.scale
        entries = list(self.customers.values())
        days = {entry.customer.external_id: list(self._days(entry)) for entry in entries}
        storage = sum(len(spans) for spans in days.values())
        computing = [e for e in entries if e.computes]
        paying = [e for e in entries if e.pays]
        shares = {"compute": 0.04 if computing else 0, "payment": 0.05 if paying else 0, "export": 0.004}
        api_target = max(0.0, target - storage - sum(shares.values()) * target)

        def rate(group, budget):
            mass = sum(e.weight * self._intensity(s) * (s2 - s) / timedelta(days=1)
                       for e in group for s, s2 in days[e.customer.external_id])  # fmt: skip
            return budget / mass if mass else 0.0

        api_rate = rate(entries, api_target)
        compute_rate = rate(computing, shares["compute"] * target)
        payment_rate = rate(paying, shares["payment"] * target)
        export_rate = rate(entries, shares["export"] * target)

        payloads: list[dict] = []
        sequence = 0

        def emit(entry, code, at, properties):
            nonlocal sequence
            sequence += 1
            payloads.append({
                "transaction_id": f"demo-{sequence:07d}", "customer": entry.customer.external_id, "code": code,
                "timestamp": at.isoformat(), "properties": properties,
            })  # fmt: skip

        def count(expected):
            whole = int(expected)
            return whole + (1 if rng.random() < expected - whole else 0)

        for entry in entries:
            level = round(entry.weight * rng.uniform(15, 60), 2)
            regions = [entry.region] * 6 + ["us", "eu", "ap", "sa"]
            for start, end in days[entry.customer.external_id]:
                span = (end - start).total_seconds()
                fraction = span / 86400
                factor = entry.weight * self._intensity(start) * fraction

                def instant(start=start, span=span):
                    return start + timedelta(seconds=int(rng.random() * span))

                active = [u for u, since, left in entry.users if since <= end and (left is None or left > start)]
                active = [u for u in active if u != "nw-support"] or ["u-001"]
                for _ in range(count(api_rate * factor * rng.uniform(0.8, 1.2))):
                    emit(entry, "api_call", instant(), {
                        "user": rng.choice(active), "region": rng.choice(regions),
                        "endpoint": rng.choice(ENDPOINTS), "status": rng.choice((200,) * 19 + (429,)),
                    })  # fmt: skip
                level = max(1.0, round(level * rng.uniform(0.995, 1.02) + rng.uniform(0, 0.5), 2))
                emit(entry, "storage", start + timedelta(seconds=min(span - 1, 3600 * 2 + rng.randint(0, 600))),
                     {"gb": f"{level:.2f}"})  # fmt: skip
                if entry.computes:
                    for _ in range(count(compute_rate * factor)):
                        emit(
                            entry,
                            "compute",
                            instant(),
                            {"hours": f"{rng.uniform(0.25, 6):.2f}", "instance": rng.choice(("small", "large", "gpu"))},
                        )
                if entry.pays:
                    for _ in range(count(payment_rate * factor)):
                        status = "failed" if rng.random() < 0.06 else "succeeded"
                        amount = f"{math.exp(rng.gauss(3.6, 0.9)):.2f}"
                        emit(entry, "payment", instant(), {"amount": amount, "currency": "USD", "status": status})
                for _ in range(count(export_rate * factor)):
                    emit(entry, "export", instant(), {"format": rng.choice(("csv", "parquet"))})
        payloads.sort(key=lambda payload: payload["timestamp"])
        return payloads

    def events_send(self, payloads: list[dict]) -> int:
        """Ingest in batches of 1,000, each received just after its last event (as a live feed would be)."""
        accepted = 0
        for offset in range(0, len(payloads), BATCH):
            batch = payloads[offset : offset + BATCH]
            received = min(self.now, datetime.fromisoformat(batch[-1]["timestamp"]) + timedelta(seconds=30))
            result = events_ingest(merchant=self.merchant, payloads=batch, received_at=received)
            if result.rejected:
                errors = [r.errors for r in result.results if r.status == "rejected"][:3]
                raise RuntimeError(f"demo events were rejected: {errors}")
            accepted += result.accepted
        return accepted

    def state_rebuild(self) -> None:
        for metric in self.metrics.values():
            metric_state_rebuild(metric=metric, force=True)

    # --- billing ----------------------------------------------------------------------------------------------

    def bill(self) -> int:
        """The nightly run at every past midnight since the first subscription, then once at ``now``."""
        first = min(s.started_at for s in self.subscriptions.values())
        day = _midnight(first.date()) + timedelta(days=1)
        runs = 0
        while day <= self.now:
            billing_run(as_of=day, merchant=self.merchant, trigger="seed_demo")
            day += timedelta(days=1)
            runs += 1
        billing_run(as_of=self.now, merchant=self.merchant, trigger="seed_demo")
        return runs + 1

    def payments_record(self) -> None:
        """Most customers pay within three weeks; a few invoices stay open (some overdue)."""
        rng = self.rng
        invoices = Invoice.objects.filter(merchant=self.merchant, status=Invoice.Status.FINALIZED).order_by("pk")
        for invoice in invoices:
            paid_at = invoice.finalized_at + timedelta(days=rng.uniform(1, 21), hours=rng.uniform(0, 8))
            if paid_at < self.now and rng.random() < 0.88:
                invoice_mark_paid(invoice=invoice, at=paid_at, actor="seed_demo (payment received)")

    def corrections_issue(self) -> int:
        """Two credit notes, as support would issue them: a goodwill credit on a paid invoice's usage (returned as
        customer credit) and a billing error on an open invoice's base fee (off its amount due)."""
        issued = Invoice.objects.filter(merchant=self.merchant, total__gt=0).order_by("pk")
        cases = [
            (issued.filter(status=Invoice.Status.PAID, lines__type=InvoiceLine.Type.USAGE, lines__amount__gt=0),
             InvoiceLine.Type.USAGE, "product_unsatisfactory", "Goodwill: degraded API latency for two days"),
            (issued.filter(status=Invoice.Status.FINALIZED, lines__type=InvoiceLine.Type.BASE_FEE,
                           lines__amount__gt=0),
             InvoiceLine.Type.BASE_FEE, "billing_error", "Seat count corrected after the upgrade"),
        ]  # fmt: skip
        notes = 0
        for candidates, line_type, reason, memo in cases:
            invoice = candidates.distinct().last()
            if invoice is None:
                continue
            line = invoice.lines.filter(type=line_type, amount__gt=0).order_by("pk").first()
            # A tenth of the line, and never more than a tenth of what the invoice charged.
            amount = round_line(min(line.amount, invoice.total / (1 + invoice.tax_rate)) / 10, invoice.currency)
            if amount <= 0:
                continue
            at = min(invoice.finalized_at + timedelta(days=3), self.now - timedelta(hours=1))
            credit_note_issue(invoice=invoice, lines=[(line.pk, amount)], reason=reason, memo=memo, at=at,
                              actor="seed_demo (support)")  # fmt: skip
            notes += 1
        return notes


def demo_seed(
    *,
    email: str,
    password: str,
    now: datetime | None = None,
    scale: float = 1.0,
    log: Callable[[str], None] | None = None,
) -> Merchant:
    """Load the Northwind Cloud demo for the Atlas login ``email``; refuses (``DemoExists``) if that login exists.

    Everything up to the billing runs is one transaction, so a failure leaves nothing behind and can be re-run.
    PDFs are rendered afterwards, outside it (no rendering inside a transaction).
    """
    if scale <= 0:
        raise ValueError("scale: must be greater than 0")
    if get_user_model().objects.filter(username=email).exists():
        raise DemoExists(
            f"An Atlas login {email!r} already exists, so the demo was not loaded again. "
            "Log in with it, or pass another --email."
        )
    now = now or timezone.now()
    say = log or (lambda message: None)
    seeder = _Seeder(email=email, password=password, now=now, scale=scale, log=say)
    started = time.monotonic()

    def step(message: str) -> None:
        say(f"[{time.monotonic() - started:5.1f}s] {message}")

    with transaction.atomic():
        merchant = seeder.merchant_create()
        seeder.catalog()
        step(f"catalog: {len(seeder.metrics)} metrics, {len(seeder.features)} features, {len(seeder.plans)} plans")
        seeder.customers_create()
        seeder.lifecycle()
        step(f"customers: {len(seeder.customers)}, subscriptions: {len(seeder.subscriptions)}")
        seeder.users_provision()
        seeder.credits_grant()
        step(f"users: {sum(len(e.users) for e in seeder.customers.values())}, credit grants loaded")
        payloads = seeder.events_generate()
        accepted = seeder.events_send(payloads)
        step(f"usage events: {accepted} ingested")
        seeder.state_rebuild()
        step("pre-aggregated usage state built")
        runs = seeder.bill()
        seeder.payments_record()
        notes = seeder.corrections_issue()
        invoices = Invoice.objects.filter(merchant=merchant).count()
        step(f"billing: {runs} runs, {invoices} invoices, {notes} credit notes")
    rendered = 0
    issued = Invoice.objects.filter(merchant=merchant, status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID])
    for pk in issued.order_by("pk").values_list("pk", flat=True):
        invoice_render_pdf(pk)
        rendered += 1
    step(f"PDFs: {rendered} rendered; {Event.objects.filter(merchant=merchant).count()} events in all")
    return merchant
