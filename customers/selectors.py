"""Reads for customers: filtered lists, who was provisioned when, and who is billed."""

from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase

from django.db.models import Q, QuerySet

from customers.models import BillingRule, Customer, CustomerUser


def customers_filter(
    queryset: QuerySet, *, search: str = "", is_test: bool | None = None, include_archived: bool = False
) -> QuerySet:
    """Archived customers leave lists unless asked for; ``search`` matches name, external id or email."""
    if not include_archived:
        queryset = queryset.filter(archived_at__isnull=True)
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search) | Q(external_id__icontains=search) | Q(email__icontains=search)
        )
    if is_test is not None:
        queryset = queryset.filter(is_test=is_test)
    return queryset


def users_provisioned_at(*, customer: Customer, at: datetime) -> QuerySet:
    """The users provisioned to ``customer`` at instant ``at``: ``provisioned_at <= at < deprovisioned_at``."""
    return CustomerUser.objects.filter(customer=customer, provisioned_at__lte=at).filter(
        Q(deprovisioned_at__isnull=True) | Q(deprovisioned_at__gt=at)
    )


def user_current(*, customer: Customer, external_id: str) -> CustomerUser | None:
    """The latest stint of a user id at a customer (active, or the last one that ended)."""
    return (
        CustomerUser.objects.filter(customer=customer, external_id=external_id)
        .order_by("-provisioned_at", "-pk")
        .first()
    )


def rules_active_on(*, merchant_id: int, on: date) -> QuerySet:
    """Rules in force on ``on``: ``starts_on <= on < ends_on`` (open ends allowed)."""
    return BillingRule.objects.filter(merchant_id=merchant_id).filter(
        Q(starts_on__isnull=True) | Q(starts_on__lte=on), Q(ends_on__isnull=True) | Q(ends_on__gt=on)
    )


def pattern_matches(pattern: str, *values: str) -> bool:
    """Shell-style glob, case-insensitive (``*-test``, ``admin@*``)."""
    pattern = pattern.lower()
    return any(value and fnmatchcase(value.lower(), pattern) for value in values)


@dataclass(frozen=True)
class Exclusion:
    """Whether a customer is billed on a date, and which of its users are not.

    Excluded usage is still metered and visible; invoicing leaves it out.
    """

    billable: bool
    reason: str = ""
    excluded_users: frozenset[str] = field(default_factory=frozenset)


def billing_exclusions(*, customer: Customer, on: date) -> Exclusion:
    """The billing rules of SPEC §5 for one customer on one date.

    Not billable when the customer is a test customer, before ``billing_starts_on`` (go-live), on or after
    ``billing_ends_on`` (departure), or when a customer rule in force matches its name or external id.
    User rules in force exclude every user of the customer whose external id, email or name matches.
    """
    rules = list(rules_active_on(merchant_id=customer.merchant_id, on=on))
    user_rules = [rule.pattern for rule in rules if rule.target == BillingRule.Target.USER]
    excluded_users: set[str] = set()
    if user_rules:
        for external_id, email, name in CustomerUser.objects.filter(customer=customer).values_list(
            "external_id", "email", "name"
        ):
            if any(pattern_matches(pattern, external_id, email, name) for pattern in user_rules):
                excluded_users.add(external_id)
    users = frozenset(excluded_users)

    if customer.is_test:
        return Exclusion(billable=False, reason="test customer", excluded_users=users)
    if customer.billing_starts_on and on < customer.billing_starts_on:
        return Exclusion(billable=False, reason=f"billing starts on {customer.billing_starts_on}", excluded_users=users)
    if customer.billing_ends_on and on >= customer.billing_ends_on:
        return Exclusion(billable=False, reason=f"billing ended on {customer.billing_ends_on}", excluded_users=users)
    for rule in rules:
        if rule.target == BillingRule.Target.CUSTOMER and pattern_matches(
            rule.pattern, customer.name, customer.external_id
        ):
            return Exclusion(billable=False, reason=f"rule {rule.name!r} ({rule.pattern})", excluded_users=users)
    return Exclusion(billable=True, excluded_users=users)
