"""Reads for the billing-rules page: what each rule excludes today (built on ``customers.selectors``)."""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Q

from customers.models import BillingRule, Customer, CustomerUser
from customers.selectors import ExclusionIndex, pattern_matches

SHOWN = 20  # matches listed per rule; the count says how many in all


@dataclass
class RuleMatches:
    rule: BillingRule
    in_force: bool
    matches: list[str] = field(default_factory=list)
    count: int = 0


@dataclass
class CustomerRules:
    """The customer-level rules (SPEC §5): test customers, go-live in the future, departed, leaving later."""

    test: list[Customer]
    not_live: list[Customer]
    departed: list[Customer]
    leaving: list[Customer]
    excluded_today: int


def _customers(merchant):
    return Customer.objects.filter(merchant=merchant, archived_at__isnull=True).order_by("name", "pk")


def rule_matches(*, merchant, today: date, now: datetime) -> list[RuleMatches]:
    """Every rule of the merchant with the customers (name or external id) or the users active now (external
    id, email or name) its pattern matches, and whether it is in force today (only then does it exclude)."""
    rules = list(BillingRule.objects.filter(merchant=merchant).order_by("target", "pattern", "pk"))
    customers = users = None
    answers = []
    for rule in rules:
        answer = RuleMatches(rule=rule, in_force=rule.in_force_on(today))
        if rule.target == BillingRule.Target.CUSTOMER:
            if customers is None:
                customers = list(_customers(merchant).values_list("name", "external_id"))
            found = [f"{name} ({external_id})" for name, external_id in customers
                     if pattern_matches(rule.pattern, name, external_id)]  # fmt: skip
        else:
            if users is None:
                users = list(
                    CustomerUser.objects.filter(merchant=merchant, provisioned_at__lte=now)
                    .filter(Q(deprovisioned_at__isnull=True) | Q(deprovisioned_at__gt=now))
                    .order_by("customer__name", "external_id")
                    .values_list("external_id", "email", "name", "customer__external_id")
                )
            found = [f"{email or name or external_id} at {customer}" for external_id, email, name, customer in users
                     if pattern_matches(rule.pattern, external_id, email, name)]  # fmt: skip
        answer.count, answer.matches = len(found), found[:SHOWN]
        answers.append(answer)
    return answers


def customer_rules(*, merchant, today: date) -> CustomerRules:
    customers = list(_customers(merchant).filter(
        Q(is_test=True) | Q(billing_starts_on__isnull=False) | Q(billing_ends_on__isnull=False)
    ))  # fmt: skip
    index = ExclusionIndex(customers)
    return CustomerRules(
        test=[c for c in customers if c.is_test],
        not_live=[c for c in customers if c.billing_starts_on and c.billing_starts_on > today],
        departed=[c for c in customers if c.billing_ends_on and c.billing_ends_on <= today],
        leaving=[c for c in customers if c.billing_ends_on and c.billing_ends_on > today],
        excluded_today=sum(1 for c in customers if not index.exclusion(c, today).billable),
    )
