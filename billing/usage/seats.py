"""Seat limits: a ``limit`` feature with ``counts: "users"`` limits a customer's active provisioned users.

The entitlement answer reports the users active at the instant as ``usage``
(``billing.usage.entitlements``). Provisioning one more user is refused (409,
naming the feature) when a hard seat limit is already reached, or the customer has
no access (limit 0); a soft limit lets it through and the answer reports the
overage. ``seat_limit_guard`` is registered with ``metering.provisioning`` by
``billing.apps`` and runs under the customer's row lock, so concurrent
provisioning cannot exceed the limit.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from atlas.api.exceptions import Conflict
from billing.usage.entitlements import customer_entitlement
from catalog.models import Feature, PlanFeature
from customers.models import Customer, CustomerUser


class SeatLimitReached(Conflict):
    """Provisioning one more user would pass a hard seat limit (409)."""

    def __init__(self, *, feature: str, limit: int, users: int):
        if limit == Feature.NO_ACCESS:
            reason = f"Seat limit {feature!r} allows no users for this customer."
        else:
            reason = (
                f"Seat limit {feature!r} reached: {users} of {limit} users already provisioned (hard limit); "
                "deprovision a user or raise the limit first."
            )
        super().__init__(reason)
        self.feature, self.limit, self.users = feature, limit, users


def seats_taken(*, customer_id: int, at: datetime) -> int:
    """Users whose stint has not ended by ``at``: active then, or starting later (both hold a seat from ``at``)."""
    return (
        CustomerUser.objects.filter(customer_id=customer_id)
        .filter(Q(deprovisioned_at__isnull=True) | Q(deprovisioned_at__gt=at))
        .count()
    )


def seat_limit_guard(*, customer: Customer, at: datetime) -> None:
    """Refuse (``SeatLimitReached``) one more user from ``at`` on when a seat limit forbids it."""
    keys = Feature.objects.filter(
        merchant_id=customer.merchant_id, kind=Feature.Kind.LIMIT, counts=Feature.Counts.USERS
    ).values_list("key", flat=True)
    taken = None
    for key in keys:
        entitlement = customer_entitlement(customer=customer, key=key, at=at)
        limit = entitlement.limit
        if limit == Feature.UNLIMITED:
            continue
        if limit == Feature.NO_ACCESS:
            raise SeatLimitReached(feature=key, limit=0, users=0)
        if entitlement.enforcement == PlanFeature.Enforcement.SOFT:
            continue
        if taken is None:
            taken = seats_taken(customer_id=customer.pk, at=at)
        if taken >= limit:
            raise SeatLimitReached(feature=key, limit=limit, users=taken)
