"""Reads of the catalog: plans and their versions, and what a published plan freezes."""

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from rest_framework.exceptions import NotFound, ValidationError

from atlas.models import Merchant
from catalog.models import Charge, Feature, Metric, OneTimeFee, Plan, PlanFeature, PlanVersion

PUBLISHED = PlanVersion.Status.PUBLISHED


def plan_version_content_prefetch() -> list:
    """What rendering or copying a version reads, in four queries whatever the number of lines."""
    return [
        Prefetch("charges", queryset=Charge.objects.select_related("metric").order_by("position", "pk")),
        Prefetch("plan_features", queryset=PlanFeature.objects.select_related("feature").order_by("pk")),
        Prefetch("one_time_fees", queryset=OneTimeFee.objects.order_by("pk")),
    ]


def plans_with_versions(queryset: QuerySet) -> QuerySet:
    """Plans with every version and its content prefetched (for lists and detail pages)."""
    versions = PlanVersion.objects.order_by("version").prefetch_related(*plan_version_content_prefetch())
    return queryset.prefetch_related(Prefetch("versions", queryset=versions))


def plan_version_latest(*, plan: Plan) -> PlanVersion:
    """The newest version: the draft when there is one (a draft is always the newest)."""
    prefetched = getattr(plan, "_prefetched_objects_cache", {}).get("versions")
    if prefetched is not None:
        return max(prefetched, key=lambda version: version.version)
    return plan.versions.order_by("-version").first()


def plan_version_get(*, plan: Plan, version: int | None = None) -> PlanVersion:
    """One version of a plan (the latest without ``version``); 404 for a version that does not exist."""
    if version is None:
        return plan_version_latest(plan=plan)
    prefetched = getattr(plan, "_prefetched_objects_cache", {}).get("versions")
    if prefetched is not None:
        found = next((candidate for candidate in prefetched if candidate.version == version), None)
    else:
        found = plan.versions.filter(version=version).first()
    if found is None:
        raise NotFound(f"Plan {plan.code!r} has no version {version}.")
    return found


def plan_version_for_subscription(*, merchant: Merchant, plan_code: str, version: int | None = None) -> PlanVersion:
    """The plan version a new subscription may start on.

    Only published versions of plans that are not archived accept new subscriptions. Without
    ``version`` it is the newest published version; an older published version may be named
    explicitly. Anything else is a 400 on the ``plan`` field.
    """
    plan = Plan.objects.filter(merchant=merchant, code=plan_code).first()
    if plan is None:
        raise ValidationError({"plan": f"no plan with code {plan_code!r}"})
    if plan.archived_at is not None:
        raise ValidationError({"plan": f"plan {plan_code!r} is archived and accepts no new subscriptions"})
    versions = plan.versions.filter(status=PUBLISHED)
    if version is None:
        found = versions.order_by("-version").first()
        if found is None:
            raise ValidationError({"plan": f"plan {plan_code!r} has no published version yet (publish its draft)"})
        return found
    found = plan.versions.filter(version=version).first()
    if found is None:
        raise ValidationError({"plan": f"plan {plan_code!r} has no version {version}"})
    if not found.is_published:
        raise ValidationError({"plan": f"version {version} of plan {plan_code!r} is a draft; publish it first"})
    return found


def metric_in_published_use(*, metric: Metric) -> bool:
    """Whether a published plan version prices this metric or limits a feature measured by it."""
    return (
        Charge.objects.filter(metric=metric, plan_version__status=PUBLISHED).exists()
        or PlanFeature.objects.filter(feature__metric=metric, plan_version__status=PUBLISHED).exists()
    )


def feature_in_published_use(*, feature: Feature) -> bool:
    return PlanFeature.objects.filter(feature=feature, plan_version__status=PUBLISHED).exists()


def plans_with_subscribers(queryset: QuerySet, *, at: datetime) -> QuerySet:
    """:func:`plans_with_versions` with each version's active subscriptions counted at ``at``.

    Each version carries ``active_subscriptions`` (started at or before ``at``, not ended by then: the
    billing app's ``active_filter``), counted in the versions' own query, so a list of plans costs no
    more queries than without the counts. The subscriptions are reached by their relation name only:
    the catalog does not import the billing app (dependencies point billing → catalog).
    """
    active = Q(subscriptions__started_at__lte=at) & (
        Q(subscriptions__ends_at__isnull=True) | Q(subscriptions__ends_at__gt=at)
    )
    versions = (
        PlanVersion.objects.order_by("version")
        .annotate(active_subscriptions=Count("subscriptions", filter=active))
        .prefetch_related(*plan_version_content_prefetch())
    )
    return queryset.prefetch_related(Prefetch("versions", queryset=versions))


def _version_label(code: str, version: int, status: str) -> dict:
    return {"plan": code, "version": version, "published": status == PUBLISHED}


def _add_use(uses: dict, key: int, code: str, version: int, status: str) -> None:
    entry = _version_label(code, version, status)
    if entry not in uses[key]:
        uses[key].append(entry)


def metrics_usage(*, merchant: Merchant) -> dict[int, list[dict]]:
    """Per metric pk, the plan versions that depend on it: they charge it or limit a feature it measures.

    Each use is ``{"plan": code, "version": n, "published": bool}``, sorted by plan and version; two
    queries for the whole catalog. A metric with a published use has its definition frozen
    (``catalog.services.metric_update``).
    """
    uses: dict[int, list[dict]] = defaultdict(list)
    columns = ("plan_version__plan__code", "plan_version__version", "plan_version__status")
    for metric_id, *version in Charge.objects.filter(plan_version__merchant=merchant).values_list(
        "metric_id", *columns
    ):
        _add_use(uses, metric_id, *version)
    lines = PlanFeature.objects.filter(plan_version__merchant=merchant, feature__metric__isnull=False)
    for metric_id, *version in lines.values_list("feature__metric_id", *columns):
        _add_use(uses, metric_id, *version)
    for entries in uses.values():
        entries.sort(key=lambda entry: (entry["plan"], entry["version"]))
    return dict(uses)


def features_usage(*, merchant: Merchant) -> dict[int, list[dict]]:
    """Per feature pk, the plan versions that set it (as :func:`metrics_usage`); one query."""
    uses: dict[int, list[dict]] = defaultdict(list)
    lines = PlanFeature.objects.filter(plan_version__merchant=merchant).order_by(
        "plan_version__plan__code", "plan_version__version"
    )
    for feature_id, *version in lines.values_list(
        "feature_id", "plan_version__plan__code", "plan_version__version", "plan_version__status"
    ):
        _add_use(uses, feature_id, *version)
    return dict(uses)
