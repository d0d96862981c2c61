"""Reads for customers: filtered lists, who was provisioned when, and who is billed."""

from collections import defaultdict
from collections.abc import Iterable
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
    """The billing rules of SPEC §5 for one customer on one date (``ExclusionIndex`` answers many at once).

    Not billable when the customer is a test customer, before ``billing_starts_on`` (go-live), on or after
    ``billing_ends_on`` (departure), or when a customer rule in force matches its name or external id.
    User rules in force exclude every user of the customer whose external id, email or name matches.
    """
    return ExclusionIndex([customer]).exclusion(customer, on)


class ExclusionIndex:
    """The billing rules of some customers' merchants and, where a merchant has user rules, those customers'
    users, read once (two queries at most, whatever the number of customers): then ``exclusion`` answers
    ``billing_exclusions`` for any of them on any date without a query. ``extend`` adds customers."""

    # Up to this many customers, their users are read by customer id; beyond, by merchant (one IN list stays short).
    USERS_BY_ID = 500

    def __init__(self, customers: Iterable[Customer] = ()):
        self.customer_ids: set[int] = set()
        self.rules: dict[int, list[BillingRule]] = {}
        self.users: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
        self.extend(customers)

    def extend(self, customers: Iterable[Customer]) -> None:
        customers = [customer for customer in customers if customer.pk not in self.customer_ids]
        if not customers:
            return
        merchants = {customer.merchant_id for customer in customers} - self.rules.keys()
        for merchant_id in merchants:
            self.rules[merchant_id] = []
        for rule in BillingRule.objects.filter(merchant_id__in=merchants).order_by("target", "pattern", "pk"):
            self.rules[rule.merchant_id].append(rule)
        with_user_rules = {
            merchant_id for merchant_id, rules in self.rules.items()
            if any(rule.target == BillingRule.Target.USER for rule in rules)
        }  # fmt: skip
        wanted = {customer.pk for customer in customers if customer.merchant_id in with_user_rules}
        self.customer_ids.update(customer.pk for customer in customers)
        if not wanted:
            return
        users = CustomerUser.objects.values_list("customer_id", "external_id", "email", "name").order_by("pk")
        if len(wanted) <= self.USERS_BY_ID:
            users = users.filter(customer_id__in=wanted)
        else:
            users = users.filter(customer__merchant_id__in={c.merchant_id for c in customers if c.pk in wanted})
        for customer_id, external_id, email, name in users:
            if customer_id in wanted:
                self.users[customer_id].append((external_id, email, name))

    def covers(self, customer: Customer) -> bool:
        return customer.pk in self.customer_ids

    def exclusion(self, customer: Customer, on: date) -> Exclusion:
        rules = [rule for rule in self.rules[customer.merchant_id] if rule.in_force_on(on)]
        user_rules = [rule.pattern for rule in rules if rule.target == BillingRule.Target.USER]
        users = frozenset(
            external_id for external_id, email, name in self.users.get(customer.pk, ())
            if any(pattern_matches(pattern, external_id, email, name) for pattern in user_rules)
        )  # fmt: skip
        if customer.is_test:
            return Exclusion(billable=False, reason="test customer", excluded_users=users)
        if customer.billing_starts_on and on < customer.billing_starts_on:
            return Exclusion(billable=False, reason=f"billing starts on {customer.billing_starts_on}",
                             excluded_users=users)  # fmt: skip
        if customer.billing_ends_on and on >= customer.billing_ends_on:
            return Exclusion(billable=False, reason=f"billing ended on {customer.billing_ends_on}",
                             excluded_users=users)  # fmt: skip
        for rule in rules:
            if rule.target == BillingRule.Target.CUSTOMER and pattern_matches(
                rule.pattern, customer.name, customer.external_id
            ):
                return Exclusion(billable=False, reason=f"rule {rule.name!r} ({rule.pattern})", excluded_users=users)
        return Exclusion(billable=True, excluded_users=users)
