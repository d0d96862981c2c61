"""Demo steps: customers, their subscriptions and lifecycle (trials, a churn, plan changes), their users."""

import math
from datetime import datetime, timedelta

from billing.demo.base import (
    ACTOR,
    COMPANIES,
    CUSTOMERS_AT_SCALE_1,
    EUR_COUNTRIES,
    FIRST_NAMES,
    HISTORY_DAYS,
    LAST_NAMES,
    REGIONS_BY_COUNTRY,
    SIGNUP_LEAD_DAYS,
    D,
    DemoCustomer,
    slug_of,
)
from billing.subscriptions.models import Subscription
from billing.subscriptions.services import subscription_cancel, subscription_change_plan, subscription_create
from customers.models import Customer
from customers.services import customer_create
from metering.provisioning import user_deprovision, user_provision


class CustomerSteps:
    # --- customers --------------------------------------------------------------------------------------------

    def customer_add(self, name: str, country: str, signup: datetime, *, weight: float | None = None,
                     parent: str = "", metadata: dict | None = None, **fields) -> DemoCustomer:  # fmt: skip
        slug = slug_of(name)
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
        entry = DemoCustomer(
            customer=customer,
            signup=signup,
            weight=weight if weight is not None else math.exp(rng.gauss(0, 0.8)),
            region="eu" if country in EUR_COUNTRIES or country == "GB" else REGIONS_BY_COUNTRY.get(country, "us"),
        )
        self.customers[external_id] = entry
        return entry

    def subscribe(self, entry: DemoCustomer, plan: str, *, anchor: str = "calendar",
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
