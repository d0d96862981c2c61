"""Writes to the catalog: metrics, features, and the plan version lifecycle.

A plan is a sequence of versions. The newest may be a draft (edited in place); every
other version is published and never changes again (SPEC §2). Subscriptions point at
a version, so publishing a new one leaves existing subscriptions where they are.
Every write runs in one transaction and validates everything before writing anything.
"""

import copy
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.audit import records as audit_records
from atlas.models import Merchant
from atlas.money import minor_units
from catalog import rating
from catalog.models import Charge, Feature, Metric, OneTimeFee, Plan, PlanFeature, PlanVersion
from catalog.selectors import feature_in_published_use, metric_in_published_use, plan_version_latest

# Parameters that are money (padded to the currency's decimals on output); the others are quantities or rates.
MONEY_PARAMETERS = frozenset({"unit_amount", "flat_amount", "amount", "default_unit_amount", "fixed_amount"})

# The metric fields that decide a quantity: frozen once a published plan depends on the metric.
METRIC_DEFINITION = ("event_codes", "aggregation", "field", "filters", "group_by", "period", "window_seconds")

# Pricing models that a charge may bill at the start of the period (seat-like charges, SPEC §3).
IN_ADVANCE_MODELS = frozenset({"flat", "package"})

# Charges (and one-time fees) in one plan version: a price list, not a place to store data.
MAX_CHARGES = 50

VERSION_FIELDS = ("currency", "interval", "interval_count", "base_fee", "base_fee_timing", "trial_days")
CONTENT_DEFAULTS = {
    "interval": PlanVersion.Interval.MONTH,
    "interval_count": 1,
    "base_fee": Decimal("0"),
    "base_fee_timing": PlanVersion.Timing.IN_ADVANCE,
    "trial_days": 0,
    "charges": [],
    "features": [],
    "one_time_fees": [],
}
CHARGE_DEFAULTS = {
    "params": {},
    "included_units": Decimal("0"),
    "minimum_amount": None,
    "maximum_amount": None,
    "timing": PlanVersion.Timing.IN_ARREARS,
    "description": "",
}


# --- metrics -----------------------------------------------------------------------------------------------------


def metric_create(*, merchant: Merchant, code: str, name: str, **fields) -> Metric:
    metric = Metric(merchant=merchant, code=code, name=name, **fields)
    _create_unique(metric, "code", f"a metric with code {code!r} already exists")
    return metric


@transaction.atomic
def metric_update(*, metric: Metric, **fields) -> Metric:
    """Name and description change freely; the definition is frozen once a published plan depends on it.

    A published plan version never changes (SPEC §2). Changing what a metric counts would
    silently change the prices of every published version that charges for it (or the limits
    of every feature measured by it), so that is a 409: create a new metric instead.
    """
    metric = Metric.objects.select_for_update().get(pk=metric.pk)
    changed = [name for name in METRIC_DEFINITION if name in fields and fields[name] != getattr(metric, name)]
    if changed and metric_in_published_use(metric=metric):
        raise Conflict(
            f"Metric {metric.code!r} is used by a published plan version, so its {', '.join(changed)} cannot change "
            "(only name and description can). Create a new metric and a new plan version instead."
        )
    for name, value in fields.items():
        setattr(metric, name, value)
    metric.save()
    return metric


# --- features ----------------------------------------------------------------------------------------------------


def metric_user_buckets_enable(*, metric: Metric) -> None:
    """Make a metric's usage buckets also key on the events' ``user`` property (a user-scoped feature counts it).

    The flag is part of the metric state's signature, so the state goes stale: the next read rebuilds it from
    the raw events with per-user buckets, and ingestion stops maintaining the old one (docs/metering.md).
    Never turned off: a bucket per user still sums to the customer's usage.
    """
    Metric.objects.filter(pk=metric.pk, user_buckets=False).update(user_buckets=True)
    metric.user_buckets = True


def feature_create(*, merchant: Merchant, key: str, name: str, kind: str, **fields) -> Feature:
    if kind == Feature.Kind.LIMIT and fields.get("default_limit") is None:
        fields["default_limit"] = Feature.NO_ACCESS
    feature = Feature(merchant=merchant, key=key, name=name, kind=kind, **fields)
    with transaction.atomic():
        _create_unique(feature, "key", f"a feature with key {key!r} already exists")
        if feature.scope == Feature.Scope.USER and feature.metric is not None:
            metric_user_buckets_enable(metric=feature.metric)
    return feature


# What a published plan's limit means: frozen once a published plan sets it (as a metric's definition is).
FEATURE_MEANING = ("metric", "scope", "counts")


@transaction.atomic
def feature_update(*, feature: Feature, **fields) -> Feature:
    """The metric behind a limit, its scope and what it counts are frozen once a published plan sets it."""
    feature = Feature.objects.select_for_update().get(pk=feature.pk)
    changed = [name for name in FEATURE_MEANING if name in fields and fields[name] != getattr(feature, name)]
    if changed and feature_in_published_use(feature=feature):
        raise Conflict(
            f"Feature {feature.key!r} is used by a published plan version, so its {', '.join(changed)} cannot "
            "change. Create a new feature and a new plan version instead."
        )
    for name, value in fields.items():
        setattr(feature, name, value)
    feature.save()
    if feature.scope == Feature.Scope.USER and feature.metric is not None:
        metric_user_buckets_enable(metric=feature.metric)
    return feature


# --- plans -------------------------------------------------------------------------------------------------------


def plan_create(*, merchant: Merchant, code: str, name: str, description: str = "", content: dict) -> Plan:
    """A new plan is a draft version 1 (SPEC §8).

    ``content`` holds the version: ``currency`` (required), ``interval``, ``interval_count``, ``base_fee``,
    ``base_fee_timing``, ``trial_days`` and the lists ``charges`` (``{"metric": Metric, "model", "params": {...},
    "included_units", "minimum_amount", "maximum_amount", "timing", "description"}``), ``features``
    (``{"feature": Feature, "limit" | "enabled" | "value", "enforcement"}``) and ``one_time_fees``
    (``{"name", "amount"}``). Missing keys take their defaults; amounts are Decimals or strings in params.
    """
    content = plan_content_validate(content={**CONTENT_DEFAULTS, **content})
    try:
        with transaction.atomic():
            plan = Plan.objects.create(merchant=merchant, code=code, name=name, description=description)
            version = PlanVersion(merchant=merchant, plan=plan, version=1)
            _content_write(version=version, content=content)
    except IntegrityError:
        if Plan.objects.filter(merchant=merchant, code=code).exists():
            raise ValidationError({"code": f"a plan with code {code!r} already exists"})
        raise
    return plan


@transaction.atomic
def plan_update(*, plan: Plan, name: str | None = None, description: str | None = None, changes: dict) -> Plan:
    """Edit the plan's name and description (any time) and its draft's content (``changes``).

    Given lists replace the draft's charges, features or fees entirely. Content changes need
    a draft: when the newest version is published, or the plan is archived, they are a 409.
    """
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    if changes:
        _refuse_archived(plan, "edited")
        draft = plan_version_latest(plan=plan)
        if draft.is_published:
            raise Conflict(
                f"Version {draft.version} of plan {plan.code!r} is published and cannot change. "
                f"Start a new draft with POST /api/v1/plans/{plan.code}/versions."
            )
        content = plan_content_validate(content={**_content_of(draft), **changes})
        _content_write(version=draft, content=content)
    if name is not None:
        plan.name = name
    if description is not None:
        plan.description = description
    plan.save(update_fields=["name", "description"])
    return plan


@transaction.atomic
def plan_publish(*, plan: Plan, at: datetime | None = None) -> PlanVersion:
    """Freeze the draft. Its content is validated again: a metric may have changed since it was written."""
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    _refuse_archived(plan, "published")
    draft = plan_version_latest(plan=plan)
    if draft.is_published:
        raise Conflict(f"Plan {plan.code!r} has no draft to publish: version {draft.version} is already published.")
    content = _content_of(draft)
    # Lock the metrics it prices (by pk, the one lock order) so no definition changes while it is published.
    list(Metric.objects.select_for_update().filter(charges__plan_version=draft).order_by("pk").values_list("pk"))
    plan_content_validate(content=content)
    updated = PlanVersion.objects.filter(pk=draft.pk, status=PlanVersion.Status.DRAFT).update(
        status=PlanVersion.Status.PUBLISHED, published_at=at or timezone.now()
    )
    if updated != 1:
        raise Conflict(f"Version {draft.version} of plan {plan.code!r} was published meanwhile.")
    before = copy.copy(draft)
    draft.refresh_from_db()
    audit_records.record_update(old=before, new=draft)
    return draft


@transaction.atomic
def plan_version_create(*, plan: Plan) -> PlanVersion:
    """Start a new draft, a copy of the newest version. There is at most one draft per plan."""
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    _refuse_archived(plan, "given a new version")
    latest = plan_version_latest(plan=plan)
    if not latest.is_published:
        raise Conflict(
            f"Version {latest.version} of plan {plan.code!r} is still a draft: edit it with PATCH or publish it first."
        )
    version = PlanVersion(merchant=plan.merchant, plan=plan, version=latest.version + 1)
    _content_write(version=version, content=_content_of(latest))
    return version


@transaction.atomic
def plan_archive(*, plan: Plan, at: datetime | None = None) -> Plan:
    """An archived plan accepts no new subscriptions; existing ones run on. Archiving twice changes nothing."""
    before = Plan.objects.get(pk=plan.pk)
    Plan.objects.filter(pk=plan.pk, archived_at__isnull=True).update(archived_at=at or timezone.now())
    plan.refresh_from_db()
    audit_records.record_update(old=before, new=plan)
    return plan


@transaction.atomic
def plan_unarchive(*, plan: Plan) -> Plan:
    before = Plan.objects.get(pk=plan.pk)
    Plan.objects.filter(pk=plan.pk).update(archived_at=None)
    plan.refresh_from_db()
    audit_records.record_update(old=before, new=plan)
    return plan


# --- plan content: validation and writing ---------------------------------------------------------------------


def plan_content_validate(*, content: dict) -> dict:
    """Check a version's content as a whole and return it normalised; a 400 lists every error at once.

    The rules that need the currency or the metrics live here: no amount with more decimals
    than the currency has, each charge's parameters valid for its model (the rating engine
    decides), matrix dimensions among the metric's ``group_by``, ``minimum_amount`` not above
    ``maximum_amount``, a percentage charge on a ``sum`` metric, ``in_advance`` only for
    flat and package charges, at most one charge per metric and ``MAX_CHARGES`` charges
    (docs/catalog.md: a usage line is per metric, so two charges on one metric would bill it twice).
    """
    errors: dict[str, str] = {}
    currency = content["currency"]
    _check_places(errors, "base_fee", content["base_fee"], currency)
    for index, fee in enumerate(content["one_time_fees"]):
        _check_places(errors, f"one_time_fees[{index}].amount", fee["amount"], currency)
    if len(content["charges"]) > MAX_CHARGES:
        raise ValidationError({"charges": f"at most {MAX_CHARGES} charges per plan version"})
    if len(content["one_time_fees"]) > MAX_CHARGES:
        raise ValidationError({"one_time_fees": f"at most {MAX_CHARGES} one-time fees per plan version"})
    charges = []
    first_of_metric: dict[int, int] = {}
    for index, charge in enumerate(content["charges"]):
        charges.append(_charge_validate(errors, f"charges[{index}]", {**CHARGE_DEFAULTS, **charge}, currency))
        first = first_of_metric.setdefault(charge["metric"].pk, index)
        if first != index:
            errors.setdefault(
                f"charges[{index}].metric",
                f"{charge['metric'].code!r} is already charged by charges[{first}]: one charge per metric "
                "(combine them, or charge a second metric with its own filters)",
            )
    if errors:
        raise ValidationError(errors)
    return {**content, "charges": charges}


def _charge_validate(errors: dict[str, str], path: str, charge: dict, currency: str) -> dict:
    metric: Metric = charge["metric"]
    if charge["timing"] == PlanVersion.Timing.IN_ADVANCE and charge["model"] not in IN_ADVANCE_MODELS:
        errors[f"{path}.timing"] = "in_advance is only for flat and package charges"
    if charge["model"] == "percentage" and metric.aggregation != Metric.Aggregation.SUM:
        errors[f"{path}.metric"] = (
            f"a percentage charge needs a sum metric (of a money property); {metric.code!r} is {metric.aggregation}"
        )
    try:
        valid = rating.validate_charge(
            model=charge["model"],
            params=charge["params"],
            currency=currency,
            included_units=charge["included_units"],
            minimum_amount=charge["minimum_amount"],
            maximum_amount=charge["maximum_amount"],
            group_by=list(metric.group_by),
        )
    except rating.ChargeParamsError as exc:
        for key, reason in exc.errors.items():
            errors[f"{path}.{key}" if key != "params" else path] = reason
        return charge
    return {
        **charge,
        "params": params_json(valid["params"], currency),
        "included_units": valid["included_units"],
        "minimum_amount": valid["minimum_amount"],
        "maximum_amount": valid["maximum_amount"],
    }


def params_json(params, currency: str, key: str | None = None):
    """Normalised parameters as stored and shown: strings, money with at least the currency's decimals."""
    if isinstance(params, dict):
        return {name: params_json(value, currency, name) for name, value in params.items()}
    if isinstance(params, list | tuple):
        return [params_json(item, currency, key) for item in params]
    if isinstance(params, Decimal) and key in MONEY_PARAMETERS:
        places = max(minor_units(currency), -params.as_tuple().exponent)
        return rating.params_to_json(params.quantize(Decimal(1).scaleb(-places)))
    return rating.params_to_json(params)


def _check_places(errors: dict[str, str], path: str, amount: Decimal, currency: str) -> None:
    allowed = minor_units(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-allowed)):
        errors[path] = f"has more decimal places than {currency} allows ({allowed})"


def _content_of(version: PlanVersion) -> dict:
    """A version's content in the shape the services take (for copying and for partial edits)."""
    return {
        **{name: getattr(version, name) for name in VERSION_FIELDS},
        "charges": [
            {
                "metric": charge.metric,
                "model": charge.model,
                "params": charge.properties,
                "included_units": charge.included_units,
                "minimum_amount": charge.minimum_amount,
                "maximum_amount": charge.maximum_amount,
                "timing": charge.timing,
                "description": charge.description,
            }
            for charge in version.charges.all()
        ],
        "features": [
            {
                "feature": line.feature,
                "limit": line.limit,
                "enabled": line.enabled,
                "value": line.value,
                "enforcement": line.enforcement,
            }
            for line in version.plan_features.all()
        ],
        "one_time_fees": [{"name": fee.name, "amount": fee.amount} for fee in version.one_time_fees.all()],
    }


def _content_write(*, version: PlanVersion, content: dict) -> None:
    """Save the version's fields and replace its charges, plan features and fees with ``content``'s."""
    for name in VERSION_FIELDS:
        setattr(version, name, content[name])
    version.save()
    version.charges.all().delete()
    version.plan_features.all().delete()
    version.one_time_fees.all().delete()
    audit_records.record_created(Charge.objects.bulk_create(
        Charge(
            plan_version=version,
            position=position,
            metric=charge["metric"],
            model=charge["model"],
            properties=charge["params"],
            included_units=charge["included_units"],
            minimum_amount=charge["minimum_amount"],
            maximum_amount=charge["maximum_amount"],
            timing=charge["timing"],
            description=charge["description"],
        )
        for position, charge in enumerate(content["charges"])
    ))
    audit_records.record_created(PlanFeature.objects.bulk_create(
        PlanFeature(
            plan_version=version,
            feature=line["feature"],
            limit=line.get("limit"),
            enabled=line.get("enabled"),
            value=line.get("value") or "",
            enforcement=line.get("enforcement") or PlanFeature.Enforcement.HARD,
        )
        for line in content["features"]
    ))
    audit_records.record_created(OneTimeFee.objects.bulk_create(
        OneTimeFee(plan_version=version, name=fee["name"], amount=fee["amount"]) for fee in content["one_time_fees"]
    ))
    # Drop any prefetched content so the caller reads what was just written.
    getattr(version, "_prefetched_objects_cache", {}).clear()


def _refuse_archived(plan: Plan, verb: str) -> None:
    if plan.archived_at is not None:
        raise Conflict(f"Plan {plan.code!r} is archived and cannot be {verb}; unarchive it first.")


def _create_unique(instance, field: str, message: str) -> None:
    """Insert ``instance``; a unique-constraint race becomes the same 400 the serializer gives."""
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
    except IntegrityError:
        model = type(instance)
        if model.objects.filter(merchant=instance.merchant, **{field: getattr(instance, field)}).exists():
            raise ValidationError({field: message})
        raise
