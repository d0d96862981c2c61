"""Provisioning users to customers: append-only history plus a ``seat`` usage event per change.

It lives in metering because every change is also usage (SPEC §8): provisioning records ``seat`` with
``delta: +1`` at the effective time, deprovisioning ``delta: -1``, so a ``weighted_sum`` metric on
``seat``/``delta`` bills each seat for the part of the period it was active. The event is written through
``metering.services.events_ingest`` in the same transaction as the history row, with a deterministic
transaction id (``seat:<user pk>:provisioned``), so a retry can never count a seat twice.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.models import ApiKey
from customers.models import Customer, CustomerUser, ProvisioningChange
from metering.ingestion.store import IngestResult
from metering.services import events_ingest

SEAT_EVENT_CODE = "seat"

# Checks a provisioning must pass, called under the customer's row lock with ``customer`` and ``at`` (the new
# user's start). Registered by the apps that know the rules (billing's seat limits: billing.apps), so that
# metering, below billing, imports none of them. A check refuses by raising (a ``Conflict``).
PROVISIONING_GUARDS: list[Callable[..., None]] = []


def provisioning_guard_register(guard: Callable[..., None]) -> None:
    if guard not in PROVISIONING_GUARDS:
        PROVISIONING_GUARDS.append(guard)


@dataclass(frozen=True)
class Actor:
    """Who made a change: an API key, an Atlas user, or the system."""

    api_key: ApiKey | None = None
    user: object | None = None  # settings.AUTH_USER_MODEL
    label: str = "system"

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> "Actor":
        return cls(api_key=api_key, label=f"api key {api_key.name} ({api_key.prefix}…)")

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(user=user, label=f"user {user.get_username()}")


def _future_limit() -> datetime:
    return timezone.now() + timedelta(seconds=settings.ATLAS_EVENT_FUTURE_TOLERANCE_SECONDS)


def _record(*, user: CustomerUser, action: str, at: datetime, actor: Actor, delta: int) -> None:
    ProvisioningChange.objects.create(
        merchant_id=user.merchant_id,
        customer_id=user.customer_id,
        user=user,
        action=action,
        effective_at=at,
        actor_api_key=actor.api_key,
        actor_user=actor.user,
        actor_label=actor.label[:255],
        snapshot={"external_id": user.external_id, "email": user.email, "name": user.name},
    )
    result = events_ingest(
        merchant=user.customer.merchant,
        payloads=[
            {
                "transaction_id": f"seat:{user.pk}:{action}",
                "customer": user.customer.external_id,
                "code": SEAT_EVENT_CODE,
                "timestamp": at.isoformat(),
                "properties": {"delta": delta, "user": user.external_id},
            }
        ],
    )
    _raise_if_rejected(result)


def _raise_if_rejected(result: IngestResult) -> None:
    # Everything the event carries was checked above, so a refusal is a bug; roll the change back with it.
    if result.rejected:
        reasons = "; ".join(
            f"{field}: {reason}" for item in result.results for field, reason in (item.errors or {}).items()
        )
        raise ValidationError({"non_field_errors": f"the seat event was refused ({reasons})"})


@transaction.atomic
def user_provision(
    *,
    customer: Customer,
    external_id: str,
    email: str = "",
    name: str = "",
    provisioned_at: datetime | None = None,
    actor: Actor,
) -> CustomerUser:
    """Provision a user from ``provisioned_at`` (default now).

    A user id is provisioned at most once at a time; it may come back after leaving, starting no earlier
    than its last stint ended. The history row and the ``+1`` seat event are written together. The
    registered guards (a hard seat limit) may refuse it with a 409; the customer's row lock serialises
    concurrent provisioning of one customer, so two requests can never both take the last seat.
    """
    customer = Customer.objects.select_for_update().select_related("merchant").get(pk=customer.pk)
    if customer.archived_at is not None:
        raise Conflict(f"Customer {customer.external_id!r} is archived; users cannot be provisioned to it.")
    at = provisioned_at or timezone.now()
    if at > _future_limit():
        raise ValidationError({"provisioned_at": "must not be in the future"})
    previous = (
        CustomerUser.objects.filter(customer=customer, external_id=external_id).order_by("-provisioned_at").first()
    )
    if previous is not None and previous.deprovisioned_at is None:
        raise ValidationError({"external_id": f"user {external_id!r} is already provisioned to this customer"})
    if previous is not None and at < previous.deprovisioned_at:
        raise ValidationError(
            {"provisioned_at": f"must not be before the user's previous deprovisioning ({previous.deprovisioned_at})"}
        )
    for guard in PROVISIONING_GUARDS:  # seat limits: the customer's lock above serialises concurrent provisioning
        guard(customer=customer, at=at)
    user = CustomerUser.objects.create(
        merchant_id=customer.merchant_id,
        customer=customer,
        external_id=external_id,
        email=email,
        name=name,
        provisioned_at=at,
    )
    _record(user=user, action=ProvisioningChange.Action.PROVISIONED, at=at, actor=actor, delta=1)
    return user


@transaction.atomic
def user_deprovision(*, user: CustomerUser, at: datetime | None = None, actor: Actor) -> CustomerUser:
    """Deprovision a user at ``at`` (default now). Deprovisioning an already deprovisioned user changes nothing."""
    user = CustomerUser.objects.select_for_update().select_related("customer__merchant").get(pk=user.pk)
    if user.deprovisioned_at is not None:
        return user
    at = at or timezone.now()
    if at > _future_limit():
        raise ValidationError({"at": "must not be in the future"})
    if at < user.provisioned_at:
        raise ValidationError({"at": f"must not be before the user was provisioned ({user.provisioned_at})"})
    user.deprovisioned_at = at
    user.save(update_fields=["deprovisioned_at"])
    _record(user=user, action=ProvisioningChange.Action.DEPROVISIONED, at=at, actor=actor, delta=-1)
    return user
