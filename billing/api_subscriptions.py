"""REST routes for subscriptions.

- ``POST/GET /subscriptions`` (list filters: ``customer``, ``plan``, ``active_at``),
  ``GET /subscriptions/{external_id}`` (``?at=`` shows the period and status at that instant; default now)
- ``POST /subscriptions/{external_id}/change_plan`` ``{plan, plan_version?, effective?, external_id?, overrides?}``
- ``POST /subscriptions/{external_id}/cancel`` ``{effective?}``
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.routers import Router
from atlas.api.viewsets import MerchantViewSet
from billing import subscriptions as services
from billing.models import Subscription


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
        if not 2000 <= value.year <= 2999:  # the period calendar's range, with room to compute boundaries
            raise serializers.ValidationError("must be between the years 2000 and 2999")
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
            cache[obj.pk] = services.subscription_period_at(obj, self._at())
        return cache[obj.pk]

    def get_status(self, obj) -> str:
        return services.subscription_status(obj, self._at())

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


def _instant(request, name: str):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return serializers.DateTimeField().to_internal_value(raw)
    except serializers.ValidationError as exc:
        raise ValidationError({name: exc.detail})


class SubscriptionViewSet(MerchantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    queryset = Subscription.objects.select_related("customer", "plan_version__plan", "previous")
    serializer_class = SubscriptionOutputSerializer
    lookup_field = "external_id"

    def get_base_queryset(self):
        queryset = self.queryset.all()
        if self.action != "list":
            return queryset
        params = self.request.query_params
        if params.get("customer"):
            queryset = queryset.filter(customer__external_id=params["customer"])
        if params.get("plan"):
            queryset = queryset.filter(plan_version__plan__code=params["plan"])
        active_at = _instant(self.request, "active_at")
        if active_at is not None:
            queryset = queryset.filter(services.active_filter(active_at))
        return queryset

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["at"] = _instant(self.request, "at")
        return context

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", str),
            OpenApiParameter("plan", str),
            OpenApiParameter("active_at", str),
            OpenApiParameter("at", str),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[OpenApiParameter("at", str, description="Status and period at this instant.")])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def _show(self, subscription, code=status.HTTP_200_OK):
        subscription = self.queryset.get(pk=subscription.pk)
        return Response(self.get_serializer(subscription).data, status=code)

    @extend_schema(request=SubscriptionInputSerializer, responses={201: SubscriptionOutputSerializer})
    def create(self, request):
        serializer = SubscriptionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = services.subscription_create(merchant=self.merchant, **serializer.validated_data)
        return self._show(subscription, status.HTTP_201_CREATED)

    @extend_schema(request=ChangePlanSerializer, responses={201: SubscriptionOutputSerializer})
    @action(detail=True, methods=["post"])
    def change_plan(self, request, external_id=None):
        """Returns the new subscription (201); the old one ends where it starts."""
        subscription = self.get_object()
        serializer = ChangePlanSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new = services.subscription_change_plan(subscription=subscription, **serializer.validated_data)
        return self._show(new, status.HTTP_201_CREATED)

    @extend_schema(request=CancelSerializer, responses=SubscriptionOutputSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, external_id=None):
        subscription = self.get_object()
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = services.subscription_cancel(subscription=subscription, **serializer.validated_data)
        return self._show(subscription)


router = Router()
router.register("subscriptions", SubscriptionViewSet, basename="subscription")

urlpatterns = router.urls
