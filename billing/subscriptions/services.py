"""Writes of subscriptions: create, change plan, cancel (SPEC §5; rules in docs/subscriptions.md)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.models import Merchant
from billing.subscriptions.models import Subscription
from billing.subscriptions.selectors import subscription_calendar, subscriptions_overlapping
from catalog import rating
from catalog.models import Charge, PlanFeature, PlanVersion
from catalog.selectors import plan_version_for_subscription
from customers.models import Customer

PERIOD_END = "period_end"


IMMEDIATELY = "immediately"


EFFECTIVE = (PERIOD_END, IMMEDIATELY)


def _start_instant(start_date: date | datetime, tz_name: str) -> datetime:
    if isinstance(start_date, datetime):
        if timezone.is_naive(start_date):
            return start_date.replace(tzinfo=ZoneInfo(tz_name))
        return start_date
    return datetime.combine(start_date, datetime.min.time(), tzinfo=ZoneInfo(tz_name))


def _plan_version(merchant: Merchant, plan: str, version: int | None) -> PlanVersion:
    found = plan_version_for_subscription(merchant=merchant, plan_code=plan, version=version)
    return PlanVersion.objects.select_related("plan").get(pk=found.pk)


def validate_overrides(*, plan_version: PlanVersion, overrides) -> dict:
    """Check per-subscription overrides against the plan version; return them normalised (JSON-ready)."""
    if overrides in (None, {}):
        return {}
    if not isinstance(overrides, dict):
        raise ValidationError({"overrides": "must be an object with 'charges' and/or 'features'"})
    errors: dict[str, str] = {}
    for key in overrides:
        if key not in ("charges", "features"):
            errors[f"overrides.{key}"] = "unknown key; expected 'charges' or 'features'"
    normalised: dict = {}
    charges = overrides.get("charges") or {}
    features = overrides.get("features") or {}
    if not isinstance(charges, dict):
        errors["overrides.charges"] = "must be an object keyed by metric code"
        charges = {}
    if not isinstance(features, dict):
        errors["overrides.features"] = "must be an object keyed by feature key"
        features = {}

    by_metric: dict[str, list[Charge]] = {}
    for charge in plan_version.charges.select_related("metric"):
        by_metric.setdefault(charge.metric.code, []).append(charge)
    for code, override in charges.items():
        path = f"overrides.charges.{code}"
        if code not in by_metric:
            errors[path] = f"the plan has no charge on metric {code!r}"
            continue
        if not isinstance(override, dict) or not override:
            errors[path] = "must be an object of charge parameters"
            continue
        limit_names = ("included_units", "minimum_amount", "maximum_amount")
        for charge in by_metric[code]:
            params = {**charge.properties, **{k: v for k, v in override.items() if k not in limit_names}}
            limits = {name: override.get(name, getattr(charge, name)) for name in limit_names}
            try:
                valid = rating.validate_charge(
                    model=charge.model,
                    params=params,
                    currency=plan_version.currency,
                    group_by=charge.metric.group_by,
                    **limits,
                )
            except rating.ChargeParamsError as exc:
                for field, reason in exc.errors.items():
                    errors[f"{path}.{field}"] = reason
                break
            normalised.setdefault("charges", {})[code] = rating.params_to_json(
                {key: valid[key] if key in limit_names else valid["params"].get(key, override[key]) for key in override}
            )

    plan_features = {
        pf.feature.key: pf for pf in PlanFeature.objects.filter(plan_version=plan_version).select_related("feature")
    }
    for key, value in features.items():
        path = f"overrides.features.{key}"
        if key not in plan_features:
            errors[path] = f"the plan has no feature {key!r}"
            continue
        kind = plan_features[key].feature.kind
        if kind == "limit" and not (isinstance(value, int) and not isinstance(value, bool) and value >= -1):
            errors[path] = "must be an integer limit: -1 unlimited, 0 no access"
        elif kind == "boolean" and not isinstance(value, bool):
            errors[path] = "must be true or false"
        elif kind == "value" and not (isinstance(value, str) and len(value) <= 500):
            errors[path] = "must be a string of at most 500 characters"
        else:
            normalised.setdefault("features", {})[key] = value
    if errors:
        raise ValidationError(errors)
    return normalised


def _check_plan_for_customer(
    *,
    customer: Customer,
    plan_version: PlanVersion,
    start: datetime,
    end: datetime | None,
    exclude: Subscription | None = None,
) -> None:
    if plan_version.currency != customer.currency:
        raise ValidationError(
            {
                "plan": f"plan {plan_version.plan.code!r} is priced in {plan_version.currency}; "
                f"customer {customer.external_id!r} is billed in {customer.currency}"
            }
        )
    overlapping = subscriptions_overlapping(customer=customer, plan_id=plan_version.plan_id, start=start, end=end)
    if exclude is not None:
        overlapping = overlapping.exclude(pk=exclude.pk)
    clash = overlapping.first()
    if clash is not None:
        raise ValidationError(
            {
                "plan": f"customer {customer.external_id!r} already has subscription {clash.external_id!r} "
                f"to plan {plan_version.plan.code!r} in that time"
            }
        )


def _save_new(subscription: Subscription) -> Subscription:
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError:
        raise ValidationError({"external_id": f"a subscription with external_id {subscription.external_id!r} exists"})
    return subscription


@transaction.atomic
def subscription_create(
    *,
    merchant: Merchant,
    external_id: str,
    customer: str,
    plan: str,
    plan_version: int | None = None,
    start_date: date | datetime,
    billing_anchor: str = Subscription.Anchor.CALENDAR,
    trial_days: int | None = None,
    overrides: dict | None = None,
) -> Subscription:
    """Subscribe a customer (by external id) to a plan (by code). Every check runs before anything is written."""
    errors: dict = {}
    if Subscription.objects.filter(merchant=merchant, external_id=external_id).exists():
        errors["external_id"] = f"a subscription with external_id {external_id!r} exists"
    # Locking the customer serialises concurrent subscriptions to it, so the overlap check holds.
    found = Customer.objects.select_for_update().filter(merchant=merchant, external_id=customer).first()
    if found is None:
        errors["customer"] = f"no customer with external_id {customer!r}"
    elif found.archived_at is not None:
        errors["customer"] = f"customer {customer!r} is archived"
    try:
        version = _plan_version(merchant, plan, plan_version)
    except ValidationError as exc:
        errors.update(exc.detail)
        version = None
    if errors:
        raise ValidationError(errors)

    tz_name = merchant.timezone
    start = _start_instant(start_date, tz_name)
    _check_plan_for_customer(customer=found, plan_version=version, start=start, end=None)
    normalised = validate_overrides(plan_version=version, overrides=overrides)
    days = version.trial_days if trial_days is None else trial_days
    return _save_new(
        Subscription(
            merchant=merchant,
            customer=found,
            external_id=external_id,
            plan_version=version,
            started_at=start,
            trial_ends_at=start + timedelta(days=days) if days else None,
            billing_anchor=billing_anchor,
            billing_day=merchant.billing_day,
            timezone=tz_name,
            overrides=normalised,
        )
    )


def _lock(subscription: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update()
        .select_related("customer", "plan_version__plan", "merchant")
        .get(pk=subscription.pk)
    )


def _end_instant(subscription: Subscription, effective: str, at: datetime) -> datetime:
    if effective not in EFFECTIVE:
        raise ValidationError({"effective": f"must be one of {', '.join(EFFECTIVE)}"})
    if effective == IMMEDIATELY:
        return max(at, subscription.started_at)
    boundary = subscription_calendar(subscription).next_boundary(at)
    return boundary if boundary is not None else at


def _check_open(subscription: Subscription, at: datetime, what: str) -> None:
    if subscription.ends_at is not None and subscription.ends_at <= at:
        raise Conflict(f"Subscription {subscription.external_id!r} has already ended; it cannot be {what}.")
    if Subscription.objects.filter(previous=subscription).exists():
        raise Conflict(
            f"Subscription {subscription.external_id!r} changes plan at {subscription.ends_at}; "
            "act on the subscription that follows it instead."
        )


def _next_external_id(subscription: Subscription) -> str:
    root, length = subscription, 1
    while root.previous_id is not None:
        root, length = Subscription.objects.get(pk=root.previous_id), length + 1
    return f"{root.external_id}-{length + 1}"


@transaction.atomic
def subscription_change_plan(
    *,
    subscription: Subscription,
    plan: str,
    plan_version: int | None = None,
    effective: str = PERIOD_END,
    external_id: str | None = None,
    overrides: dict | None = None,
    at: datetime | None = None,
) -> Subscription:
    """End the subscription at its next boundary (or now) and start the new plan exactly there.

    Returns the new subscription, whose ``previous`` is the old one.
    """
    at = at or timezone.now()
    subscription = _lock(subscription)
    _check_open(subscription, at, "changed")
    if subscription.ends_at is not None:
        raise Conflict(
            f"Subscription {subscription.external_id!r} is canceled (ends {subscription.ends_at}); "
            "start a new subscription instead."
        )
    Customer.objects.select_for_update().filter(pk=subscription.customer_id).first()
    version = _plan_version(subscription.merchant, plan, plan_version)
    if version.pk == subscription.plan_version_id:
        raise ValidationError({"plan": "the subscription is already on this plan version"})
    switch = _end_instant(subscription, effective, at)
    _check_plan_for_customer(
        customer=subscription.customer, plan_version=version, start=switch, end=None, exclude=subscription
    )
    normalised = validate_overrides(plan_version=version, overrides=overrides)
    new_external_id = external_id or _next_external_id(subscription)

    subscription.ends_at = switch
    subscription.save(update_fields=["ends_at"])
    trial = subscription.trial_ends_at if subscription.trial_ends_at and subscription.trial_ends_at > switch else None
    return _save_new(
        Subscription(
            merchant=subscription.merchant,
            customer=subscription.customer,
            external_id=new_external_id,
            plan_version=version,
            started_at=switch,
            trial_ends_at=trial,
            billing_anchor=subscription.billing_anchor,
            billing_day=subscription.billing_day,
            timezone=subscription.timezone,
            overrides=normalised,
            previous=subscription,
        )
    )


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, effective: str = PERIOD_END, at: datetime | None = None
) -> Subscription:
    """Cancel at the end of the current period (default) or now; ``canceled_at`` keeps the first request.

    Cancelling again ``immediately`` after a cancel at period end brings the end forward; a second cancel at
    period end changes nothing.
    """
    at = at or timezone.now()
    subscription = _lock(subscription)
    _check_open(subscription, at, "canceled")
    ends_at = _end_instant(subscription, effective, at)
    if subscription.ends_at is None or ends_at < subscription.ends_at:
        subscription.ends_at = ends_at
    subscription.canceled_at = subscription.canceled_at or at
    subscription.save(update_fields=["ends_at", "canceled_at"])
    return subscription
