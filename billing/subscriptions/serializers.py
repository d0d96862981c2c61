"""Input and output shapes of the subscriptions API."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.subscriptions import selectors, services
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import CALENDAR_RANGE_ERROR, in_calendar_range


@extend_schema_field(OpenApiTypes.STR)
class StartDateField(serializers.Field):
    """A date (local midnight in the merchant's time zone) or a full ISO 8601 datetime."""

    def to_internal_value(self, data):
        if isinstance(data, str) and len(data.strip()) == 10:
            value = serializers.DateField().to_internal_value(data)
        else:
            try:
                value = serializers.DateTimeField().to_internal_value(data)
            except serializers.ValidationError:
                raise serializers.ValidationError("must be a date (2025-08-10) or an ISO 8601 datetime")
        if not in_calendar_range(value):
            raise serializers.ValidationError(CALENDAR_RANGE_ERROR)
        return value


class SubscriptionInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    customer = serializers.CharField(max_length=255)
    plan = serializers.CharField(max_length=100)
    plan_version = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1)
    start_date = StartDateField()
    billing_anchor = serializers.ChoiceField(
        choices=Subscription.Anchor.choices, required=False, default=Subscription.Anchor.CALENDAR
    )
    trial_days = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=3650)
    overrides = serializers.JSONField(required=False, allow_null=True)

    def validate_external_id(self, value: str) -> str:
        value = value.strip()
        if not value or "/" in value:
            raise serializers.ValidationError("must be a non-empty id without '/'")
        return value


class SubscriptionImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    dry_run = serializers.BooleanField(required=False, default=False)


class SubscriptionImportResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    changes = serializers.ListField(child=serializers.DictField(), required=False)
    changes_truncated = serializers.BooleanField(required=False)


class ChangePlanSerializer(serializers.Serializer):
    plan = serializers.CharField(max_length=100)
    plan_version = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1)
    effective = serializers.ChoiceField(choices=services.EFFECTIVE, required=False, default=services.PERIOD_END)
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True)
    overrides = serializers.JSONField(required=False, allow_null=True)

    def validate_external_id(self, value):
        if value is not None and (not value.strip() or "/" in value):
            raise serializers.ValidationError("must be a non-empty id without '/'")
        return value.strip() if value else value


class CancelSerializer(serializers.Serializer):
    effective = serializers.ChoiceField(choices=services.EFFECTIVE, required=False, default=services.PERIOD_END)


class SubscriptionOutputSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    plan = serializers.CharField(source="plan_version.plan.code")
    plan_version = serializers.IntegerField(source="plan_version.version")
    currency = serializers.CharField(source="plan_version.currency")
    interval = serializers.CharField(source="plan_version.interval")
    interval_count = serializers.IntegerField(source="plan_version.interval_count")
    status = serializers.SerializerMethodField()
    previous = serializers.SerializerMethodField()
    next = serializers.SerializerMethodField()
    current_period_start = serializers.SerializerMethodField()
    current_period_end = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "id",
            "external_id",
            "customer",
            "plan",
            "plan_version",
            "currency",
            "interval",
            "interval_count",
            "status",
            "started_at",
            "ends_at",
            "trial_ends_at",
            "canceled_at",
            "billing_anchor",
            "billing_day",
            "timezone",
            "overrides",
            "previous",
            "next",
            "current_period_start",
            "current_period_end",
            "created_at",
        ]

    def _at(self):
        return self.context.get("at") or timezone.now()

    def _period(self, obj):
        cache = self.context.setdefault("_periods", {})
        if obj.pk not in cache:
            cache[obj.pk] = selectors.subscription_period_at(obj, self._at())
        return cache[obj.pk]

    def get_status(self, obj) -> str:
        return selectors.subscription_status(obj, self._at())

    def get_previous(self, obj) -> str | None:
        return obj.previous.external_id if obj.previous_id else None

    def get_next(self, obj) -> str | None:
        following = Subscription.objects.filter(previous_id=obj.pk).values_list("external_id", flat=True).first()
        return following

    def get_current_period_start(self, obj) -> str | None:
        period = self._period(obj)
        return period.start.isoformat().replace("+00:00", "Z") if period else None

    def get_current_period_end(self, obj) -> str | None:
        period = self._period(obj)
        return period.end.isoformat().replace("+00:00", "Z") if period else None
