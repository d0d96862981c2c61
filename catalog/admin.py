"""Admin for the catalog: read-only (SPEC §2; docs/admin in atlas/admin.py).

Metrics, features and plans change in the cockpit or the API, through ``catalog.services`` (a metric priced
by a published plan keeps its definition, a draft is validated as a whole, a published version never
changes). Here they are read, searched and filtered; archiving and publishing are actions calling those
same services.
"""

from django.contrib import admin, messages
from rest_framework.exceptions import APIException

from atlas.admin import ReadOnlyAdmin, ReadOnlyInline, ReadOnlyMerchantOwnedAdmin
from catalog import services
from catalog.models import Charge, Feature, Metric, OneTimeFee, Plan, PlanFeature, PlanVersion


def _api_message(exc: APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return "; ".join(
            f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}" for key, value in detail.items()
        )
    return str(detail)


@admin.register(Metric)
class MetricAdmin(ReadOnlyMerchantOwnedAdmin):
    list_display = ("code", "name", "merchant", "aggregation", "period")
    list_filter = ("merchant", "aggregation", "period")
    search_fields = ("code", "name")


@admin.register(Feature)
class FeatureAdmin(ReadOnlyMerchantOwnedAdmin):
    list_display = ("key", "name", "merchant", "kind", "metric", "default_limit")
    list_select_related = ("merchant", "metric")
    list_filter = ("merchant", "kind")
    search_fields = ("key", "name")


class PlanVersionInline(ReadOnlyInline):
    model = PlanVersion
    fields = ("version", "status", "currency", "interval", "base_fee", "published_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Plan)
class PlanAdmin(ReadOnlyMerchantOwnedAdmin):
    list_display = ("code", "name", "merchant", "archived_at", "created_at")
    list_filter = ("merchant", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("code", "name")
    inlines = [PlanVersionInline]
    actions = ["archive", "unarchive"]

    @admin.action(description="Archive: accept no new subscriptions")
    def archive(self, request, queryset):
        for plan in queryset.order_by("pk"):
            services.plan_archive(plan=plan)

    @admin.action(description="Unarchive")
    def unarchive(self, request, queryset):
        for plan in queryset.order_by("pk"):
            services.plan_unarchive(plan=plan)


class ChargeInline(ReadOnlyInline):
    model = Charge
    fields = ("position", "metric", "model", "properties", "included_units", "minimum_amount", "maximum_amount",
              "timing", "description")  # fmt: skip
    readonly_fields = fields


class PlanFeatureInline(ReadOnlyInline):
    model = PlanFeature
    fields = ("feature", "limit", "enabled", "value", "enforcement")
    readonly_fields = fields


class OneTimeFeeInline(ReadOnlyInline):
    model = OneTimeFee
    fields = ("name", "amount")
    readonly_fields = fields


@admin.register(PlanVersion)
class PlanVersionAdmin(ReadOnlyMerchantOwnedAdmin):
    """Drafts are edited in the cockpit or with ``PATCH /plans/{code}`` (validated as a whole there)."""

    list_display = ("plan", "version", "status", "merchant", "currency", "base_fee", "published_at")
    list_filter = ("merchant", "status", "interval", "currency")
    list_select_related = ("merchant", "plan")
    search_fields = ("plan__code", "plan__name")
    inlines = [ChargeInline, PlanFeatureInline, OneTimeFeeInline]
    actions = ["publish"]

    @admin.action(description="Publish the selected drafts")
    def publish(self, request, queryset):
        for version in queryset.select_related("plan").order_by("pk"):
            if version.is_published:
                continue
            try:
                services.plan_publish(plan=version.plan)
            except APIException as exc:
                self.message_user(request, f"{version}: {_api_message(exc)}", level=messages.ERROR)
            else:
                self.message_user(request, f"{version} published.")


class _VersionLineAdmin(ReadOnlyAdmin):
    """Lines across versions, for searching ("which plans charge for this metric?")."""

    list_select_related = ("plan_version__plan", "plan_version__merchant")
    show_full_result_count = False

    @admin.display(description="merchant", ordering="plan_version__merchant__name")
    def merchant(self, obj):
        return obj.plan_version.merchant


@admin.register(Charge)
class ChargeAdmin(_VersionLineAdmin):
    list_display = ("plan_version", "metric", "model", "included_units", "timing", "merchant")
    list_filter = ("plan_version__merchant", "model", "timing", "plan_version__status")
    search_fields = ("metric__code", "plan_version__plan__code")
    list_select_related = ("metric", *_VersionLineAdmin.list_select_related)


@admin.register(PlanFeature)
class PlanFeatureAdmin(_VersionLineAdmin):
    list_display = ("plan_version", "feature", "limit", "enabled", "enforcement", "merchant")
    list_filter = ("plan_version__merchant", "enforcement", "plan_version__status")
    search_fields = ("feature__key", "plan_version__plan__code")
    list_select_related = ("feature", *_VersionLineAdmin.list_select_related)


@admin.register(OneTimeFee)
class OneTimeFeeAdmin(_VersionLineAdmin):
    list_display = ("plan_version", "name", "amount", "merchant")
    list_filter = ("plan_version__merchant", "plan_version__status")
    search_fields = ("name", "plan_version__plan__code")
