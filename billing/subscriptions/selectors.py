"""Reads of subscriptions: the calendar of a subscription, its period and status at an instant, which are active."""

from datetime import datetime

from django.db.models import Q, QuerySet

from atlas.models import Merchant
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import Calendar, Period
from customers.models import Customer


def calendar_for(subscription: Subscription, *, with_end: bool = True) -> Calendar:
    """The period calendar of a subscription (``with_end=False``: as if it had not ended)."""
    version = subscription.plan_version
    return Calendar(
        start=subscription.started_at,
        interval=version.interval,
        interval_count=version.interval_count,
        anchor=subscription.billing_anchor,
        billing_day=subscription.billing_day,
        timezone=subscription.timezone,
        end=subscription.ends_at if with_end else None,
    )


def subscription_calendar(subscription: Subscription) -> Calendar | None:
    """The period calendar of a subscription; None for one that ended the instant it started."""
    if subscription.ends_at is not None and subscription.ends_at <= subscription.started_at:
        return None
    return calendar_for(subscription)


def subscription_period_at(subscription: Subscription, at: datetime) -> Period | None:
    """The period holding ``at``; the first period of a subscription that has not started; None after it ended."""
    calendar = subscription_calendar(subscription)
    if calendar is None:
        return None
    if at < subscription.started_at:
        return calendar.first_period()
    return calendar.period_at(at)


def subscription_status(subscription: Subscription, at: datetime) -> str:
    if at < subscription.started_at:
        return "pending"
    if subscription.ends_at is not None and at >= subscription.ends_at:
        return "terminated"
    if subscription.trial_ends_at is not None and at < subscription.trial_ends_at:
        return "trialing"
    return "active"


def active_filter(at: datetime) -> Q:
    return Q(started_at__lte=at) & (Q(ends_at__isnull=True) | Q(ends_at__gt=at))


# ``active_filter`` in plain SQL for a subscription table aliased ``s``; its two parameters are the instant.
ACTIVE_AT_SQL = "s.started_at <= %s AND (s.ends_at IS NULL OR s.ends_at > %s)"


def subscriptions_active(*, merchant: Merchant, at: datetime) -> QuerySet:
    """Subscriptions of the merchant active at ``at`` (``started_at <= at < ends_at``)."""
    return (
        Subscription.objects.filter(merchant=merchant)
        .filter(active_filter(at))
        .select_related("customer", "plan_version__plan")
    )


def subscriptions_for_customer(*, customer: Customer, at: datetime | None = None) -> QuerySet:
    """A customer's subscriptions; only those active at ``at`` when it is given."""
    queryset = Subscription.objects.filter(customer=customer).select_related("plan_version__plan")
    return queryset.filter(active_filter(at)) if at is not None else queryset


def subscriptions_overlapping(*, customer: Customer, plan_id: int, start: datetime, end: datetime | None) -> QuerySet:
    queryset = Subscription.objects.filter(customer=customer, plan_version__plan_id=plan_id).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=start)
    )
    if end is not None:
        queryset = queryset.filter(started_at__lt=end)
    return queryset
