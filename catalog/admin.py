"""Admin for the catalog. Published plan versions are read-only here as everywhere (SPEC §2)."""

from django import forms
from django.contrib import admin, messages
from rest_framework.exceptions import APIException

from atlas.admin import MerchantOwnedAdmin
from catalog import rating, services
from catalog.models import Charge, Feature, Metric, OneTimeFee, Plan, PlanFeature, PlanVersion


def _api_message(exc: APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return "; ".join(
            f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}" for key, value in detail.items()
        )
    return str(detail)


@admin.register(Metric)
class MetricAdmin(MerchantOwnedAdmin):
    list_display = ("code", "name", "merchant", "aggregation", "field", "period", "created_at")
    list_filter = ("merchant", "aggregation", "period")
    search_fields = ("code", "name")


class FeatureForm(forms.ModelForm):
    class Meta:
        model = Feature
        fields = (
            "merchant",
            "key",
            "name",
            "description",
            "kind",
            "metric",
            "default_limit",
            "default_enabled",
            "default_value",
        )

    def clean(self):
        data = super().clean()
        metric, merchant = data.get("metric"), data.get("merchant")
        if metric is not None and merchant is not None and metric.merchant_id != merchant.pk:
            raise forms.ValidationError({"metric": "This metric belongs to another merchant."})
        return data


@admin.register(Feature)
class FeatureAdmin(MerchantOwnedAdmin):
    form = FeatureForm
    list_display = ("key", "name", "merchant", "kind", "metric", "default_limit")
    list_filter = ("merchant", "kind")
    search_fields = ("key", "name")
    raw_id_fields = ("metric",)


class PlanVersionInline(admin.TabularInline):
    model = PlanVersion
    fields = ("version", "status", "currency", "interval", "base_fee", "published_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Plan)
class PlanAdmin(MerchantOwnedAdmin):
    list_display = ("code", "name", "merchant", "archived_at", "created_at")
    list_filter = ("merchant", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("code", "name")
    inlines = [PlanVersionInline]
    actions = ["archive", "unarchive"]

    @admin.action(description="Archive: accept no new subscriptions")
    def archive(self, request, queryset):
        for plan in queryset:
            services.plan_archive(plan=plan)

    @admin.action(description="Unarchive")
    def unarchive(self, request, queryset):
        for plan in queryset:
            services.plan_unarchive(plan=plan)


class ChargeForm(forms.ModelForm):
    class Meta:
        model = Charge
        fields = (
            "position",
            "metric",
            "model",
            "properties",
            "included_units",
            "minimum_amount",
            "maximum_amount",
            "timing",
            "description",
        )

    def clean(self):
        """The same parameter rules as the API: the rating engine validates, with the metric's group_by."""
        data = super().clean()
        metric, version = data.get("metric"), self.instance.plan_version if self.instance.plan_version_id else None
        version = version or getattr(self, "parent_version", None)
        if metric is None or not data.get("model"):
            return data
        if version is not None and metric.merchant_id != version.merchant_id:
            raise forms.ValidationError({"metric": "This metric belongs to another merchant."})
        try:
            rating.validate_charge(
                model=data["model"],
                params=data.get("properties") or {},
                currency=version.currency if version else "USD",
                included_units=data.get("included_units"),
                minimum_amount=data.get("minimum_amount"),
                maximum_amount=data.get("maximum_amount"),
                group_by=list(metric.group_by),
            )
        except rating.ChargeParamsError as exc:
            raise forms.ValidationError("; ".join(f"{key}: {reason}" for key, reason in exc.errors.items()))
        return data


class _VersionContentInline(admin.TabularInline):
    """Lines of a version: editable on a draft, read-only once published."""

    extra = 0

    def _published(self, obj) -> bool:
        return obj is not None and obj.is_published

    def has_add_permission(self, request, obj=None):
        return not self._published(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._published(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._published(obj) and super().has_delete_permission(request, obj)


class ChargeInline(_VersionContentInline):
    model = Charge
    form = ChargeForm
    fields = (
        "position",
        "metric",
        "model",
        "properties",
        "included_units",
        "minimum_amount",
        "maximum_amount",
        "timing",
        "description",
    )
    raw_id_fields = ("metric",)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type("BoundChargeForm", (formset.form,), {"parent_version": obj})
        return formset


class PlanFeatureInline(_VersionContentInline):
    model = PlanFeature
    fields = ("feature", "limit", "enabled", "value", "enforcement")
    raw_id_fields = ("feature",)


class OneTimeFeeInline(_VersionContentInline):
    model = OneTimeFee
    fields = ("name", "amount")


@admin.register(PlanVersion)
class PlanVersionAdmin(MerchantOwnedAdmin):
    list_display = ("plan", "version", "status", "merchant", "currency", "interval", "base_fee", "published_at")
    list_filter = ("merchant", "status", "interval", "currency")
    list_select_related = ("merchant", "plan")
    search_fields = ("plan__code", "plan__name")
    readonly_fields = ("merchant", "plan", "version", "status", "published_at", "created_at")
    inlines = [ChargeInline, PlanFeatureInline, OneTimeFeeInline]
    actions = ["publish"]

    def has_change_permission(self, request, obj=None):
        # A published version is shown, never saved: the admin cannot bypass immutability.
        if obj is not None and obj.is_published:
            return False
        return super().has_change_permission(request, obj)

    def has_add_permission(self, request):
        return False  # versions come from the API's lifecycle (create plan, POST /plans/{code}/versions)

    @admin.action(description="Publish the selected drafts")
    def publish(self, request, queryset):
        for version in queryset.select_related("plan"):
            if version.is_published:
                continue
            try:
                services.plan_publish(plan=version.plan)
            except APIException as exc:
                self.message_user(request, f"{version}: {_api_message(exc)}", level=messages.ERROR)
            else:
                self.message_user(request, f"{version} published.")


class _VersionLineAdmin(admin.ModelAdmin):
    """Lines across versions, for searching ("which plans charge for this metric?"); edit them on the version."""

    list_select_related = ("plan_version__plan", "plan_version__merchant")
    show_full_result_count = False

    @admin.display(description="merchant", ordering="plan_version__merchant__name")
    def merchant(self, obj):
        return obj.plan_version.merchant

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Charge)
class ChargeAdmin(_VersionLineAdmin):
    list_display = ("plan_version", "metric", "model", "included_units", "timing", "merchant")
    list_filter = ("plan_version__merchant", "model", "timing", "plan_version__status")
    search_fields = ("metric__code", "plan_version__plan__code")
    list_select_related = ("metric", *_VersionLineAdmin.list_select_related)


@admin.register(PlanFeature)
class PlanFeatureAdmin(_VersionLineAdmin):
    list_display = ("plan_version", "feature", "limit", "enabled", "value", "enforcement", "merchant")
    list_filter = ("plan_version__merchant", "enforcement", "plan_version__status")
    search_fields = ("feature__key", "plan_version__plan__code")
    list_select_related = ("feature", *_VersionLineAdmin.list_select_related)


@admin.register(OneTimeFee)
class OneTimeFeeAdmin(_VersionLineAdmin):
    list_display = ("plan_version", "name", "amount", "merchant")
    list_filter = ("plan_version__merchant", "plan_version__status")
    search_fields = ("name", "plan_version__plan__code")
